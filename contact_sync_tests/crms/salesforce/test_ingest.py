"""The pure parts of the Bulk API 2.0 write path: CSV cells, error text, and finding each row's result."""

from __future__ import annotations

from contact_sync.crms.salesforce.ingest import match_results, parse_error, to_cell, to_csv


def test_cells_follow_the_bulk_csv_rules() -> None:
    assert [to_cell(v) for v in (None, "", True, False, 4.0, 4.5, "x")] == ["#N/A", "#N/A", "true", "false", "4",
                                                                           "4.5", "x"]  # fmt: skip


def test_csv_has_every_field_and_leaves_missing_ones_empty() -> None:
    header, cells, content = to_csv([{"LastName": "A", "Email": None}, {"LastName": 'B "quoted", too'}])
    assert header == ["Email", "LastName"]
    assert cells == [["#N/A", "A"], ["", 'B "quoted", too']]
    assert content == b'Email,LastName\n#N/A,A\n,"B ""quoted"", too"\n'


def test_error_cells_become_readable_messages() -> None:
    cell = "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"
    assert parse_error(cell) == "REQUIRED_FIELD_MISSING: Required fields are missing: [LastName] (LastName)"
    two = "INVALID_EMAIL_ADDRESS:Email: invalid email address: x:Email -- ENTITY_IS_DELETED:entity is deleted: --"
    assert parse_error(two) == (
        "INVALID_EMAIL_ADDRESS: Email: invalid email address: x (Email); ENTITY_IS_DELETED: entity is deleted"
    )
    assert parse_error("odd") == "odd"


def test_results_are_matched_by_cells_and_order_whatever_order_they_come_in() -> None:
    header = ["LastName"]
    cells = [["A"], ["B"], ["A"], ["C"], ["D"]]
    results = {
        "successfulResults": "sf__Id,sf__Created,LastName\n003b,true,B\n003a1,true,A\n003a2,false,A\n",
        "failedResults": 'sf__Id,sf__Error,LastName\n,"STRING_TOO_LONG:too long:LastName --",C\n',
        "unprocessedrecords": "LastName\n",
    }
    out = match_results(header, cells, results, "JobComplete")
    assert [(r.ok, r.record_id, r.created) for r in out[:3]] == [(True, "003a1", True), (True, "003b", True),
                                                                 (True, "003a2", False)]  # fmt: skip
    assert not out[3].ok and out[3].message == "STRING_TOO_LONG: too long (LastName)"
    assert not out[4].ok and "not in the Bulk API job's results" in (out[4].message or "")
