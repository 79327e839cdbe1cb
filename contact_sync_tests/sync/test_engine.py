"""reconcile() end to end on hand-written snapshots: the guide's lost edit, cohorts, rejected input, round trips."""

from __future__ import annotations

import pandas as pd

from contact_sync.sync.engine import reconcile
from contact_sync_tests.sync.engine_helpers import apply_plan, at, base_of, crm, genesys, links, make_policy

ANN = {"first_name": "Ann", "last_name": "Lee", "email": "ann@x.com", "phone": "+14155550101"}


def test_guide_example_field_merge_keeps_both_edits() -> None:
    # The guide's whole-record last-write-wins: Salesforce renames Ann at 10:00, an agent fixes her phone in Genesys
    # at 10:01; Genesys is newer, so the guide writes the whole Genesys record over Salesforce and the rename is lost.
    c = crm({"record_id": "c1", **ANN, "first_name": "Anne", "modified_at": at(60)})
    g = genesys({"record_id": "g1", "crm_id": "c1", **ANN, "phone": "+1 415 555 0199", "modified_at": at(61)})
    base = base_of("c1", "g1", **ANN)
    plan = reconcile(c, g, make_policy("bidirectional"), links=links(("c1", "g1")), base=base)

    assert plan.genesys_updates[["field", "value"]].to_dict("records") == [{"field": "first_name", "value": "Anne"}]
    assert plan.crm_updates[["field", "value"]].to_dict("records") == [{"field": "phone", "value": "+1 415 555 0199"}]
    assert plan.conflicts.empty

    c2, g2, _, _ = apply_plan(plan, c, g, links(("c1", "g1")), base, at(62))
    for frame in (c2, g2):
        row = frame.iloc[0]
        assert (row["first_name"], row["phone_e164"]) == ("Anne", "+14155550199")


def test_same_data_one_way_vs_bidirectional() -> None:
    c = crm({"record_id": "c1", **ANN})
    g = genesys({"record_id": "g1", "crm_id": "c1", **ANN, "email": "ann@agent-fixed.com", "tags": "callback"})
    base = base_of("c1", "g1", **ANN)
    one_way = reconcile(c, g, make_policy("one_way"), links=links(("c1", "g1")), base=base)
    both = reconcile(c, g, make_policy("bidirectional"), links=links(("c1", "g1")), base=base)
    assert one_way.crm_updates.empty
    assert dict(zip(one_way.genesys_updates["field"], one_way.genesys_updates["value"], strict=True)) == {
        "email": "ann@x.com",
        "tags": None,
    }
    assert both.genesys_updates.empty
    assert dict(zip(both.crm_updates["field"], both.crm_updates["value"], strict=True)) == {
        "email": "ann@agent-fixed.com",
        "tags": "callback",
    }


def test_cohort_restricts_the_plan_but_not_the_matching() -> None:
    c = crm(
        {"record_id": "c1", "email": "a@x.com", "created_at": at(5)},
        {"record_id": "c2", "email": "b@x.com"},
        {"record_id": "c0", "email": "A@x.com", "created_at": at(0)},  # outside the cohort, older twin of c1
        {"record_id": "c3", "email": "c@x.com", "first_name": "Cy"},
    )
    g = genesys({"record_id": "g3", "email": "c@x.com"}, {"record_id": "g9", "email": "walkin@x.com"})
    plan = reconcile(
        c, g, make_policy("bidirectional", create_crm_from_genesys=True), cohort_crm_ids=["c1", "c2", "c3"]
    )
    assert list(plan.genesys_creates["crm_id"]) == ["c2"]  # c1 is c0's duplicate even though c0 is not in the cohort
    assert set(plan.reconciliation["crm_id"]) == {"c2", "c3"}
    assert plan.crm_creates.empty  # Genesys-only contacts belong to no cohort
    assert set(plan.crm_duplicates["record_id"]) == {"c0", "c1"}


def test_unreadable_genesys_contact_holds_its_crm_record() -> None:
    # The converter could not read Genesys contact g7 but saw it links to c1: c1 must not get a second contact.
    c = crm({"record_id": "c1", "email": "a@x.com"}, {"record_id": "c2", "email": "b@x.com"})
    rejected = pd.DataFrame(
        [{"system": "genesys", "record_id": "g7", "reason": "workPhone is not an object", "crm_id": "c1"}]
    )
    plan = reconcile(c, genesys(), make_policy("one_way"), rejected=rejected)
    assert list(plan.genesys_creates["crm_id"]) == ["c2"]
    assert "workPhone is not an object" in set(plan.rejected["reason"])


def test_manual_conflict_round_trip_hold_decide_apply_then_quiet() -> None:
    policy = make_policy("bidirectional", fields={"first_name": {"conflict": "manual"}})
    c = crm({"record_id": "c1", **ANN, "first_name": "Anne"})
    g = genesys({"record_id": "g1", "crm_id": "c1", **ANN, "first_name": "Annie"})
    lk, base = links(("c1", "g1")), base_of("c1", "g1", **ANN, account_id=None, lead_score=None, tags=None)

    held = reconcile(c, g, policy, links=lk, base=base)
    assert held.is_empty() and held.conflicts["held"].tolist() == [True]

    decisions = pd.DataFrame([{"crm_id": "c1", "field": "first_name", "use": "value", "value": "Ann-Marie"}])
    decided = reconcile(c, g, policy, links=lk, base=base, decisions=decisions)
    assert set(decided.genesys_updates["value"]) == {"Ann-Marie"} and set(decided.crm_updates["value"]) == {"Ann-Marie"}

    c2, g2, lk2, base2 = apply_plan(decided, c, g, lk, base, at(30))
    assert reconcile(c2, g2, policy, links=lk2, base=base2, decisions=decisions).is_empty()


def test_first_run_then_second_run_is_empty() -> None:
    c = crm(
        {"record_id": "c1", **ANN, "tags": "vip"},
        {
            "record_id": "c2",
            "first_name": "Bob",
            "last_name": "Ek",
            "email": "bob@x.com",
            "phone": "212 555 0100",
            "lead_score": 7,
        },
        {"record_id": "c3", "first_name": "Cy", "email": "cy@x.com"},
    )
    g = genesys(
        {"record_id": "g1", **ANN, "email": "ANN@X.COM", "phone": "(415) 555-0101", "tags": "gold"},
        {"record_id": "g2", "first_name": "Robert", "last_name": "Ek", "phone": "+1 212-555-0100"},
    )
    policy = make_policy("bidirectional")
    first = reconcile(c, g, policy)
    assert first.new_links[["crm_id", "genesys_id", "rule"]].to_dict("records") == [
        {"crm_id": "c1", "genesys_id": "g1", "rule": "email"},
        {"crm_id": "c2", "genesys_id": "g2", "rule": "phone"},
    ]
    assert list(first.genesys_creates["crm_id"]) == ["c3"]
    # A first link whose sides differ is a baseline difference settled by policy (here last write wins), not a conflict.
    assert first.baseline_differences > 0 and first.conflict_count() == 0 and first.held_count() == 0
    c2, g2, lk, base = apply_plan(first, c, g, None, None, at(10))
    second = reconcile(c2, g2, policy, links=lk, base=base)
    assert second.is_empty(), second.reconciliation[second.reconciliation["action"] != "none"]
    assert len(second.reconciliation) == 3 * 7
