"""The loss guards, each failing on a hand-made loss and passing on what a healthy run does."""

from __future__ import annotations

import pandas as pd

from contact_sync.sync.loss import crm_without_counterpart, genesys_linked_twice, is_blank, unexplained_blanks

PLAN_COLUMNS = ["crm_id", "genesys_id", "field", "crm_value", "genesys_value", "winner", "action", "new_value"]
AUDIT_COLUMNS = ["system", "record_id", "field", "old_value", "new_value", "reason"]


def plan(*rows: tuple[object, ...]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=PLAN_COLUMNS)


def audit(*rows: tuple[object, ...]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=AUDIT_COLUMNS)


def test_blank_values_are_missing_empty_text_or_no_tags() -> None:
    values = pd.Series([None, float("nan"), "", "  ", "[]", "x", 0, ["a"]])
    assert is_blank(values).tolist() == [True, True, True, True, True, False, False, False]


def test_a_field_cleared_in_the_crm_and_audited_is_explained() -> None:
    cleared = plan(("c1", "g1", "phone", None, "+14155550101", "crm", "write_genesys", None))
    recorded = audit(("genesys", "g1", "phone", "+14155550101", None, "crm change"))
    assert unexplained_blanks(cleared, recorded, "salesforce", []).empty


def test_a_blank_nothing_asked_for_is_listed() -> None:
    # The CRM still holds the phone, yet the plan writes nothing over Genesys's: a bug that would erase the value.
    lost = plan(("c1", "g1", "phone", "+14155550101", "+14155550101", "crm", "write_genesys", None))
    recorded = audit(("genesys", "g1", "phone", "+14155550101", None, "crm change"))
    found = unexplained_blanks(lost, recorded, "salesforce", [])
    assert found.to_dict("records") == [
        {
            "system": "genesys",
            "record_id": "g1",
            "field": "phone",
            "old_value": "+14155550101",
            "winner": "crm",
            "why": "the crm value is not empty: nothing asked for the blank",
        }
    ]


def test_a_blank_written_to_the_crm_without_its_audit_row_is_listed_unless_the_write_failed() -> None:
    cleared = plan(("c1", "g1", "email", "ada@example.com", None, "genesys", "write_crm", None))
    found = unexplained_blanks(cleared, audit(), "dynamics", [])
    assert found[["system", "record_id", "why"]].to_dict("records") == [
        {"system": "dynamics", "record_id": "c1", "why": "no audit row"}
    ]
    assert unexplained_blanks(cleared, audit(), "dynamics", ["c1"]).empty  # failed: nothing was written
    decided = plan(("c1", "g1", "email", "ada@example.com", "bob@example.com", "decision", "write_both", None))
    both = audit(
        ("dynamics", "c1", "email", "ada@example.com", None, "decision"),
        ("genesys", "g1", "email", "bob@example.com", None, "decision"),
    )
    assert unexplained_blanks(decided, both, "dynamics", []).empty  # a person decided on the blank


def test_writes_of_values_and_rows_that_write_nothing_are_not_blanks() -> None:
    rows = plan(
        ("c1", "g1", "phone", "+1415", "+1628", "crm", "write_genesys", "+1415"),
        ("c2", "g2", "phone", "+1415", "+1628", "crm", "none", None),
        ("c3", None, "phone", "+1415", None, "crm", "create_genesys", "+1415"),
    )
    assert unexplained_blanks(rows, audit(), "salesforce", []).empty


def test_a_crm_contact_with_no_counterpart_and_no_reason_is_listed() -> None:
    found = crm_without_counterpart({"c1", "c2", "c3"}, accounted={"c1", "c3", "c9"})
    assert found["crm_id"].tolist() == ["c2"]
    assert crm_without_counterpart({"c1"}, {"c1"}).empty


def test_a_genesys_contact_named_by_two_links_is_listed() -> None:
    links = pd.DataFrame({"crm_id": ["c1", "c2", "c3"], "genesys_id": ["g1", "g1", "g2"]})
    assert genesys_linked_twice(links).to_dict("records") == [{"genesys_id": "g1", "crm_ids": "c1, c2"}]
    assert genesys_linked_twice(links.iloc[1:]).empty
