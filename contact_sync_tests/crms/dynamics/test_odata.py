"""Tests of the Dynamics connector's pure helpers: watermark round trips, query text, ids and service answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contact_sync.crms.dynamics.odata import (
    DynamicsWatermark,
    check_columns,
    deltatoken_of,
    entity_id,
    ids_filter,
    is_delta_expired,
    is_tracking_refused,
    latest_modifiedon,
    modified_since_filter,
    prefer,
    written_matches,
)

GUID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def test_watermark_round_trips_token_and_modifiedon() -> None:
    mark = DynamicsWatermark("1000026!11/29/2026 11:41:55", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    text = mark.encode()
    assert text == '{"deltatoken":"1000026!11/29/2026 11:41:55","modifiedon":"2026-01-02T03:04:05Z"}'
    assert DynamicsWatermark.parse(text) == mark


def test_watermark_none_and_bare_datetime() -> None:
    assert DynamicsWatermark.parse(None) == DynamicsWatermark()
    assert DynamicsWatermark().encode() is None
    parsed = DynamicsWatermark.parse("2026-01-02T03:04:05Z")
    assert parsed == DynamicsWatermark(None, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


@pytest.mark.parametrize(
    "text", ["{not json", '{"deltatoken": 5}', '{"other": 1}', "yesterday", '{"modifiedon": "soon"}', "[1]"]
)
def test_a_malformed_watermark_is_refused_with_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match="Dynamics watermark"):
        DynamicsWatermark.parse(text)


def test_latest_modifiedon_skips_deletes_and_keeps_the_start_when_later() -> None:
    rows = [{"modifiedon": "2026-01-01T00:00:05Z"}, {"id": GUID}, {"modifiedon": "2026-01-01T00:00:03Z"}]
    assert latest_modifiedon(rows, None) == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    later = datetime(2026, 2, 1, tzinfo=UTC)
    assert latest_modifiedon(rows, later) == later
    assert latest_modifiedon([], None) is None


def test_query_text() -> None:
    assert check_columns(["firstname"]) == ("contactid", "firstname", "modifiedon")
    with pytest.raises(ValueError, match="not Dataverse column names"):
        check_columns(["firstname eq 'x'"])
    since = datetime(2026, 1, 1, 0, 5, tzinfo=UTC) - timedelta(minutes=5)
    assert modified_since_filter(since) == "modifiedon ge 2026-01-01T00:00:00Z"
    assert ids_filter("accountid", ["a", "b"]) == "accountid eq a or accountid eq b"
    assert prefer(100) == "odata.maxpagesize=100"
    assert prefer(100, track_changes=True) == "odata.track-changes, odata.maxpagesize=100"


def test_links_and_ids() -> None:
    link = "http://h/api/data/v9.2/contacts?$select=contactid&$deltatoken=1000%2126%2F11%2F2026%2011%3A41%3A55"
    assert deltatoken_of(link) == "1000!26/11/2026 11:41:55"
    with pytest.raises(ValueError, match="no \\$deltatoken"):
        deltatoken_of("http://h/api/data/v9.2/contacts?$select=contactid")
    assert entity_id(f"http://h/api/data/v9.2/contacts({GUID.upper()})") == GUID
    assert entity_id(None) is None and entity_id("garbage") is None


def test_service_answers_are_told_apart_by_code_or_message() -> None:
    off = {"error": {"code": "0x80072491", "message": "whatever"}}
    assert is_tracking_refused(off, "whatever")
    assert is_tracking_refused({"error": {"code": ""}}, "Change tracking is not enabled for the entity 'contact'.")
    assert not is_tracking_refused({"error": {"code": "0x80060888"}}, "Could not find a property named 'x'.")
    expired = "Version stamp associated with the client has expired. Please perform a full sync."
    assert is_delta_expired({"error": {"code": ""}}, expired)
    assert is_delta_expired({"error": {"code": "0x80044352"}}, "")
    assert not is_delta_expired(off, "whatever")


def test_written_matches_compares_values_and_lookup_binds() -> None:
    row = {"firstname": "Ann", "lastname": "Lee", "emailaddress1": None, "_parentcustomerid_value": GUID}
    assert written_matches(row, {"firstname": "Ann", "emailaddress1": ""})
    assert written_matches(row, {"parentcustomerid_account@odata.bind": f"/accounts({GUID})"})
    assert not written_matches(row, {"firstname": "Anne"})
    assert not written_matches(row, {"parentcustomerid_account@odata.bind": None})
    assert written_matches({**row, "_parentcustomerid_value": None}, {"parentcustomerid_account@odata.bind": None})
