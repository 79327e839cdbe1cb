"""Writes through the real client: sObject create/read/update/delete, sObject Collections with per-record results
and allOrNone, upsert by external id, If-Unmodified-Since, and bad input answered like the real service."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from contact_sync.simulators.salesforce import RecordErrors, SalesforceSimulator
from contact_sync_tests.simulators import salesforce_fixtures as fx
from contact_sync_tests.simulators.salesforce_fixtures import api, utc
from contact_sync_tests.simulators.shared_fixtures import TestClock

served_sf, sim, sf, http = fx.served_sf, fx.sim, fx.sf, fx.http


def test_create_read_update_delete(sim: SalesforceSimulator, sf: Salesforce) -> None:
    clock = TestClock(utc(2026, 3, 1, 9, 0))
    sim.set_clock(clock)
    (acme,) = sim.load_accounts([{"Name": "Acme"}])
    clock.now = utc(2026, 3, 1, 9, 0, 1)
    created = sf.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com",
                                 "AccountId": acme, "LeadScore__c": "42", "Tags__c": "vip;math"})  # fmt: skip
    assert created["success"] is True and created["errors"] == []
    cid = created["id"]
    assert cid.startswith("003") and len(cid) == 18
    record = sf.Contact.get(cid)
    assert record["Name"] == "Ada Lovelace"
    assert record["LeadScore__c"] == 42
    assert record["CreatedDate"] == record["SystemModstamp"] == "2026-03-01T09:00:01.000+0000"

    clock.now += timedelta(seconds=30)
    assert sf.Contact.update(cid, {"Email": "ada@analytical.engine", "FirstName": "Augusta"}) == 204
    after = sim.contact(cid)
    assert after is not None
    assert after["Email"] == "ada@analytical.engine"
    assert after["Name"] == "Augusta Lovelace"
    assert after["LastModifiedDate"] == after["SystemModstamp"] == "2026-03-01T09:00:31.000+0000"
    assert after["CreatedDate"] == "2026-03-01T09:00:01.000+0000"

    assert sf.Contact.delete(cid) == 204
    assert sim.contact(cid)["IsDeleted"] is True
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Contact.get(cid)
    assert err.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_every_write_gets_a_strictly_later_system_modstamp(sim: SalesforceSimulator, sf: Salesforce) -> None:
    sim.set_clock(TestClock(utc(2026, 3, 1, 9, 0)))  # a frozen clock: every write happens "in the same ms"
    a = sf.Contact.create({"LastName": "A"})["id"]
    b = sf.Contact.create({"LastName": "B"})["id"]
    sim.edit_contact(a, Phone="123")
    stamps = [sim.contact(b)["SystemModstamp"], sim.contact(a)["SystemModstamp"]]
    assert stamps == ["2026-03-01T09:00:00.001+0000", "2026-03-01T09:00:00.002+0000"]
    watermark = stamps[-1]
    sf.Contact.update(b, {"Phone": "456"})
    newer = sf.query_all(f"SELECT Id FROM Contact WHERE SystemModstamp > {watermark.replace('+0000', 'Z')}")
    assert [r["Id"] for r in newer["records"]] == [b]


def test_get_with_fields_parameter(sim: SalesforceSimulator, http: requests.Session) -> None:
    (cid,) = sim.load_contacts([{"LastName": "Hopper", "Email": "grace@navy.mil"}])
    reply = http.get(api(sim, f"sobjects/Contact/{cid}"), params={"fields": "Email,LastName"})
    assert reply.status_code == 200
    assert set(reply.json()) == {"attributes", "Email", "LastName"}
    bad = http.get(api(sim, f"sobjects/Contact/{cid}"), params={"fields": "Nope"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"


def _by_code(result: dict) -> str:
    return result["errors"][0]["statusCode"]


def test_collections_post_with_mixed_success_and_failure(sim: SalesforceSimulator, sf: Salesforce) -> None:
    records = [
        {"attributes": {"type": "Contact"}, "LastName": "Good One", "Email": "one@example.com"},
        {"attributes": {"type": "Contact"}, "FirstName": "No last name"},
        {"attributes": {"type": "Contact"}, "LastName": "Bad mail", "Email": "not-an-email"},
        {"attributes": {"type": "Contact"}, "LastName": "x" * 81},
        {"attributes": {"type": "Contact"}, "LastName": "Unknown field", "Shoe_Size__c": 44},
        {"attributes": {"type": "Contact"}, "LastName": "Bad account", "AccountId": "001notanid"},
        {"attributes": {"type": "Contact"}, "LastName": "Good Two"},
    ]
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
    assert [r["success"] for r in results] == [True, False, False, False, False, False, True]
    assert [_by_code(r) for r in results[1:6]] == [
        "REQUIRED_FIELD_MISSING", "INVALID_EMAIL_ADDRESS", "STRING_TOO_LONG", "INVALID_FIELD", "MALFORMED_ID",
    ]  # fmt: skip
    assert results[1]["errors"][0]["fields"] == ["LastName"]
    assert results[3]["errors"][0]["message"].startswith("Last Name: data value too large")
    assert sim.count() == 2
    assert {sim.contact(results[0]["id"])["LastName"], sim.contact(results[6]["id"])["LastName"]} == {
        "Good One", "Good Two",
    }  # fmt: skip


def test_collections_all_or_none_rolls_everything_back(sim: SalesforceSimulator, sf: Salesforce) -> None:
    records = [
        {"attributes": {"type": "Contact"}, "LastName": "Fine"},
        {"attributes": {"type": "Contact"}, "LastName": "Broken", "Email": "@@"},
    ]
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    assert [r["success"] for r in results] == [False, False]
    assert _by_code(results[0]) == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert _by_code(results[1]) == "INVALID_EMAIL_ADDRESS"
    assert sim.count(include_deleted=True) == 0


def test_collections_patch_mixed_and_all_or_none(sim: SalesforceSimulator, sf: Salesforce) -> None:
    a, b, gone = sim.load_contacts([{"LastName": "A"}, {"LastName": "B"}, {"LastName": "Gone"}])
    sim.delete_contact(gone)
    missing = "003" + a[3:15].replace(a[-4], "Z" if a[-4] != "Z" else "Y")  # well-formed but unknown
    records = [
        {"attributes": {"type": "Contact"}, "Id": a, "Email": "a@example.com"},
        {"attributes": {"type": "Contact"}, "Id": b, "Email": "nope"},
        {"attributes": {"type": "Contact"}, "Id": "bogus", "Email": "c@example.com"},
        {"attributes": {"type": "Contact"}, "Id": gone, "Email": "d@example.com"},
        {"attributes": {"type": "Contact"}, "Email": "no-id@example.com"},
        {"attributes": {"type": "Contact"}, "Id": missing, "Email": "e@example.com"},
        {"attributes": {"type": "Contact"}, "Id": b, "LastName": ""},
    ]
    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records})
    assert [r["success"] for r in results] == [True, False, False, False, False, False, False]
    assert [_by_code(r) for r in results[1:]] == [
        "INVALID_EMAIL_ADDRESS", "MALFORMED_ID", "ENTITY_IS_DELETED", "MISSING_ARGUMENT",
        "INVALID_CROSS_REFERENCE_KEY", "REQUIRED_FIELD_MISSING",
    ]  # fmt: skip
    assert results[0]["id"] == a
    assert sim.contact(a)["Email"] == "a@example.com"
    assert sim.contact(b)["Email"] is None

    before = sim.contact(a)["SystemModstamp"]
    rolled = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"allOrNone": True, "records": [records[0] | {"Email": "changed@example.com"}, records[1]]},
    )
    assert [_by_code(r) for r in rolled] == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "INVALID_EMAIL_ADDRESS"]
    assert sim.contact(a)["Email"] == "a@example.com"
    assert sim.contact(a)["SystemModstamp"] == before


def test_collections_delete(sim: SalesforceSimulator, sf: Salesforce) -> None:
    a, b = sim.load_contacts([{"LastName": "A"}, {"LastName": "B"}])
    results = sf.restful("composite/sobjects", method="DELETE", params={"ids": f"{a},bad-id", "allOrNone": "false"})
    assert [r["success"] for r in results] == [True, False]
    assert _by_code(results[1]) == "MALFORMED_ID"
    assert sim.contact(a)["IsDeleted"] is True
    rolled = sf.restful("composite/sobjects", method="DELETE", params={"ids": f"{b},{a}", "allOrNone": "true"})
    assert [_by_code(r) for r in rolled] == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "ENTITY_IS_DELETED"]
    assert sim.contact(b)["IsDeleted"] is False


def test_collections_refuse_more_than_200_records(sf: Salesforce) -> None:
    records = [{"attributes": {"type": "Contact"}, "LastName": f"P{i}"} for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert err.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_if_unmodified_since_gives_412_when_the_record_changed(sim: SalesforceSimulator, sf: Salesforce) -> None:
    clock = TestClock(utc(2026, 3, 1, 9, 0, 0))
    sim.set_clock(clock)
    (cid,) = sim.load_contacts([{"LastName": "Lamport"}])
    clock.now = utc(2026, 3, 1, 9, 5, 0)
    sim.edit_contact(cid, Email="leslie@example.com")  # someone edits it at 09:05
    stale = {"If-Unmodified-Since": "Sun, 01 Mar 2026 09:01:00 GMT"}
    with pytest.raises(SalesforceGeneralError) as err:
        sf.Contact.update(cid, {"Phone": "1"}, headers=stale)
    assert err.value.status == 412
    assert sim.contact(cid)["Phone"] is None
    fresh = {"If-Unmodified-Since": "Sun, 01 Mar 2026 09:05:00 GMT"}
    assert sf.Contact.update(cid, {"Phone": "1"}, headers=fresh) == 204
    assert sim.contact(cid)["Phone"] == "1"


def test_upsert_by_external_id(sim: SalesforceSimulator, sf: Salesforce) -> None:
    result = sf.Contact.upsert("Genesys_Id__c/g-1", {"LastName": "Created"})
    assert result == 201
    (row,) = sf.query("SELECT Id, LastName FROM Contact WHERE Genesys_Id__c = 'g-1'")["records"]
    assert sf.Contact.upsert("Genesys_Id__c/g-1", {"LastName": "Updated"}) == 200
    assert sim.contact(row["Id"])["LastName"] == "Updated"
    sim.load_contacts([{"LastName": "Twin 1", "Genesys_Id__c": "g-2"}, {"LastName": "Twin 2", "Genesys_Id__c": "g-2"}])
    with pytest.raises(SalesforceMoreThanOneRecord) as err:
        sf.Contact.upsert("Genesys_Id__c/g-2", {"LastName": "Which?"})
    assert err.value.status == 300
    assert len(err.value.content) == 2
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.upsert("Email/x@example.com", {"LastName": "Not an external id"})


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("POST", "sobjects/Contact/", {"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400,
         "JSON_PARSER_ERROR"),
        ("POST", "sobjects/Contact/", {"data": "", "headers": {"Content-Type": "application/json"}}, 400,
         "JSON_PARSER_ERROR"),
        ("POST", "sobjects/Contact/", {"data": "LastName=x", "headers": {"Content-Type": "text/plain"}}, 415,
         "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", "sobjects/Contact/", {"json": {"LastName": "x", "Shoe__c": 1}}, 400, "INVALID_FIELD"),
        ("POST", "sobjects/Contact/", {"json": {"LastName": "x" * 81}}, 400, "STRING_TOO_LONG"),
        ("POST", "sobjects/Contact/", {"json": {"LastName": "x", "FirstName": "y" * 41}}, 400, "STRING_TOO_LONG"),
        ("POST", "sobjects/Contact/", {"json": {"LastName": "x", "Email": "a@b"}}, 400, "INVALID_EMAIL_ADDRESS"),
        ("POST", "sobjects/Contact/", {"json": {"FirstName": "x"}}, 400, "REQUIRED_FIELD_MISSING"),
        ("POST", "sobjects/Contact/", {"json": {"LastName": "x", "AccountId": "bogus"}}, 400, "MALFORMED_ID"),
        ("POST", "sobjects/Contact/", {"json": {"LastName": "x", "AccountId": "001000000000001AAA"}}, 400,
         "INVALID_CROSS_REFERENCE_KEY"),
        ("POST", "sobjects/Contact/", {"json": {"LastName": "x", "CreatedDate": "2020-01-01T00:00:00Z"}}, 400,
         "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ("POST", "sobjects/Contact/", {"json": {"LastName": "x", "LeadScore__c": "lots"}}, 400, "JSON_PARSER_ERROR"),
        ("POST", "sobjects/Contact/", {"json": [{"LastName": "x"}]}, 400, "JSON_PARSER_ERROR"),
        ("GET", "sobjects/Contact/not-an-id", {}, 404, "NOT_FOUND"),
        ("GET", "sobjects/Contact/003000000000001AAA", {}, 404, "NOT_FOUND"),
        ("PATCH", "sobjects/Contact/003000000000001AAA", {"json": {"Phone": "1"}}, 404, "NOT_FOUND"),
        ("DELETE", "sobjects/Contact/not-an-id", {}, 404, "NOT_FOUND"),
        ("GET", "sobjects/Lead/003000000000001AAA", {}, 404, "NOT_FOUND"),
        ("PUT", "sobjects/Contact/003000000000001AAA", {"json": {}}, 405, "METHOD_NOT_ALLOWED"),
        ("GET", "no/such/resource", {}, 404, "NOT_FOUND"),
    ],
)  # fmt: skip
def test_bad_input_gets_the_real_status_and_body(
    sim: SalesforceSimulator, http: requests.Session, method: str, path: str, kwargs: dict, status: int, code: str
) -> None:
    reply = http.request(method, api(sim, path), **kwargs)
    assert reply.status_code == status
    body = reply.json()
    assert isinstance(body, list)
    assert body[0]["errorCode"] == code
    assert body[0]["message"]
    assert "Traceback" not in reply.text
    assert sim.count(include_deleted=True) == 0


def test_direct_helpers_validate_like_the_api(sim: SalesforceSimulator) -> None:
    with pytest.raises(RecordErrors) as err:
        sim.load_contacts([{"LastName": "Fine"}, {"LastName": "Bad", "Email": "nope"}])
    assert err.value.errors[0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert "row 1" in str(err.value)
    assert sim.count() == 0  # nothing of a rejected batch is written
    (cid,) = sim.load_contacts([{"LastName": "Fine"}])
    with pytest.raises(RecordErrors):
        sim.edit_contact(cid, Email="still-not-an-email")
    with pytest.raises(RecordErrors):
        sim.merge(cid, [cid])


def test_automation_changes_move_only_the_system_modstamp(sim: SalesforceSimulator, sf: Salesforce) -> None:
    clock = TestClock(utc(2026, 3, 1, 9, 0))
    sim.set_clock(clock)
    (cid,) = sim.load_contacts([{"LastName": "Auto"}])
    clock.now = utc(2026, 3, 1, 10, 0)
    sim.automation_edit(cid, Tags__c="scored")
    rec = sf.query(f"SELECT LastModifiedDate, SystemModstamp, Tags__c FROM Contact WHERE Id = '{cid}'")["records"][0]
    assert rec["LastModifiedDate"] == "2026-03-01T09:00:00.000+0000"
    assert rec["SystemModstamp"] == "2026-03-01T10:00:00.000+0000"
    assert rec["Tags__c"] == "scored"


def test_describe_lists_the_fields(sf: Salesforce) -> None:
    fields = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert fields["LastName"]["length"] == 80 and fields["LastName"]["nillable"] is False
    assert fields["Email"]["type"] == "email"
    assert fields["Genesys_Id__c"]["externalId"] is True
    assert fields["SystemModstamp"]["updateable"] is False


def test_duplicate_rule_refuses_an_email_that_exists(sim: SalesforceSimulator, sf: Salesforce) -> None:
    (first,) = sim.load_contacts([{"LastName": "First", "Email": "Same@Example.com"}])
    assert sf.Contact.create({"LastName": "Allowed", "Email": "same@example.com"})["success"]  # rule off by default
    sim.api.duplicate_rule = True
    try:
        with pytest.raises(SalesforceMalformedRequest) as err:
            sf.Contact.create({"LastName": "Twin", "Email": "SAME@example.com"})
        assert err.value.content[0]["errorCode"] == "DUPLICATES_DETECTED"
        records = [
            {"attributes": {"type": "Contact"}, "LastName": "New", "Email": "new@example.com"},
            {"attributes": {"type": "Contact"}, "LastName": "New twin", "Email": "NEW@example.com"},
        ]
        results = sf.restful("composite/sobjects", method="POST", json={"records": records})
        assert [r["success"] for r in results] == [True, False]
        assert results[1]["errors"][0]["statusCode"] == "DUPLICATES_DETECTED"
        assert sf.Contact.update(results[0]["id"], {"Email": "New@Example.com", "Phone": "1"}) == 204  # its own
        with pytest.raises(SalesforceMalformedRequest):
            sf.Contact.update(first, {"Email": "new@example.com"})
    finally:
        sim.api.duplicate_rule = False


@pytest.mark.parametrize("attributes", [None, {}, {"type": 5}, {"type": "Lead"}])
def test_collection_records_without_a_known_type(sf: Salesforce, attributes: dict | None) -> None:
    records = [
        {"attributes": attributes, "LastName": "Typeless"},
        {"attributes": {"type": "Contact"}, "LastName": "Ok"},
    ]
    results = sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert [r["success"] for r in results] == [False, True]
    assert results[0]["errors"][0]["statusCode"] == "INVALID_TYPE"
