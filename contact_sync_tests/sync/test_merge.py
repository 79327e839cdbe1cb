"""The three-way field merge: one rule per test, on one linked pair of hand-written records."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from contact_sync.sync.merge import key_codes, merge_fields
from contact_sync_tests.sync.engine_helpers import at, base_of, crm, genesys, make_policy

BASE = {
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann@x.com",
    "phone": "+14155550101",
    "account_id": "A1",
    "lead_score": "10",
    "tags": "gold;vip",
}


def merge_one(
    crm_changes: dict[str, Any] | None = None,
    genesys_changes: dict[str, Any] | None = None,
    policy: Any = None,
    base: dict[str, Any] | None = BASE,
    decisions: pd.DataFrame | None = None,
    crm_minute: float = 0,
    genesys_minute: float = 0,
) -> pd.DataFrame:
    """Merge c1<->g1 whose values start at BASE; returns the rows indexed by field."""
    c = crm({"record_id": "c1", **BASE, "lead_score": 10.0, **(crm_changes or {}), "modified_at": at(crm_minute)})
    g = genesys({"record_id": "g1", "crm_id": "c1", **BASE, "lead_score": 10.0, **(genesys_changes or {}),
                 "modified_at": at(genesys_minute)})  # fmt: skip
    pairs = pd.DataFrame({"crm_id": ["c1"], "genesys_id": ["g1"]})
    stored = base_of("c1", "g1", **base) if base is not None else None
    out = merge_fields(pairs, c, g, stored, decisions, policy or make_policy("bidirectional"))
    return out.set_index("field")


def writes(rows: pd.DataFrame) -> dict[str, str]:
    return {name: action for name, action in rows["action"].items() if action != "none"}


def test_nothing_changed_nothing_written() -> None:
    rows = merge_one()
    assert writes(rows) == {}
    assert not rows["base_update"].any()
    assert set(rows["changed_on"]) == {"none"}


def test_only_crm_changed_is_copied_to_genesys() -> None:
    rows = merge_one(crm_changes={"email": "ann.lee@x.com"})
    assert writes(rows) == {"email": "write_genesys"}
    assert rows.loc["email", "new_value"] == "ann.lee@x.com"
    assert rows.loc["email", "changed_on"] == "crm" and not rows.loc["email", "conflict"]
    assert rows.loc["email", "base_update"]


def test_only_genesys_changed_is_copied_to_the_crm_in_bidirectional_mode() -> None:
    rows = merge_one(genesys_changes={"phone": "+1 415 555 0199"})
    assert writes(rows) == {"phone": "write_crm"}
    assert rows.loc["phone", "new_value"] == "+1 415 555 0199"
    assert rows.loc["phone", "winner"] == "genesys"


def test_one_way_mode_never_writes_to_the_crm_and_the_crm_value_wins() -> None:
    rows = merge_one(genesys_changes={"phone": "+1 415 555 0199", "tags": "gold"}, policy=make_policy("one_way"))
    assert writes(rows) == {"phone": "write_genesys", "tags": "write_genesys"}
    assert rows.loc["phone", "new_value"] == "+14155550101"
    assert rows.loc["tags", "new_value"] == "gold;vip"
    assert set(rows["policy"]) == {"one_way"}


def test_one_way_mode_leaves_genesys_to_crm_fields_alone() -> None:
    policy = make_policy("one_way", fields={"tags": {"direction": "genesys_to_crm"}})
    rows = merge_one(genesys_changes={"tags": "bronze"}, policy=policy)
    assert writes(rows) == {}
    assert rows.loc["tags", "winner"] == "none" and not rows.loc["tags", "base_update"]


def test_crm_to_genesys_field_changed_in_genesys_is_put_back_from_the_crm() -> None:
    rows = merge_one(genesys_changes={"lead_score": 99.0})
    assert writes(rows) == {"lead_score": "write_genesys"}
    assert rows.loc["lead_score", "new_value"] == 10.0
    assert rows.loc["lead_score", "policy"] == "direction"


def test_genesys_to_crm_field_never_written_to_genesys() -> None:
    policy = make_policy("bidirectional", fields={"first_name": {"direction": "genesys_to_crm"}})
    rows = merge_one(crm_changes={"first_name": "Anne"}, policy=policy)
    assert writes(rows) == {"first_name": "write_crm"}
    assert rows.loc["first_name", "new_value"] == "Ann"


def test_both_changed_to_the_same_value_writes_nothing_and_moves_the_base() -> None:
    rows = merge_one(crm_changes={"last_name": "Lee-Park"}, genesys_changes={"last_name": "Lee-Park "})
    assert writes(rows) == {}
    assert rows.loc["last_name", "changed_on"] == "both" and not rows.loc["last_name", "conflict"]
    assert rows.loc["last_name", "base_update"] and rows.loc["last_name", "new_value"] == "Lee-Park"


def test_conflict_crm_wins() -> None:
    rows = merge_one(crm_changes={"first_name": "Anne"}, genesys_changes={"first_name": "Annie"}, genesys_minute=5)
    assert rows.loc["first_name", "conflict"]
    assert rows.loc["first_name", "policy"] == "crm_wins"
    assert (rows.loc["first_name", "winner"], rows.loc["first_name", "action"]) == ("crm", "write_genesys")
    assert rows.loc["first_name", "new_value"] == "Anne"


def test_conflict_genesys_wins() -> None:
    rows = merge_one(crm_changes={"tags": "gold"}, genesys_changes={"tags": "vip;platinum"})
    assert (rows.loc["tags", "winner"], rows.loc["tags", "action"]) == ("genesys", "write_crm")
    assert rows.loc["tags", "new_value"] == "vip;platinum"


@pytest.mark.parametrize(
    ("crm_minute", "genesys_minute", "winner", "action", "value"),
    [
        (10, 5, "crm", "write_genesys", "crm@x.com"),
        (5, 10, "genesys", "write_crm", "gen@x.com"),
        (7, 7, "crm", "write_genesys", "crm@x.com"),  # a tie goes to the CRM
    ],
)
def test_conflict_last_write_wins_by_modify_stamp(
    crm_minute: float, genesys_minute: float, winner: str, action: str, value: str
) -> None:
    rows = merge_one(
        crm_changes={"email": "crm@x.com"},
        genesys_changes={"email": "gen@x.com"},
        crm_minute=crm_minute,
        genesys_minute=genesys_minute,
    )
    assert rows.loc["email", "conflict"] and rows.loc["email", "policy"] == "last_write_wins"
    assert (rows.loc["email", "winner"], rows.loc["email", "action"], rows.loc["email", "new_value"]) == (
        winner,
        action,
        value,
    )


def test_manual_conflict_is_held_until_decided() -> None:
    policy = make_policy("bidirectional", fields={"email": {"conflict": "manual"}})
    rows = merge_one(crm_changes={"email": "crm@x.com"}, genesys_changes={"email": "gen@x.com"}, policy=policy)
    assert (rows.loc["email", "winner"], rows.loc["email", "action"]) == ("held", "hold")
    assert rows.loc["email", "new_value"] is None and not rows.loc["email", "base_update"]
    # A one-sided change of a manual field is no conflict: it flows as usual.
    rows = merge_one(crm_changes={"email": "crm@x.com"}, policy=policy)
    assert writes(rows) == {"email": "write_genesys"}


@pytest.mark.parametrize(
    ("use", "value", "action", "expected"),
    [
        ("crm", None, "write_genesys", "crm@x.com"),
        ("genesys", None, "write_crm", "gen@x.com"),
        ("value", "typed@x.com", "write_both", "typed@x.com"),
    ],
)
def test_manual_conflict_applies_the_decision(use: str, value: str | None, action: str, expected: str) -> None:
    policy = make_policy("bidirectional", fields={"email": {"conflict": "manual"}})
    decisions = pd.DataFrame([{"crm_id": "c1", "field": "email", "use": use, "value": value}])
    rows = merge_one(
        crm_changes={"email": "crm@x.com"}, genesys_changes={"email": "gen@x.com"}, policy=policy, decisions=decisions
    )
    assert (rows.loc["email", "winner"], rows.loc["email", "action"]) == ("decision", action)
    assert rows.loc["email", "new_value"] == expected and rows.loc["email", "base_update"]


def test_a_decision_does_not_touch_a_field_that_is_not_in_conflict() -> None:
    decisions = pd.DataFrame([{"crm_id": "c1", "field": "email", "use": "value", "value": "typed@x.com"}])
    rows = merge_one(crm_changes={"email": "new@x.com"}, decisions=decisions)
    assert rows.loc["email", "winner"] == "crm" and rows.loc["email", "new_value"] == "new@x.com"


def test_values_equal_after_normalization_are_never_written() -> None:
    rows = merge_one(
        crm_changes={"email": " ANN@X.com", "phone": "(415) 555-0101", "first_name": "Ann  "},
        genesys_changes={"tags": "vip; gold", "lead_score": 10.0000000000001},
    )
    assert writes(rows) == {}
    assert set(rows["changed_on"]) == {"none"}


def test_text_is_compared_exactly_apart_from_surrounding_space() -> None:
    rows = merge_one(crm_changes={"first_name": "ann"})
    assert writes(rows) == {"first_name": "write_genesys"}


def test_first_sync_equal_values_record_the_base_and_write_nothing() -> None:
    rows = merge_one(base=None, genesys_changes={"email": "ANN@x.com"})
    assert writes(rows) == {}
    assert rows["base_update"].all()
    assert not rows["conflict"].any()


def test_first_sync_different_values_are_a_baseline_difference_settled_by_policy_not_a_conflict() -> None:
    rows = merge_one(
        base=None,
        crm_changes={"first_name": "Anne", "phone": "415 555 0100"},
        genesys_changes={"first_name": "Annie", "phone": "415 555 0199"},
        genesys_minute=5,
    )
    assert not rows.loc["first_name", "conflict"] and rows.loc["first_name", "changed_on"] == "baseline"
    assert rows.loc["first_name", "action"] == "write_genesys"
    assert not rows.loc["phone", "conflict"] and rows.loc["phone", "winner"] == "genesys"  # last write wins
    assert rows.loc["phone", "action"] == "write_crm"
    assert rows.loc["email", "changed_on"] == "none"  # equal on both sides: nothing to settle


def test_missing_values_count_as_values() -> None:
    # Genesys cleared the phone; the CRM did not touch it: the clearing flows to the CRM.
    rows = merge_one(genesys_changes={"phone": None})
    assert writes(rows) == {"phone": "write_crm"}
    assert rows.loc["phone", "new_value"] is None


def test_a_base_stored_for_an_older_link_is_not_this_links_base() -> None:
    # c1 used to be linked to g-old (whose base says "Old"); now it is linked to g1: this is a first sync.
    c = crm({"record_id": "c1", **BASE, "lead_score": 10.0})
    g = genesys({"record_id": "g1", **BASE, "lead_score": 10.0})
    old = base_of("c1", "g-old", first_name="Old")
    out = merge_fields(pd.DataFrame({"crm_id": ["c1"], "genesys_id": ["g1"]}), c, g, old, None, make_policy())
    row = out.set_index("field").loc["first_name"]
    assert row["base"] is None and row["changed_on"] == "none" and row["base_update"]


def test_merge_frame_columns_keep_their_types() -> None:
    # The frame is assembled column by column: text columns stay objects, flags bool, stamps UTC timestamps.
    rows = merge_one(crm_changes={"email": "ann.lee@x.com"}, genesys_minute=5)
    for name in ("crm_id", "genesys_id", "base", "crm_value", "genesys_value", "changed_on", "policy", "winner",
                 "action", "new_value"):  # fmt: skip
        assert rows[name].dtype == object, name
    assert rows["conflict"].dtype == bool and rows["base_update"].dtype == bool
    assert str(rows["crm_modified_at"].dtype) == "datetime64[ns, UTC]"
    assert rows.loc["email", "genesys_modified_at"] == at(5)


def test_key_codes_share_one_code_space_and_missing_keys_are_equal() -> None:
    left, right = key_codes(pa.array(["a", None, "b"]), pa.array(["b", None, "c"]))
    assert left[0] != left[2] and left[2] == right[0] and right[2] not in (left[0], left[2])
    assert left[1] == right[1] == -1
