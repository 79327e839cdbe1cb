"""The SOQL translator and the id helpers on their own (no server): what SQL a statement becomes, and ids."""

from __future__ import annotations

import pytest

from contact_sync.simulators.salesforce.errors import ApiError
from contact_sync.simulators.salesforce.ids import checksum, make_id, normalize_id
from contact_sync.simulators.salesforce.soql import compile_soql


def test_fields_are_case_insensitive_and_canonical() -> None:
    q = compile_soql("select id, lastname, EMAIL from contact where leadscore__c > 1 order by lastName desc limit 5")
    assert q.obj.name == "Contact"
    assert q.fields == ["Id", "LastName", "Email"]
    assert q.params == [1.0]
    assert q.order_sql == '"LastName" DESC NULLS LAST'
    assert q.limit == 5


def test_datetime_literals_are_normalized_to_utc_text() -> None:
    q = compile_soql("SELECT Id FROM Contact WHERE SystemModstamp > 2026-01-01T02:00:00+02:00")
    assert q.params == ["2026-01-01T00:00:00.000+0000"]


def test_like_keeps_escapes_and_equality_drops_them() -> None:
    assert compile_soql(r"SELECT Id FROM Contact WHERE Email LIKE 'a\_b%'").params == [r"a\_b%"]
    assert compile_soql(r"SELECT Id FROM Contact WHERE Email = 'a\'b'").params == ["a'b"]


def test_multi_line_errors_report_row_and_column() -> None:
    with pytest.raises(ApiError) as err:
        compile_soql("SELECT Id\nFROM Contact\nWHERE Bogus = 1")
    assert err.value.status == 400
    assert "ERROR at Row:3:Column:7" in err.value.entries[0]["message"]


def test_empty_query() -> None:
    with pytest.raises(ApiError) as err:
        compile_soql("  ")
    assert err.value.entries[0]["errorCode"] == "MALFORMED_QUERY"


def test_ids_have_prefix_and_a_valid_checksum() -> None:
    first = make_id("003", 1)
    assert len(first) == 18 and first.startswith("003")
    assert normalize_id(first) == first
    assert normalize_id(first[:15]) == first
    assert normalize_id(first[:15] + "ZZZ") is None
    assert normalize_id("not an id") is None
    assert len({make_id("003", n) for n in range(1, 5000)}) == 4999
    # A published example: 001A0000006Vm9r is 001A0000006Vm9rIAC in its 18-character form.
    assert checksum("001A0000006Vm9r") == "IAC"


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Contact LIMIT 99999999999999999999999", "NUMBER_OUTSIDE_VALID_RANGE"),
        ("SELECT Id FROM Contact OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE"),
        ("SELECT Id FROM Contact WHERE CreatedDate > 2026-13-45T99:00:00Z", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE IsDeleted < true", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Contact WHERE Id LIKE 'a%'", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Contact WHERE LastName = :name", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE (LastName = 'a'", "MALFORMED_QUERY"),
    ],
)
def test_out_of_range_and_unsupported_input_is_a_400(soql: str, code: str) -> None:
    with pytest.raises(ApiError) as err:
        compile_soql(soql)
    assert err.value.status == 400
    assert err.value.entries[0]["errorCode"] == code
