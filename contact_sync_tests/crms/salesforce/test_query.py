"""Pure tests of the Salesforce connector's SOQL building, de-duplication, watermark and Bulk CSV parsing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contact_sync.crms.salesforce.query import (
    CONTACT_FIELDS,
    check_field_names,
    check_ids,
    format_watermark,
    ids_soql,
    incremental_soql,
    keep_latest,
    next_watermark,
    parse_bulk_csv,
    parse_datetime,
    soql_string,
)
from contact_sync.crms.salesforce.session import ApiUsage, parse_limit_info


def test_incremental_soql_starts_an_overlap_before_the_watermark_with_an_explicit_literal() -> None:
    soql = incremental_soql(["Id", "SystemModstamp"], "2026-03-01T10:00:30.250+0000", timedelta(minutes=5))
    assert soql == (
        "SELECT Id, SystemModstamp FROM Contact WHERE SystemModstamp >= 2026-03-01T09:55:30Z "
        "ORDER BY SystemModstamp, Id"
    )
    assert "LAST_N" not in soql


def test_incremental_soql_rounds_down_so_the_boundary_millisecond_is_included() -> None:
    soql = incremental_soql(["Id", "SystemModstamp"], "2026-03-01T10:00:30.999Z", timedelta(0))
    assert "SystemModstamp >= 2026-03-01T10:00:30Z " in soql


def test_incremental_soql_converts_other_offsets_to_utc() -> None:
    soql = incremental_soql(["Id", "SystemModstamp"], "2026-03-01T12:00:00.000+02:00", timedelta(0))
    assert "SystemModstamp >= 2026-03-01T10:00:00Z " in soql


def test_first_read_has_no_filter() -> None:
    soql = incremental_soql(CONTACT_FIELDS, None, timedelta(minutes=5))
    assert "WHERE" not in soql
    assert soql.startswith("SELECT Id, FirstName, LastName, Email, Phone, MobilePhone, AccountId, LeadScore__c")
    assert soql.endswith("FROM Contact ORDER BY SystemModstamp, Id")


def test_bulk_query_can_leave_ordering_out() -> None:
    soql = incremental_soql(["Id", "SystemModstamp"], None, timedelta(0), ordered=False)
    assert soql == "SELECT Id, SystemModstamp FROM Contact"


def test_field_list_is_checked() -> None:
    with pytest.raises(ValueError, match="SystemModstamp"):
        check_field_names(["Id", "Email"])
    with pytest.raises(ValueError, match="not a SOQL field name"):
        check_field_names(["Id", "SystemModstamp", "Email FROM User --"])
    with pytest.raises(ValueError, match="twice"):
        check_field_names(["Id", "SystemModstamp", "Id"])
    assert check_field_names(["Id", "SystemModstamp", "Account.Name"]) == ["Id", "SystemModstamp", "Account.Name"]


def test_ids_are_checked_and_quoted() -> None:
    ids = ["003000000000001AAA", "003000000000002"]
    assert check_ids(ids) == ids
    with pytest.raises(ValueError, match="not a Salesforce id"):
        check_ids(["003' OR Id != '"])
    assert ids_soql(["Id"], ids) == "SELECT Id FROM Contact WHERE Id IN ('003000000000001AAA', '003000000000002')"
    assert soql_string("O'Brien\\") == "'O\\'Brien\\\\'"


def test_keep_latest_keeps_one_record_per_id_with_the_latest_stamp() -> None:
    records = [
        {"Id": "a", "SystemModstamp": "2026-01-01T00:00:02.000+0000", "Email": "new@x.org"},
        {"Id": "b", "SystemModstamp": "2026-01-01T00:00:01.000+0000", "Email": "b@x.org"},
        {"Id": "a", "SystemModstamp": "2026-01-01T00:00:01.000+0000", "Email": "old@x.org"},
        {"Id": "b", "SystemModstamp": "2026-01-01T00:00:01.000Z", "Email": "b2@x.org"},
    ]
    latest = keep_latest(records)
    assert [r["Id"] for r in latest] == ["b", "a"]  # ordered by SystemModstamp, then Id
    assert latest[1]["Email"] == "new@x.org"
    assert latest[0]["Email"] == "b2@x.org"  # a tie: the one read later wins


def test_records_without_a_readable_id_or_stamp_are_passed_on_last_and_move_no_watermark() -> None:
    good = {"Id": "a", "SystemModstamp": "2026-01-01T00:00:01.000+0000"}
    odd = [{"Id": {"x": 1}, "SystemModstamp": "2026-01-01T00:00:09.000+0000"}, {"Id": "b", "SystemModstamp": 7}, 5]
    latest = keep_latest([odd[0], good, odd[1], odd[2]])
    assert latest == [good, *odd]  # the converter rejects and reports the odd ones
    assert next_watermark(None, latest) == "2026-01-01T00:00:01.000Z"


def test_next_watermark_is_the_latest_stamp_read_and_never_moves_back() -> None:
    records = [
        {"Id": "a", "SystemModstamp": "2026-01-01T00:00:02.123+0000"},
        {"Id": "b", "SystemModstamp": "2026-01-01T00:00:01.000+0000"},
    ]
    assert next_watermark(None, records) == "2026-01-01T00:00:02.123Z"
    assert next_watermark("2026-01-01T00:00:05.000Z", records) == "2026-01-01T00:00:05.000Z"
    assert next_watermark("2026-01-01T00:00:00.000Z", []) == "2026-01-01T00:00:00.000Z"
    assert next_watermark(None, []) is None


def test_watermark_round_trips() -> None:
    moment = parse_datetime("2026-07-04T23:59:59.007+0000")
    assert format_watermark(moment) == "2026-07-04T23:59:59.007Z"
    assert parse_datetime(format_watermark(moment)) == moment
    with pytest.raises(ValueError, match="time zone"):
        parse_datetime("2026-07-04T23:59:59")
    with pytest.raises(ValueError, match="not a Salesforce datetime"):
        parse_datetime("yesterday")


def test_bulk_csv_is_typed_like_rest_records() -> None:
    text = (
        '"Id","LastName","Email","LeadScore__c","IsDeleted","Tags__c","MasterRecordId"\n'
        '"003A","O\'Brien, Jr.","a@x.org","42","false","vip;new",""\n'
        '"003B","Multi\nLine","","7.5","true","","003A"\n'
    )
    records = parse_bulk_csv(text)
    assert records == [
        {
            "Id": "003A",
            "LastName": "O'Brien, Jr.",
            "Email": "a@x.org",
            "LeadScore__c": 42,
            "IsDeleted": False,
            "Tags__c": "vip;new",
            "MasterRecordId": None,
        },
        {
            "Id": "003B",
            "LastName": "Multi\nLine",
            "Email": None,
            "LeadScore__c": 7.5,
            "IsDeleted": True,
            "Tags__c": None,
            "MasterRecordId": "003A",
        },
    ]


def test_bulk_csv_rejects_malformed_values() -> None:
    with pytest.raises(ValueError, match="not a boolean"):
        parse_bulk_csv('"Id","IsDeleted"\n"003A","maybe"\n')
    with pytest.raises(ValueError, match="more values"):
        parse_bulk_csv('"Id"\n"003A","extra"\n')


def test_limit_info_header() -> None:
    assert parse_limit_info("api-usage=18/5000") == ApiUsage(18, 5000)
    usage = parse_limit_info("api-usage=25/5000; per-app-api-usage=17/250(appName=sample)")
    assert usage == ApiUsage(25, 5000)
    assert usage is not None and usage.remaining == 4975
    assert parse_limit_info("per-app-api-usage=17/250(appName=sample)") is None
