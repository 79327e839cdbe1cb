"""Converters: each raw shape into the canonical frame (bad records rejected, never a crash) and back again."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import phonenumbers
import pytest

from contact_sync.crms.dynamics.convert import canonical_to_dynamics, dynamics_to_canonical
from contact_sync.crms.salesforce.convert import canonical_to_salesforce, salesforce_to_canonical
from contact_sync.sync.columns import ConversionError
from contact_sync.sync.convert import canonical_to_genesys, genesys_to_canonical
from contact_sync.sync.policy import DEFAULT_POLICY_PATH, load_policy, parse_policy
from contact_sync.sync.schema import CANONICAL_COLUMNS, CanonicalContact, RejectedRecord

POLICY = load_policy()
SOURCE = {"id": "6f7a1c2e-0000-4000-8000-00000000000a", "name": "Salesforce"}
ORGS = {"org-1": "001000000000001AAA", "org-2": "001000000000002AAA"}
T0 = "2026-01-02T03:04:05.000+0000"
T1 = "2026-01-03T03:04:05.000+0000"
T2 = "2026-01-04T03:04:05.000+0000"


def sf_row(record_id: str = "003000000000001AAA", **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "attributes": {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{record_id}"},
        "Id": record_id,
        "FirstName": "Zoë",
        "LastName": "Ångström",
        "Email": " Zoe@Example.COM ",
        "Phone": "(317) 555-7000",
        "AccountId": "001000000000001AAA",
        "LeadScore__c": 42.0,
        "Tags__c": "vip; gold",
        "CreatedDate": T0,
        "LastModifiedDate": T1,
        "SystemModstamp": T2,
        "IsDeleted": False,
        "MasterRecordId": None,
    }
    row.update(overrides)
    return row


def genesys_contact(contact_id: str = "g-1", **overrides: Any) -> dict[str, Any]:
    contact: dict[str, Any] = {
        "id": contact_id,
        "firstName": "Ann",
        "lastName": "Lee",
        "workEmail": "ann@example.com",
        "workPhone": {"display": "+1 317-555-7000", "e164": "+13175557000", "userInput": "(317) 555-7000"},
        "externalOrganization": {"id": "org-1", "selfUri": "/api/v2/externalcontacts/organizations/org-1"},
        "customFields": {"leadScore": 12, "tags": ["vip", "gold"]},
        "externalIds": [{"externalSource": dict(SOURCE), "value": "003000000000001AAA"}],
        "createDate": "2026-01-01T00:00:00.000Z",
        "modifyDate": "2026-01-05T00:00:00.000Z",
        "type": "Curated",
    }
    contact.update(overrides)
    return contact


def dynamics_row(contact_id: str = "7d0c3c1e-0000-4000-8000-000000000001", **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "@odata.etag": 'W/"1234567"',
        "contactid": contact_id,
        "firstname": "José",
        "lastname": "Núñez",
        "emailaddress1": "jose@example.com",
        "telephone1": "317.555.7000",
        "_parentcustomerid_value": "a1b2c3d4-0000-4000-8000-000000000001",
        "modifiedon": "2026-01-02T03:04:05Z",
        "createdon": "2026-01-01T00:00:00Z",
        "statecode": 0,
    }
    row.update(overrides)
    return row


def one(frame: pd.DataFrame, record_id: str) -> dict[str, Any]:
    rows = frame[frame["record_id"] == record_id]
    assert len(rows) == 1, rows
    return {k: (None if v is pd.NA or v is pd.NaT else v) for k, v in rows.iloc[0].to_dict().items()}


def reasons(frame: pd.DataFrame, record_id: str | None) -> str:
    picked = frame[frame["record_id"].isna()] if record_id is None else frame[frame["record_id"] == record_id]
    return " | ".join(picked["reason"].tolist())


# --- Salesforce ---------------------------------------------------------------------------------------------------


def test_salesforce_rest_records() -> None:
    result = salesforce_to_canonical([sf_row()])
    CanonicalContact.validate(result.frame)
    assert list(result.frame.columns) == list(CANONICAL_COLUMNS)
    row = one(result.frame, "003000000000001AAA")
    assert row == {
        "system": "salesforce",
        "record_id": "003000000000001AAA",
        "crm_id": "003000000000001AAA",
        "first_name": "Zoë",
        "last_name": "Ångström",
        "email": " Zoe@Example.COM ",  # as stored, never rewritten
        "phone": "(317) 555-7000",
        "phone_e164": "+13175557000",
        "account_id": "001000000000001AAA",
        "lead_score": 42.0,
        "tags": "gold;vip",
        "created_at": pd.Timestamp("2026-01-02T03:04:05Z"),
        "modified_at": pd.Timestamp("2026-01-03T03:04:05Z"),  # LastModifiedDate, not SystemModstamp
        "is_deleted": False,
        "merged_into": None,
    }
    assert result.rejected.empty and result.warnings.empty


def test_salesforce_modify_stamp_falls_back_to_system_modstamp() -> None:
    result = salesforce_to_canonical([sf_row("003A00000000000", LastModifiedDate=None), sf_row("003B00000000000")])
    assert one(result.frame, "003A00000000000")["modified_at"] == pd.Timestamp(T2.replace("+0000", "Z"))
    no_column = [{k: v for k, v in sf_row("003C00000000000").items() if k != "LastModifiedDate"}]
    assert one(salesforce_to_canonical(no_column).frame, "003C00000000000")["modified_at"] == pd.Timestamp(
        "2026-01-04T03:04:05Z"
    )


def test_salesforce_bulk_csv_rows_read_like_rest_records() -> None:
    rest = [
        sf_row("003A00000000000"),
        sf_row("003B00000000000", FirstName=None, LeadScore__c=None, Tags__c=None, IsDeleted=True),
    ]
    csv_rows = pd.DataFrame(
        [
            {k: ("" if v is None else str(v).lower() if isinstance(v, bool) else str(v)) for k, v in r.items()}
            for r in rest
        ]
    ).drop(columns="attributes")
    from_rest, from_csv = salesforce_to_canonical(rest), salesforce_to_canonical(csv_rows)
    pd.testing.assert_frame_equal(from_rest.frame, from_csv.frame)
    assert bool(one(from_csv.frame, "003B00000000000")["is_deleted"]) is True


def test_salesforce_deleted_and_merged_rows() -> None:
    rows = [
        sf_row("003LOSER0000000", IsDeleted=True, MasterRecordId="003WINNER000000", Email="not-an-email"),
        sf_row("003WINNER000000"),
    ]
    result = salesforce_to_canonical(rows)
    loser = one(result.frame, "003LOSER0000000")
    assert loser["is_deleted"] == True  # noqa: E712
    assert loser["merged_into"] == "003WINNER000000"
    assert result.rejected.empty  # a delete always gets through, even with a bad email


def test_salesforce_bad_records_are_rejected_with_reasons_and_the_rest_proceeds() -> None:
    rows = [
        sf_row("003GOOD00000000"),
        sf_row(None),
        sf_row(""),
        sf_row("003NOSTAMP00000", LastModifiedDate=None, SystemModstamp=None),
        sf_row("003BADSTAMP0000", LastModifiedDate="yesterday"),
        sf_row("003BADEMAIL0000", Email="ann.example.com"),
        sf_row("003TWOATS000000", Email="ann@@example.com"),
        sf_row("003BADSCORE0000", LeadScore__c="hot"),
        sf_row("003DICT00000000", LastName={"nested": True}),
        sf_row("003LIST00000000", Email=["a@b.c"]),
        sf_row("003BADFLAG00000", IsDeleted="maybe"),
    ]
    result = salesforce_to_canonical(rows)
    RejectedRecord.validate(result.rejected)
    assert result.frame["record_id"].tolist() == ["003GOOD00000000"]
    assert "Id is missing" in reasons(result.rejected, None)
    assert len(result.rejected[result.rejected["record_id"].isna()]) == 2
    assert "both missing" in reasons(result.rejected, "003NOSTAMP00000")
    assert "LastModifiedDate is not a timestamp: yesterday" in reasons(result.rejected, "003BADSTAMP0000")
    assert "Email is not a valid email address: ann.example.com" in reasons(result.rejected, "003BADEMAIL0000")
    assert "not a valid email" in reasons(result.rejected, "003TWOATS000000")
    assert "LeadScore__c is not a number: hot" in reasons(result.rejected, "003BADSCORE0000")
    assert "LastName is not text" in reasons(result.rejected, "003DICT00000000")
    assert "Email is not text" in reasons(result.rejected, "003LIST00000000")
    assert "IsDeleted is not true/false: maybe" in reasons(result.rejected, "003BADFLAG00000")
    # CRM rejections carry the CRM id, so the engine can hold the record's link
    assert result.rejected.set_index("record_id").loc["003BADEMAIL0000", "crm_id"] == "003BADEMAIL0000"


def test_salesforce_kept_records_with_problems_are_warned_about() -> None:
    long_name = "W" * 5000
    rows = [
        sf_row("003PHONE0000000", Phone="call reception"),
        sf_row("003SHORT0000000", Phone="555-1234"),
        sf_row("003CJK000000000", FirstName="小龍", LastName="李"),
        sf_row("003ARABIC000000", FirstName="محمد", LastName="العلي"),
        sf_row("003LONG00000000", LastName=long_name, Tags__c=";".join(f"t{i}" for i in range(500))),
    ]
    result = salesforce_to_canonical(rows)
    assert sorted(result.frame["record_id"]) == sorted(r["Id"] for r in rows)
    phone = one(result.frame, "003PHONE0000000")
    assert phone["phone"] == "call reception" and phone["phone_e164"] is None
    assert "Phone is not a valid phone number" in reasons(result.warnings, "003PHONE0000000")
    assert "555-1234" in reasons(result.warnings, "003SHORT0000000")
    assert one(result.frame, "003CJK000000000")["last_name"] == "李"
    assert one(result.frame, "003ARABIC000000")["first_name"] == "محمد"
    assert one(result.frame, "003LONG00000000")["last_name"] == long_name
    assert len(one(result.frame, "003LONG00000000")["tags"].split(";")) == 500
    assert set(result.warnings["record_id"]) == {"003PHONE0000000", "003SHORT0000000"}
    assert all(len(r) < 200 for r in result.warnings["reason"])  # values are shortened in reasons


def test_salesforce_duplicate_ids_keep_the_latest_copy() -> None:
    rows = [
        sf_row("003DUP000000000", FirstName="Newest", LastModifiedDate="2026-03-01T00:00:00.000+0000"),
        sf_row("003DUP000000000", FirstName="Oldest", LastModifiedDate="2026-01-01T00:00:00.000+0000"),
        sf_row("003TIE000000000", FirstName="First"),
        sf_row("003TIE000000000", FirstName="Second"),
        sf_row("003DUP000000000", FirstName="Middle", LastModifiedDate="2026-02-01T00:00:00.000+0000"),
    ]
    result = salesforce_to_canonical(rows)
    assert one(result.frame, "003DUP000000000")["first_name"] == "Newest"
    assert one(result.frame, "003TIE000000000")["first_name"] == "Second"  # a tie keeps the last one read
    dup_reasons = result.rejected[result.rejected["record_id"] == "003DUP000000000"]["reason"].tolist()
    assert len(dup_reasons) == 2
    assert all("duplicate Id" in r and "2026-03-01" in r for r in dup_reasons)
    assert len(result.rejected[result.rejected["record_id"] == "003TIE000000000"]) == 1


def test_salesforce_whole_input_problems_raise_clearly() -> None:
    with pytest.raises(ConversionError, match="LeadScore__c"):
        salesforce_to_canonical(pd.DataFrame([sf_row()]).drop(columns="LeadScore__c"))
    with pytest.raises(ConversionError, match="SystemModstamp"):
        salesforce_to_canonical(pd.DataFrame([sf_row()]).drop(columns=["LastModifiedDate", "SystemModstamp"]))
    # A row that is no object at all is one bad record, not a bad input.
    result = salesforce_to_canonical(["not a record", sf_row()])  # type: ignore[list-item]
    assert list(result.frame["record_id"]) == ["003000000000001AAA"]
    assert result.rejected["reason"].tolist() == ["not a JSON object"]
    assert salesforce_to_canonical([7]).rejected["reason"].tolist() == ["not a JSON object"]  # type: ignore[list-item]


def test_salesforce_empty_snapshot() -> None:
    for empty in ([], pd.DataFrame()):
        result = salesforce_to_canonical(empty)
        assert result.frame.empty
        CanonicalContact.validate(result.frame)


def test_salesforce_policy_field_names_are_used() -> None:
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace("Tags__c", "Labels__c")
    policy = parse_policy(text)
    row = sf_row()
    row["Labels__c"] = row.pop("Tags__c")
    assert one(salesforce_to_canonical([row], policy).frame, row["Id"])["tags"] == "gold;vip"


# --- Genesys ------------------------------------------------------------------------------------------------------


def test_genesys_contact() -> None:
    result = genesys_to_canonical([genesys_contact()], "Salesforce", ORGS)
    CanonicalContact.validate(result.frame)
    row = one(result.frame, "g-1")
    assert row == {
        "system": "genesys",
        "record_id": "g-1",
        "crm_id": "003000000000001AAA",
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.com",
        "phone": "+1 317-555-7000",
        "phone_e164": "+13175557000",
        "account_id": "001000000000001AAA",
        "lead_score": 12.0,
        "tags": "gold;vip",
        "created_at": pd.Timestamp("2026-01-01T00:00:00Z"),
        "modified_at": pd.Timestamp("2026-01-05T00:00:00Z"),
        "is_deleted": False,
        "merged_into": None,
    }
    assert result.rejected.empty and result.warnings.empty


def test_genesys_links_by_source_name_or_id_and_ignores_other_sources() -> None:
    other = {"externalSource": {"id": "other", "name": "HubSpot"}, "value": "hs-1"}
    contacts = [
        genesys_contact("g-name"),
        genesys_contact("g-id", externalIds=[{"externalSource": {"id": SOURCE["id"]}, "value": "003ID0000000000"}]),
        genesys_contact("g-other", externalIds=[other]),
        genesys_contact("g-none", externalIds=None),
        genesys_contact("g-junk", externalIds=["junk", {"externalSource": "x"}, {"externalSource": SOURCE}]),
    ]
    frame = genesys_to_canonical(contacts, "Salesforce", ORGS, crm_source_id=SOURCE["id"]).frame
    assert one(frame, "g-name")["crm_id"] == "003000000000001AAA"
    assert one(frame, "g-id")["crm_id"] == "003ID0000000000"
    assert one(frame, "g-other")["crm_id"] is None
    assert one(frame, "g-none")["crm_id"] is None
    assert one(frame, "g-junk")["crm_id"] is None
    assert one(genesys_to_canonical(contacts, "Salesforce", ORGS).frame, "g-id")["crm_id"] is None


def test_genesys_phone_tags_and_score_shapes() -> None:
    contacts = [
        genesys_contact("g-no-e164", workPhone={"display": "(317) 555-7000"}),
        genesys_contact("g-bad-e164", workPhone={"display": "317 555 7000", "e164": "13175557000"}),
        genesys_contact("g-nophone", workPhone=None),
        genesys_contact("g-tags-text", customFields={"tags": "b; a;b"}),
        genesys_contact("g-nocustom", customFields=None),
        genesys_contact("g-score-text", customFields={"leadScore": "7.5"}),
    ]
    frame = genesys_to_canonical(contacts, "Salesforce", ORGS).frame
    assert one(frame, "g-no-e164")["phone_e164"] == "+13175557000"
    assert one(frame, "g-bad-e164")["phone_e164"] == "+13175557000"
    assert one(frame, "g-nophone")["phone"] is None and one(frame, "g-nophone")["phone_e164"] is None
    assert one(frame, "g-tags-text")["tags"] == "a;b"
    nocustom = one(frame, "g-nocustom")
    assert nocustom["tags"] is None and math.isnan(nocustom["lead_score"])
    assert one(frame, "g-score-text")["lead_score"] == 7.5


@pytest.mark.parametrize("poison", [7, 2.5, True, {"a": 1}, ["vip", 3], ["a;b", "c,d"]])
def test_a_poison_tags_value_rejects_only_its_own_record(poison: Any) -> None:
    contacts = [
        genesys_contact("g-bad", customFields={"tags": poison}),
        genesys_contact("g-ok", customFields={"tags": ["vip"]}),
    ]
    result = genesys_to_canonical(contacts, "Salesforce", ORGS)
    assert list(result.frame["record_id"]) == ["g-ok"] and one(result.frame, "g-ok")["tags"] == "vip"
    assert reasons(result.rejected, "g-bad").startswith("customFields.tags ")
    crm = salesforce_to_canonical([sf_row("003000000000001AAA", Tags__c=poison), sf_row("003000000000002AAA")])
    if isinstance(poison, list) and all(isinstance(item, str) for item in poison):
        return  # a list is no Salesforce field value; a ";" inside a list item only matters on the Genesys side
    assert list(crm.frame["record_id"]) == ["003000000000002AAA"]
    assert reasons(crm.rejected, "003000000000001AAA").startswith("Tags__c ")


def test_genesys_kept_records_with_problems_are_warned_about() -> None:
    contacts = [
        genesys_contact("g-phone", workPhone={"display": "ask reception"}),
        genesys_contact("g-org", externalOrganization={"id": "org-unknown"}),
        genesys_contact("g-score", customFields={"leadScore": "very hot"}),
        genesys_contact("g-cjk", firstName="小龍", lastName="李"),
    ]
    result = genesys_to_canonical(contacts, "Salesforce", ORGS)
    assert set(result.frame["record_id"]) == {"g-phone", "g-org", "g-score", "g-cjk"}
    assert "workPhone.display is not a valid phone number" in reasons(result.warnings, "g-phone")
    assert one(result.frame, "g-org")["account_id"] is None
    assert "external organization org-unknown has no CRM account mapping" in reasons(result.warnings, "g-org")
    assert math.isnan(one(result.frame, "g-score")["lead_score"])
    assert "customFields.leadScore is not a number: very hot" in reasons(result.warnings, "g-score")
    assert one(result.frame, "g-cjk")["first_name"] == "小龍"
    assert result.rejected.empty


def test_genesys_bad_records_are_rejected() -> None:
    contacts: list[Any] = [
        genesys_contact("g-ok"),
        genesys_contact(None),
        genesys_contact("g-nodate", modifyDate=None),
        genesys_contact("g-baddate", modifyDate="soon"),
        genesys_contact("g-email", workEmail="no-at-sign"),
        genesys_contact("g-name", firstName=["A", "B"]),
        genesys_contact(
            "g-two-links",
            externalIds=[
                {"externalSource": SOURCE, "value": "003X00000000000"},
                {"externalSource": SOURCE, "value": "003Y00000000000"},
            ],
        ),
        "not an object",
        genesys_contact("g-dup", firstName="old", modifyDate="2026-01-01T00:00:00Z"),
        genesys_contact("g-dup", firstName="new", modifyDate="2026-02-01T00:00:00Z"),
    ]
    result = genesys_to_canonical(contacts, "Salesforce", ORGS)
    assert sorted(result.frame["record_id"]) == ["g-dup", "g-ok"]
    assert one(result.frame, "g-dup")["first_name"] == "new"
    assert "id is missing" in reasons(result.rejected, None)
    assert "modifyDate is missing" in reasons(result.rejected, "g-nodate")
    assert "modifyDate is not a timestamp: soon" in reasons(result.rejected, "g-baddate")
    assert "workEmail is not a valid email address" in reasons(result.rejected, "g-email")
    assert "firstName is not text" in reasons(result.rejected, "g-name")
    assert "not a JSON object" in " ".join(result.rejected["reason"])
    assert "duplicate id" in reasons(result.rejected, "g-dup")
    # a rejected Genesys contact names the CRM record(s) it claims, one row each
    claimed = result.rejected[result.rejected["record_id"] == "g-two-links"]
    assert sorted(claimed["crm_id"]) == ["003X00000000000", "003Y00000000000"]
    assert result.rejected.set_index("record_id").loc["g-email", "crm_id"] == "003000000000001AAA"
    RejectedRecord.validate(result.rejected)


def test_genesys_accepts_a_dataframe_and_empty_input() -> None:
    frame = pd.DataFrame([genesys_contact("g-1"), genesys_contact("g-2")])
    assert sorted(genesys_to_canonical(frame, "Salesforce", ORGS).frame["record_id"]) == ["g-1", "g-2"]
    empty = genesys_to_canonical([], "Salesforce", ORGS)
    assert empty.frame.empty and empty.rejected.empty
    CanonicalContact.validate(empty.frame)


# --- Dynamics -----------------------------------------------------------------------------------------------------


def test_dynamics_rows_including_inactive_and_deleted_entities() -> None:
    observed = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    rows = [
        dynamics_row("00000000-0000-4000-8000-000000000001"),
        dynamics_row("00000000-0000-4000-8000-000000000004", statecode=1),
        {
            "@odata.context": "https://org.crm.dynamics.com/api/data/v9.2/$metadata#contacts/$deletedEntity",
            "id": "00000000-0000-4000-8000-000000000003",
            "reason": "deleted",
        },
    ]
    result = dynamics_to_canonical(rows, observed_at=observed)
    CanonicalContact.validate(result.frame)
    row = one(result.frame, "00000000-0000-4000-8000-000000000001")
    assert (row["system"], row["crm_id"], row["first_name"], row["last_name"]) == (
        "dynamics",
        "00000000-0000-4000-8000-000000000001",
        "José",
        "Núñez",
    )
    assert row["phone"] == "317.555.7000" and row["phone_e164"] == "+13175557000"
    assert row["account_id"] == "a1b2c3d4-0000-4000-8000-000000000001"
    assert row["modified_at"] == pd.Timestamp("2026-01-02T03:04:05Z")
    assert math.isnan(row["lead_score"]) and row["tags"] is None  # not mapped for Dynamics by default
    assert row["is_deleted"] == False  # noqa: E712
    assert one(result.frame, "00000000-0000-4000-8000-000000000004")["is_deleted"] == True  # noqa: E712
    gone = one(result.frame, "00000000-0000-4000-8000-000000000003")
    assert gone["is_deleted"] == True and gone["modified_at"] == pd.Timestamp(observed)  # noqa: E712
    only_deletes = dynamics_to_canonical(rows[2:], observed_at=observed)
    assert only_deletes.frame["record_id"].tolist() == ["00000000-0000-4000-8000-000000000003"]


def test_dynamics_bad_rows() -> None:
    rows = [
        dynamics_row("00000000-0000-4000-8000-000000000006"),
        dynamics_row(None),
        dynamics_row("00000000-0000-4000-8000-000000000008", statecode=7),
        dynamics_row("00000000-0000-4000-8000-000000000005", modifiedon=None),
        dynamics_row("00000000-0000-4000-8000-000000000002", emailaddress1="jose at example.com"),
    ]
    result = dynamics_to_canonical(rows)
    assert result.frame["record_id"].tolist() == ["00000000-0000-4000-8000-000000000006"]
    assert "contactid is missing" in reasons(result.rejected, None)
    assert "statecode is not 0 or 1: 7" in reasons(result.rejected, "00000000-0000-4000-8000-000000000008")
    assert "modifiedon is missing" in reasons(result.rejected, "00000000-0000-4000-8000-000000000005")
    assert "emailaddress1 is not a valid email address" in reasons(
        result.rejected, "00000000-0000-4000-8000-000000000002"
    )


def test_dynamics_custom_lead_score_column_from_policy() -> None:
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
        "crm: {salesforce: LeadScore__c,", "crm: {salesforce: LeadScore__c, dynamics: new_leadscore,"
    )
    policy = parse_policy(text)
    assert (
        one(
            dynamics_to_canonical(
                [dynamics_row("00000000-0000-4000-8000-000000000001", new_leadscore=88)], policy
            ).frame,
            "00000000-0000-4000-8000-000000000001",
        )["lead_score"]
        == 88.0
    )
    with pytest.raises(ConversionError, match="new_leadscore"):
        dynamics_to_canonical([dynamics_row("00000000-0000-4000-8000-000000000001")], policy)


# --- writers and round trips ----------------------------------------------------------------------------------------

VALUES: dict[str, Any] = {
    "first_name": "Zoë",
    "last_name": "李",
    "email": "zoe@example.com",
    "phone": "(317) 555-7000",
    "account_id": "001000000000001AAA",
    "lead_score": 42.0,
    "tags": "gold;vip",
}


def test_canonical_to_salesforce() -> None:
    assert canonical_to_salesforce(VALUES, POLICY) == {
        "FirstName": "Zoë",
        "LastName": "李",
        "Email": "zoe@example.com",
        "Phone": "(317) 555-7000",
        "AccountId": "001000000000001AAA",
        "LeadScore__c": 42.0,
        "Tags__c": "gold;vip",
    }
    assert canonical_to_salesforce({"phone": pd.NA, "lead_score": float("nan"), "tags": None}) == {
        "Phone": None,
        "LeadScore__c": None,
        "Tags__c": None,
    }
    with pytest.raises(ValueError, match="middle_name"):
        canonical_to_salesforce({"middle_name": "x"}, POLICY)


def test_canonical_to_dynamics() -> None:
    assert canonical_to_dynamics(VALUES, POLICY) == {
        "firstname": "Zoë",
        "lastname": "李",
        "emailaddress1": "zoe@example.com",
        "telephone1": "(317) 555-7000",
        "parentcustomerid_account@odata.bind": "/accounts(001000000000001AAA)",
    }
    assert canonical_to_dynamics({"account_id": None}, POLICY) == {"parentcustomerid_account@odata.bind": None}


def test_canonical_to_genesys() -> None:
    body = canonical_to_genesys(VALUES, POLICY, crm_source=SOURCE, crm_id="003000000000001AAA")
    assert body == {
        "firstName": "Zoë",
        "lastName": "李",
        "workEmail": "zoe@example.com",
        "workPhone": {"display": "(317) 555-7000"},
        "customFields": {"leadScore": 42.0, "tags": ["gold", "vip"]},
        "externalIds": [{"externalSource": {"id": SOURCE["id"]}, "value": "003000000000001AAA"}],
    }
    assert canonical_to_genesys({"phone": None, "tags": None}, POLICY) == {
        "workPhone": None,
        "customFields": {"tags": None},
    }
    with pytest.raises(ValueError, match="external source"):
        canonical_to_genesys({"first_name": "A"}, POLICY, crm_id="003X00000000000")


def _fields(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in ("first_name", "last_name", "email", "account_id", "lead_score", "tags")}


def test_round_trip_salesforce() -> None:
    stored = {"Id": "003RT0000000000", "LastModifiedDate": T1, **canonical_to_salesforce(VALUES, POLICY)}
    row = one(salesforce_to_canonical([stored]).frame, "003RT0000000000")
    assert _fields(row) == _fields(VALUES)
    assert row["phone"] == VALUES["phone"] and row["phone_e164"] == "+13175557000"


def _genesys_stores(body: dict[str, Any], contact_id: str) -> dict[str, Any]:
    """What the service keeps: phones parsed (display rewritten, e164 set), source names filled in, dates set."""
    stored = {"id": contact_id, "modifyDate": "2026-01-05T00:00:00.000Z", **body}
    phone = stored.get("workPhone")
    if phone:
        number = phonenumbers.parse(phone["display"], "US")
        stored["workPhone"] = {
            "display": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
            "e164": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
            "userInput": phone["display"],
        }
    stored["externalIds"] = [
        {**e, "externalSource": {**e["externalSource"], "name": "Salesforce"}} for e in body["externalIds"]
    ]
    stored["externalOrganization"] = {"id": "org-1"}  # set by the caller from account_id
    return stored


def test_round_trip_genesys() -> None:
    body = canonical_to_genesys(VALUES, POLICY, crm_source=SOURCE, crm_id="003RT0000000000")
    row = one(genesys_to_canonical([_genesys_stores(body, "g-rt")], "Salesforce", ORGS).frame, "g-rt")
    assert _fields(row) == _fields(VALUES)
    assert row["crm_id"] == "003RT0000000000"
    assert row["phone"] == "+1 317-555-7000"  # the service rewrote the display...
    assert row["phone_e164"] == "+13175557000"  # ...which is why phones compare by E.164


def test_round_trip_dynamics() -> None:
    values = {**VALUES, "account_id": "a1b2c3d4-0000-4000-8000-000000000001"}  # Dynamics record ids are GUIDs
    payload = canonical_to_dynamics(values, POLICY)
    bind = payload.pop("parentcustomerid_account@odata.bind")
    stored = {
        "contactid": "00000000-0000-4000-8000-000000000007",
        "modifiedon": "2026-01-02T03:04:05Z",
        "statecode": 0,
        "_parentcustomerid_value": bind.removeprefix("/accounts(").removesuffix(")"),
        **payload,
    }
    row = one(dynamics_to_canonical([stored]).frame, "00000000-0000-4000-8000-000000000007")
    assert {k: row[k] for k in ("first_name", "last_name", "email", "account_id")} == {
        k: values[k] for k in ("first_name", "last_name", "email", "account_id")
    }
    assert row["phone_e164"] == "+13175557000"


def test_ids_and_references_must_be_record_ids_of_the_crm() -> None:
    # A number, or text that is no Salesforce id, in an id or a reference would fail every later call naming it.
    rows = [
        sf_row("003000000000001AAA"),
        sf_row("7"),
        sf_row("003000000000003AAA", AccountId=7),
        sf_row("003000000000004AAA", MasterRecordId="not an id"),
    ]
    result = salesforce_to_canonical(rows)
    assert list(result.frame["record_id"]) == ["003000000000001AAA"]
    assert reasons(result.rejected, "7") == "Id is not a record id: 7"
    assert reasons(result.rejected, "003000000000003AAA") == "AccountId is not a record id: 7"
    assert reasons(result.rejected, "003000000000004AAA") == "MasterRecordId is not a record id: not an id"
    other = "7d0c3c1e-0000-4000-8000-000000000002"
    dynamics = dynamics_to_canonical(
        [dynamics_row(), dynamics_row("42"), dynamics_row(other, _parentcustomerid_value="x")]
    )
    assert list(dynamics.frame["record_id"]) == ["7d0c3c1e-0000-4000-8000-000000000001"]
    assert reasons(dynamics.rejected, "42") == "contactid is not a record id: 42"
    assert reasons(dynamics.rejected, other) == "_parentcustomerid_value is not a record id: x"
