"""The reconciliation frame and the write plan: creates, updates, conflicts, deletes and the mass-delete guard."""

from __future__ import annotations

import pandas as pd
import pandera.errors
import pytest

from contact_sync.sync.engine import reconcile
from contact_sync.sync.plan import ReconciliationRow
from contact_sync_tests.sync.engine_helpers import apply_plan, at, base_of, crm, genesys, links, make_policy

FIELDS = ["first_name", "last_name", "email", "phone", "account_id", "lead_score", "tags"]


BO = {"first_name": "Bo", "last_name": "Ek"}


def test_genesys_create_carries_the_link_and_every_mapped_field() -> None:
    c = crm({"record_id": "c1", "first_name": "Ann", "last_name": "Lee", "email": "ann@x.com", "phone": "415 555 0101",
             "account_id": "A1", "lead_score": 42.0, "tags": "vip"})  # fmt: skip
    plan = reconcile(c, genesys(), make_policy("one_way"))
    creates = plan.genesys_creates
    assert list(creates.columns) == ["crm_id", *FIELDS]
    expected = {"crm_id": "c1", "first_name": "Ann", "last_name": "Lee", "email": "ann@x.com", "phone": "415 555 0101",
                "account_id": "A1", "lead_score": 42.0, "tags": "vip"}  # fmt: skip
    assert creates.iloc[0].to_dict() == expected
    # Its base is recorded once the writer knows the new Genesys id.
    assert len(plan.base_updates) == len(FIELDS) and plan.base_updates["genesys_id"].isna().all()
    assert plan.genesys_updates.empty and plan.new_links.empty


def test_crm_duplicates_create_one_genesys_contact() -> None:
    c = crm(
        {"record_id": "c1", "email": "ann@x.com", "created_at": at(0)},
        {"record_id": "c2", "email": "ANN@x.com", "created_at": at(3)},
        {"record_id": "c3", **BO, "email": "bob@x.com", "phone": "415 555 0101", "created_at": at(0)},
        {"record_id": "c4", **BO, "phone": "(415) 555-0101", "created_at": at(1)},
    )
    plan = reconcile(c, genesys(), make_policy("one_way"))
    assert sorted(plan.genesys_creates["crm_id"]) == ["c1", "c3"]
    assert set(plan.crm_duplicates["record_id"]) == {"c1", "c2", "c3", "c4"}


def test_ambiguous_records_get_nothing_written() -> None:
    c = crm({"record_id": "c1", "email": "a@x.com", "first_name": "New"})
    g = genesys({"record_id": "g1", "email": "a@x.com"}, {"record_id": "g2", "email": "a@x.com"})
    plan = reconcile(c, g, make_policy("bidirectional"))
    assert plan.reconciliation.empty
    assert plan.is_empty()
    assert set(zip(plan.review["crm_id"], plan.review["genesys_id"], strict=True)) == {("c1", "g1"), ("c1", "g2")}


def test_updates_hold_only_changed_fields_and_crm_updates_only_in_bidirectional_mode() -> None:
    c = crm({"record_id": "c1", "first_name": "Anne", "email": "a@x.com"})
    g = genesys({"record_id": "g1", "crm_id": "c1", "first_name": "Ann", "email": "new@x.com"})
    base = base_of("c1", "g1", first_name="Ann", email="a@x.com", last_name=None, phone=None, account_id=None,
                   lead_score=None, tags=None)  # fmt: skip
    plan = reconcile(c, g, make_policy("bidirectional"), links=links(("c1", "g1")), base=base)
    assert plan.genesys_updates[["genesys_id", "field", "value", "old_value"]].to_dict("records") == [
        {"genesys_id": "g1", "field": "first_name", "value": "Anne", "old_value": "Ann"}
    ]
    assert plan.crm_updates[["crm_id", "field", "value", "old_value"]].to_dict("records") == [
        {"crm_id": "c1", "field": "email", "value": "new@x.com", "old_value": "a@x.com"}
    ]
    one_way = reconcile(c, g, make_policy("one_way"), links=links(("c1", "g1")), base=base)
    assert one_way.crm_updates.empty
    assert set(one_way.genesys_updates["field"]) == {"first_name", "email"}


def test_crm_creates_only_when_the_policy_says_so() -> None:
    g = genesys(
        {"record_id": "g1", "first_name": "Walk", "last_name": "In", "email": "walk@in.com"},
        {"record_id": "g2", "crm_id": "c-gone", "email": "orphan@x.com"},
    )
    assert reconcile(crm(), g, make_policy("bidirectional")).crm_creates.empty
    assert reconcile(crm(), g, make_policy("one_way", create_crm_from_genesys=True)).crm_creates.empty
    plan = reconcile(crm(), g, make_policy("bidirectional", create_crm_from_genesys=True))
    # g2 names a CRM id already: it is never copied into a new CRM record.
    assert plan.crm_creates[["genesys_id", "first_name", "email"]].to_dict("records") == [
        {"genesys_id": "g1", "first_name": "Walk", "email": "walk@in.com"}
    ]


def test_genesys_duplicates_create_one_crm_contact_and_the_next_run_is_empty() -> None:
    # One walk-in entered twice in Genesys (same email and phone): only the group's primary (oldest, then lowest id)
    # becomes a CRM contact; the twin is reported as its duplicate, and the next run has nothing left to do.
    twin = {"first_name": "Ann", "last_name": "Lee", "email": "p@y.com", "phone": "646 555 0111", "account_id": "A1"}
    g = genesys({**twin, "record_id": "gf1", "created_at": at(5)}, {**twin, "record_id": "gf0", "created_at": at(5)},
                {**twin, "record_id": "gf2", "email": "P@Y.com", "created_at": at(9)})  # fmt: skip
    policy = make_policy("bidirectional", create_crm_from_genesys=True)
    plan = reconcile(crm(), g, policy)
    assert list(plan.crm_creates["genesys_id"]) == ["gf0"]
    assert set(plan.reconciliation["genesys_id"]) == {"gf0"}
    dups = plan.genesys_duplicates
    assert set(dups.loc[~dups["is_primary"], "record_id"]) == {"gf1", "gf2"}
    assert set(dups["primary_id"]) == {"gf0"}

    c2, g2, lk, base = apply_plan(plan, crm(), g, None, None, at(100))
    assert len(c2) == 1 and lk.to_dict("records") == [{"crm_id": c2["record_id"].iloc[0], "genesys_id": "gf0"}]
    again = reconcile(c2, g2, policy, links=lk, base=base)
    assert again.is_empty(), again.summary()
    assert again.crm_creates.empty


def test_a_genesys_twin_of_a_matched_contact_is_not_created_in_the_crm() -> None:
    # g2 shares its phone with g1, which matched c1 by email: g2 is the same person, not a new CRM contact.
    c = crm({"record_id": "c1", **BO, "email": "a@x.com"})
    g = genesys({"record_id": "g1", **BO, "email": "a@x.com", "phone": "646 555 0111"},
                {"record_id": "g2", **BO, "email": "other@x.com", "phone": "+16465550111"})  # fmt: skip
    plan = reconcile(c, g, make_policy("bidirectional", create_crm_from_genesys=True))
    assert plan.crm_creates.empty
    assert plan.new_links[["crm_id", "genesys_id"]].to_dict("records") == [{"crm_id": "c1", "genesys_id": "g1"}]
    dups = plan.genesys_duplicates
    assert dups.set_index("record_id").loc["g2", "primary_id"] == "g1"


def test_a_genesys_contact_whose_phone_a_crm_duplicate_holds_is_not_created_in_the_crm() -> None:
    # c2 is c1's secondary (same email) so it matches nothing; g2 has c2's phone. The phone write from c1 to g1
    # ends g1 and g2 being Genesys twins, so only the CRM's own phone tells that g2 is already in the CRM:
    # creating it now or on the next run would make a CRM duplicate.
    c = crm({"record_id": "c1", **BO, "email": "p@y.com", "phone": "646 555 0122"},
            {"record_id": "c2", **BO, "email": "p@y.com", "phone": "646 555 0111", "created_at": at(1)})  # fmt: skip
    g = genesys({"record_id": "g1", **BO, "email": "p@y.com", "phone": "646 555 0111"},
                {"record_id": "g2", **BO, "email": "q@y.com", "phone": "646 555 0111"})  # fmt: skip
    policy = make_policy("bidirectional", create_crm_from_genesys=True)
    plan = reconcile(c, g, policy)
    assert plan.crm_creates.empty and plan.genesys_creates.empty
    c2, g2, lk, base = apply_plan(plan, c, g, None, None, at(100))
    assert g2.set_index("record_id").loc["g1", "phone"] == "646 555 0122"
    again = reconcile(c2, g2, policy, links=lk, base=base)
    assert again.is_empty(), again.summary()


def test_a_genesys_duplicate_of_a_contact_deleted_in_the_crm_is_not_created_back() -> None:
    # c1 was deleted in the CRM, so its linked Genesys contact g1 is deleted; g2 is g1's duplicate (same phone).
    # Creating g2 in the CRM, now or once g1 is gone, would bring back the person the CRM removed.
    c = crm({"record_id": "c1", **BO, "email": "a@x.com", "phone": "646 555 0111", "is_deleted": True})
    g = genesys({"record_id": "g1", **BO, "crm_id": "c1", "email": "a@x.com", "phone": "646 555 0111"},
                {"record_id": "g2", **BO, "email": "b@x.com", "phone": "+16465550111"})  # fmt: skip
    policy = make_policy("bidirectional", create_crm_from_genesys=True, on_crm_delete="delete", max_delete_share=1.0)
    plan = reconcile(c, g, policy, links=links(("c1", "g1")))
    assert plan.deletes[["crm_id", "genesys_id"]].to_dict("records") == [{"crm_id": "c1", "genesys_id": "g1"}]
    assert plan.crm_creates.empty
    c2, g2, lk, base = apply_plan(plan, c, g, links(("c1", "g1")), None, at(100))
    assert list(g2["record_id"]) == ["g2"]
    again = reconcile(c2, g2, policy, links=lk, base=base)
    assert again.is_empty(), again.summary()
    assert again.crm_creates.empty


def test_conflicts_carry_both_versions_the_base_and_the_outcome() -> None:
    c = crm({"record_id": "c1", "email": "crm@x.com", "modified_at": at(10)})
    g = genesys({"record_id": "g1", "crm_id": "c1", "email": "gen@x.com", "modified_at": at(20)})
    plan = reconcile(
        c, g, make_policy("bidirectional"), links=links(("c1", "g1")), base=base_of("c1", "g1", email="old@x.com")
    )
    conflict = plan.conflicts.iloc[0].to_dict()
    keys = ("field", "base", "crm_value", "genesys_value", "policy", "winner", "value", "held")
    assert {k: conflict[k] for k in keys} == {
        "field": "email", "base": "old@x.com", "crm_value": "crm@x.com", "genesys_value": "gen@x.com",
        "policy": "last_write_wins", "winner": "genesys", "value": "gen@x.com", "held": False,
    }  # fmt: skip
    assert conflict["genesys_modified_at"] == at(20)


def _linked_world(n: int, deleted: int, merged: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rows = []
    for i in range(n):
        row = {"record_id": f"c{i}", "email": f"p{i}@x.com"}
        if i < deleted:
            row["is_deleted"] = True
        if deleted <= i < deleted + merged:
            row.update(is_deleted=True, merged_into=f"c{n - 1}")
        rows.append(row)
    g = genesys(*({"record_id": f"g{i}", "crm_id": f"c{i}", "email": f"p{i}@x.com"} for i in range(n)))
    return crm(*rows), g, links(*((f"c{i}", f"g{i}") for i in range(n)))


def test_crm_delete_and_merge_unlink_and_report_by_default() -> None:
    c, g, lk = _linked_world(40, deleted=1, merged=1)
    plan = reconcile(c, g, make_policy("one_way"), links=lk)
    assert plan.unlinks.to_dict("records") == [
        {"crm_id": "c0", "genesys_id": "g0", "reason": "deleted in CRM"},
        {"crm_id": "c1", "genesys_id": "g1", "reason": "merged into c39"},
    ]
    assert plan.deletes.empty and plan.delete_guard is None
    assert plan.genesys_updates.empty


def test_delete_policy_plans_genesys_deletes() -> None:
    c, g, lk = _linked_world(40, deleted=2)
    plan = reconcile(c, g, make_policy("one_way", on_crm_delete="delete"), links=lk)
    assert sorted(plan.deletes["genesys_id"]) == ["g0", "g1"]
    assert plan.unlinks.empty


def test_mass_delete_guard_needs_both_the_share_and_the_count() -> None:
    # 1 of 3 links is a third of a small org, but one delete: not held (the share alone tripped on it before).
    c, g, lk = _linked_world(3, deleted=1)
    assert len(reconcile(c, g, make_policy("one_way"), links=lk).unlinks) == 1
    # 12 of 40: above 5% and above 10: held.
    c, g, lk = _linked_world(40, deleted=12)
    held = reconcile(c, g, make_policy("one_way"), links=lk)
    assert held.unlinks.empty and len(held.refused_deletes) == 12 and "max_delete_count 10" in held.delete_guard


def test_mass_delete_guard_refuses_and_says_why() -> None:
    c, g, lk = _linked_world(40, deleted=3)  # 3 > 5% of 40, and above a count of 0
    plan = reconcile(c, g, make_policy("one_way", on_crm_delete="delete", max_delete_count=0), links=lk)
    assert plan.deletes.empty and plan.unlinks.empty
    assert sorted(plan.refused_deletes["genesys_id"]) == ["g0", "g1", "g2"]
    assert plan.delete_guard is not None and "3 of 40" in plan.delete_guard
    assert set(plan.reconciliation.loc[plan.reconciliation["crm_id"] == "c0", "action"]) == {"hold"}
    # A looser guard lets the same deletes through.
    loose = reconcile(
        c, g, make_policy("one_way", on_crm_delete="delete", max_delete_share=0.1, max_delete_count=0), links=lk
    )
    assert len(loose.deletes) == 3 and loose.delete_guard is None


def test_new_links_carry_rule_and_score_and_known_links_are_not_repeated() -> None:
    c = crm({"record_id": "c1", "email": "a@x.com"}, {"record_id": "c2", **BO, "phone": "415 555 0101"})
    g = genesys({"record_id": "g1", "email": "A@x.com"}, {"record_id": "g2", **BO, "phone": "+14155550101"})
    plan = reconcile(c, g, make_policy("one_way"), links=links(("c1", "g1")))
    assert plan.new_links[["crm_id", "genesys_id", "rule"]].to_dict("records") == [
        {"crm_id": "c2", "genesys_id": "g2", "rule": "phone"}
    ]
    assert 0.95 <= plan.new_links["score"].iloc[0] < 1.0
    assert plan.new_links["evidence"].iloc[0] == (
        "email missing, phone equal, first name exact, last name exact, account missing -> 0.999"
    )


def test_is_empty_and_summary_counts() -> None:
    c = crm({"record_id": "c1", "email": "a@x.com"}, {"record_id": "c2", "email": "b@x.com"})
    plan = reconcile(c, genesys(), make_policy("one_way"))
    assert not plan.is_empty()
    summary = plan.summary()
    assert summary["genesys_creates"] == 2 and summary["base_updates"] == 2 * len(FIELDS)
    assert summary["genesys_updates"] == 0 and summary["conflicts"] == 0


def test_reconciliation_schema_rejects_an_unknown_action_and_a_missing_id() -> None:
    c = crm({"record_id": "c1", "email": "a@x.com"})
    recon = reconcile(c, genesys(), make_policy("one_way")).reconciliation
    assert set(recon["action"]) == {"create_genesys"}
    bad = recon.copy()
    bad.loc[0, "action"] = "overwrite_everything"
    with pytest.raises(pandera.errors.SchemaError):
        ReconciliationRow.validate(bad)
    bad = recon.copy()
    bad["action"] = "write_genesys"  # an update needs a Genesys id
    with pytest.raises(pandera.errors.SchemaError):
        ReconciliationRow.validate(bad)


def _queue(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["crm_id", "genesys_id", "decision"])


def test_the_delete_review_queue_decides_the_pairs_it_holds_and_the_guard_counts_only_new_deletes() -> None:
    c, g, lk = _linked_world(40, deleted=12)
    held = reconcile(c, g, make_policy("one_way"), links=lk)
    assert list(held.refused_deletes.columns) == ["crm_id", "genesys_id", "action", "reason"]
    assert set(held.refused_deletes["action"]) == {"unlink"}
    queue = [(f"c{i}", f"g{i}", "wait") for i in range(12)]
    # Two approved, one rejected, nine still open: the approved are unlinked although 12 > 10, the rejected pair is
    # kept, the open ones keep waiting (approving some never lets the rest through unasked), and the guard, which
    # counts only deletes the queue does not know, does not trip again.
    queue[0], queue[1], queue[2] = ("c0", "g0", "approve"), ("c1", "g1", "approve"), ("c2", "g2", "reject")
    plan = reconcile(c, g, make_policy("one_way"), links=lk, delete_decisions=_queue(*queue))
    assert sorted(plan.unlinks["crm_id"]) == ["c0", "c1"]
    assert plan.unlinks["reason"].str.endswith("approved in the delete review queue").all()
    assert (
        plan.kept_deletes["crm_id"].tolist() == ["c2"]
        and "the Genesys contact is kept" in plan.kept_deletes["reason"][0]
    )
    assert sorted(plan.refused_deletes["crm_id"]) == sorted(f"c{i}" for i in range(3, 12))
    assert plan.refused_deletes["reason"].str.endswith("waiting in the delete review queue").all()
    assert plan.delete_guard is None
    # One new delete next to the waiting ones is below the guard's count, so it goes through.
    c2, g2, lk2 = _linked_world(40, deleted=13)
    plan = reconcile(c2, g2, make_policy("one_way"), links=lk2, delete_decisions=_queue(*queue))
    assert sorted(plan.unlinks["crm_id"]) == ["c0", "c1", "c12"] and plan.delete_guard is None


def test_an_approved_delete_is_a_delete_under_the_delete_policy() -> None:
    c, g, lk = _linked_world(40, deleted=12)
    queue = _queue(*[(f"c{i}", f"g{i}", "approve") for i in range(12)])
    plan = reconcile(c, g, make_policy("one_way", on_crm_delete="delete"), links=lk, delete_decisions=queue)
    assert sorted(plan.deletes["genesys_id"]) == sorted(f"g{i}" for i in range(12))
    assert plan.refused_deletes.empty and plan.unlinks.empty


@pytest.mark.parametrize("on_crm_delete", ["unlink", "delete"])
def test_a_link_moved_by_a_merge_closes_the_old_link_and_keeps_the_genesys_contact(on_crm_delete: str) -> None:
    c = crm(
        {"record_id": "c1", "email": "a@x.com", "is_deleted": True, "merged_into": "c9"},
        {"record_id": "c9", "email": "a@x.com", "first_name": "Ann"},
    )
    g = genesys({"record_id": "g1", "crm_id": "c1", "email": "a@x.com"})
    plan = reconcile(c, g, make_policy("one_way", on_crm_delete=on_crm_delete), links=links(("c1", "g1")))
    assert plan.unlinks.to_dict("records") == [
        {"crm_id": "c1", "genesys_id": "g1", "reason": "merged into c9: the link moved to it"}
    ]
    assert plan.new_links[["crm_id", "genesys_id", "rule"]].to_dict("records") == [
        {"crm_id": "c9", "genesys_id": "g1", "rule": "merged"}
    ]
    assert plan.deletes.empty and plan.genesys_creates.empty
    assert plan.genesys_updates.set_index("field").loc["first_name", "value"] == "Ann"


def test_two_links_merged_into_one_record_wait_for_a_person_and_an_approval_lets_the_other_move() -> None:
    c = crm(
        {"record_id": "c1", "email": "a@x.com", "is_deleted": True, "merged_into": "c9"},
        {"record_id": "c2", "email": "b@x.com", "is_deleted": True, "merged_into": "c9"},
        {"record_id": "c9", "email": "a@x.com"},
    )
    g = genesys({"record_id": "g1", "crm_id": "c1", "email": "a@x.com"}, {"record_id": "g2", "crm_id": "c2"})
    policy = make_policy("one_way", on_crm_delete="delete")
    plan = reconcile(c, g, policy, links=links(("c1", "g1"), ("c2", "g2")))
    assert plan.deletes.empty and plan.unlinks.empty and plan.genesys_creates.empty
    assert sorted(plan.refused_deletes["genesys_id"]) == ["g1", "g2"]
    assert all("merged into c9 with another linked record" in r for r in plan.refused_deletes["reason"])

    # Someone approves deleting g2: it goes; c1's link then stands alone and moves to c9 on the next run.
    approved = pd.DataFrame({"crm_id": ["c2"], "genesys_id": ["g2"], "decision": ["approve"]})
    plan = reconcile(c, g, policy, links=links(("c1", "g1"), ("c2", "g2")), delete_decisions=approved)
    assert plan.deletes["genesys_id"].tolist() == ["g2"] and plan.refused_deletes["genesys_id"].tolist() == ["g1"]
    plan = reconcile(c, g.iloc[:1], policy, links=links(("c1", "g1")))
    assert plan.new_links[["crm_id", "genesys_id"]].values.tolist() == [["c9", "g1"]]
    assert plan.deletes.empty and plan.genesys_creates.empty
