"""HubSpot rows <-> canonical frames: text values read as HubSpot sends them, archived and merged rows as deletes,
bad records rejected (never a crash), and write payloads that clear with "" as HubSpot needs."""

from __future__ import annotations

from typing import Any

import pandas as pd

from contact_sync.crms.hubspot.connector import flat_row
from contact_sync.crms.hubspot.convert import canonical_to_hubspot, hubspot_to_canonical, records_to_canonical
from contact_sync.sync.policy import load_policy

POLICY = load_policy()


def row(record_id: str = "101", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": record_id,
        "hs_object_id": record_id,
        "firstname": "Zoë",
        "lastname": "Ångström",
        "email": " Zoe@Example.COM ",
        "phone": "(317) 555-7000",
        "associatedcompanyid": "9001",
        "hubspotscore": "42",
        "createdate": "2026-01-02T03:04:05.000Z",
        "lastmodifieddate": "2026-01-03T03:04:05.123Z",
        "archived": False,
        "archivedAt": None,
    }
    base.update(overrides)
    return base


def test_a_live_row_reads_as_canonical_values() -> None:
    result = hubspot_to_canonical([row()], POLICY)
    assert result.rejected.empty
    (got,) = result.frame.to_dict("records")
    assert got["system"] == "hubspot" and got["record_id"] == "101" and got["crm_id"] == "101"
    assert got["first_name"] == "Zoë" and got["account_id"] == "9001" and got["lead_score"] == 42.0
    assert got["phone_e164"] == "+13175557000" and not got["is_deleted"]
    assert got["modified_at"] == pd.Timestamp("2026-01-03T03:04:05.123Z")


def test_archived_and_merged_rows_are_deletes_stamped_when_they_happened() -> None:
    archived = row("102", archived=True, archivedAt="2026-02-01T00:00:00.000Z")
    merged = {"id": "103", "hs_object_id": "103", "archived": True, "lastmodifieddate": "2026-02-02T00:00:00.000Z"}
    merged.update(archivedAt="2026-02-02T00:00:00.000Z", merged_into="101")
    frame = hubspot_to_canonical([row(), archived, merged], POLICY).frame.set_index("record_id")
    assert bool(frame.loc["102", "is_deleted"]) and frame.loc["102", "modified_at"] == pd.Timestamp(
        "2026-02-01", tz="UTC"
    )
    assert bool(frame.loc["103", "is_deleted"]) and frame.loc["103", "merged_into"] == "101"
    assert not bool(frame.loc["101", "is_deleted"])


def test_odd_records_are_held_alone_with_their_reason() -> None:
    rows = [
        row("101"),
        row("abc"),  # not a HubSpot id
        row("104", associatedcompanyid="Acme Inc"),  # a company name where an id belongs
        row("105", hubspotscore="high"),
        row("106", email="not-an-email"),
        row("107", lastmodifieddate=None),
        "not a record",
    ]
    result = hubspot_to_canonical(rows, POLICY)  # type: ignore[arg-type]
    assert result.frame["record_id"].tolist() == ["101"]
    reasons = dict(zip(result.rejected["record_id"].fillna("?"), result.rejected["reason"], strict=True))
    assert "not a record id" in reasons["abc"] and "associatedcompanyid is not a record id" in reasons["104"]
    assert "hubspotscore is not a number" in reasons["105"] and "not a valid email" in reasons["106"]
    assert "lastmodifieddate is missing" in reasons["107"] and "not a JSON object" in reasons["?"]


def test_stamps_are_the_live_rows_lastmodifieddate() -> None:
    _, stamps, _ = records_to_canonical([row("101"), row("102", archived=True)], POLICY)
    assert dict(zip(stamps["record_id"], stamps["stamp"], strict=True)) == {"101": "2026-01-03T03:04:05.123Z"}


def test_flat_rows_carry_every_property_read() -> None:
    result = {"id": "7", "properties": {"firstname": "Al"}, "archived": False}
    flat = flat_row(result, ["firstname", "phone"])
    assert flat == {
        "id": "7",
        "hs_object_id": "7",
        "firstname": "Al",
        "phone": None,
        "archived": False,
        "archivedAt": None,
    }
    assert flat_row(["odd"]) == ["odd"]


def test_writes_name_hubspot_properties_and_clear_with_an_empty_string() -> None:
    values = {"first_name": "Ada", "email": None, "account_id": "9001", "tags": "vip"}
    assert canonical_to_hubspot(values, POLICY) == {"firstname": "Ada", "email": "", "associatedcompanyid": "9001"}
    back = hubspot_to_canonical([row(firstname="Ada", email="")], POLICY).frame
    assert back["email"].isna().all()  # what was cleared reads as missing again
