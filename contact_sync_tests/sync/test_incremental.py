"""The incremental engine decides only what can have changed, and its plan is the full plan (hypothesis): random
worlds (``test_properties.worlds``) are synced to rest, then random change sets land on either side, and each
incremental plan is compared with a full decision of the same world."""

from __future__ import annotations

from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from contact_sync.sync.engine import reconcile, reconcile_incremental
from contact_sync.sync.incremental import DecisionState, state_key
from contact_sync.sync.normalize import normalize_phone
from contact_sync_tests.sync.engine_helpers import apply_plan, at, crm, genesys, links, make_policy
from contact_sync_tests.sync.test_properties import FIELDS, FREE_VALUES, LINKED_VALUES, policies, record, worlds

_RECORD_FRAMES = ("genesys_creates", "crm_creates")
_PAIR_FRAMES = ("genesys_updates", "crm_updates", "unlinks", "deletes", "refused_deletes", "kept_deletes",
                "new_links", "base_updates", "conflicts", "review", "ambiguous", "rejected")  # fmt: skip


def _rows(frame: pd.DataFrame, drop: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    kept = frame.drop(columns=[c for c in drop if c in frame.columns])
    return sorted(tuple(str(v) for v in row) for row in kept.astype(object).itertuples(index=False))


def plan_content(plan: Any) -> dict[str, Any]:
    """Everything a plan writes, holds or reports, order aside: the reconciliation rows with something to do, every
    write frame, the queues and reports (a duplicate group's number is only a label)."""
    recon = plan.reconciliation
    acting = recon[(recon["action"] != "none") | recon["base_update"].astype(bool)]
    content: dict[str, Any] = {name: _rows(getattr(plan, name)) for name in (*_RECORD_FRAMES, *_PAIR_FRAMES)}
    content["reconciliation"] = _rows(acting)
    content["crm_duplicates"] = _rows(plan.crm_duplicates, ("group_id",))
    content["genesys_duplicates"] = _rows(plan.genesys_duplicates, ("group_id",))
    content["delete_guard"] = plan.delete_guard
    content["baseline_differences"] = plan.baseline_differences
    return content


def assert_same_plan(incremental: Any, full: Any) -> None:
    got, want = plan_content(incremental), plan_content(full)
    for name in want:
        assert got[name] == want[name], (name, got[name], want[name])


@st.composite
def change_sets(draw: st.DrawFn, c: pd.DataFrame, g: pd.DataFrame, when: pd.Timestamp) -> tuple[Any, Any]:
    """Edits to random records of either side, a new record on either side, a CRM delete, a Genesys contact gone."""
    c, g = c.copy(), g.copy()
    for frame in (c, g):
        if frame.empty:
            continue
        for position in draw(st.lists(st.integers(0, len(frame) - 1), max_size=3, unique=True)):
            pools = draw(st.sampled_from([LINKED_VALUES, FREE_VALUES]))
            for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=2, unique=True)):
                frame.iat[position, frame.columns.get_loc(name)] = draw(st.sampled_from(pools[name]))
                frame.iat[position, frame.columns.get_loc("modified_at")] = when
    if len(c) and draw(st.booleans()):
        position = draw(st.integers(0, len(c) - 1))
        c.iat[position, c.columns.get_loc("is_deleted")] = True
        c.iat[position, c.columns.get_loc("modified_at")] = when
    if len(g) and draw(st.booleans()):
        g = g.drop(index=g.index[draw(st.integers(0, len(g) - 1))])
    new_crm = [{**draw(record(FREE_VALUES)), "record_id": f"cn{i}", "modified_at": when}
               for i in range(draw(st.integers(0, 1)))]  # fmt: skip
    new_gen = [{**draw(record(FREE_VALUES)), "record_id": f"gn{i}", "modified_at": when}
               for i in range(draw(st.integers(0, 1)))]  # fmt: skip
    if new_crm:
        c = pd.concat([c, crm(*new_crm, validate=False)], ignore_index=True)
    if new_gen:
        g = pd.concat([g, genesys(*new_gen, validate=False)], ignore_index=True)
    for frame in (c, g):
        frame["phone_e164"] = normalize_phone(frame["phone"].astype("string"), "US").astype("string")
    return c.reset_index(drop=True), g.reset_index(drop=True)


@settings(settings.get_profile("sync"))
@given(world=worlds(), policy=policies(), data=st.data())
def test_the_incremental_plan_is_the_full_plan(world: dict[str, Any], policy: Any, data: st.DataObject) -> None:
    c, g, lk, base = world["crm"], world["genesys"], world["links"], world["base"]
    key = state_key(policy, policy.mode, "all")
    state: DecisionState | None = None
    for step in range(4):
        plan, scope, state = reconcile_incremental(c, g, policy, state, key, links=lk, base=base)
        assert_same_plan(plan, reconcile(c, g, policy, links=lk, base=base))
        if step == 0:
            assert scope.how == "full"
        c, g, lk, base = apply_plan(plan, c, g, lk, base, at(100 + step))
        if step == 1:  # the world at rest, then changes land on either side
            c, g = data.draw(change_sets(c, g, at(150)))
    plan, scope, state = reconcile_incremental(c, g, policy, state, key, links=lk, base=base)
    assert scope.how == "incremental"
    assert_same_plan(plan, reconcile(c, g, policy, links=lk, base=base))


def _pair_world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    people = [
        {"first_name": f"P{i}", "last_name": f"L{i}", "email": f"p{i}@x.com", "phone": f"415 555 01{i:02d}",
         "account_id": "A1", "modified_at": at(0)}
        for i in range(6)
    ]  # fmt: skip
    c = crm(*({**p, "record_id": f"c{i}"} for i, p in enumerate(people)))
    g = genesys(*({**p, "record_id": f"g{i}", "crm_id": f"c{i}"} for i, p in enumerate(people)))
    return c, g, links(*((f"c{i}", f"g{i}") for i in range(6)))


def _settled(policy: Any) -> tuple[Any, ...]:
    c, g, lk = _pair_world()
    key = state_key(policy, policy.mode, "all")
    plan, scope, state = reconcile_incremental(c, g, policy, None, key, links=lk)
    c, g, lk, base = apply_plan(plan, c, g, lk, None, at(10))
    plan, scope, state = reconcile_incremental(c, g, policy, state, key, links=lk, base=base)
    assert plan.is_empty() and scope.how == "incremental"
    return c, g, lk, base, state, key


def test_a_world_at_rest_decides_nothing_and_an_edit_decides_its_pair_only() -> None:
    policy = make_policy("bidirectional")
    c, g, lk, base, state, key = _settled(policy)
    plan, scope, state = reconcile_incremental(c, g, policy, state, key, links=lk, base=base)
    assert scope.records == 0 and plan.is_empty()

    g.loc[g["record_id"] == "g3", ["first_name", "modified_at"]] = ["Pat", at(20)]
    plan, scope, state = reconcile_incremental(c, g, policy, state, key, links=lk, base=base)
    assert scope.records == 2, "the edited Genesys contact and its linked CRM record"
    assert list(plan.crm_updates["crm_id"]) == ["c3"]
    assert_same_plan(plan, reconcile(c, g, policy, links=lk, base=base))


def test_an_unlinked_record_taking_a_linked_ones_key_is_decided_with_it() -> None:
    policy = make_policy("one_way")
    c, g, lk, base, state, key = _settled(policy)
    newcomer = crm({"record_id": "c9", "first_name": "P2", "last_name": "L2", "email": "p2@x.com",
                    "account_id": "A1", "modified_at": at(30)})  # fmt: skip
    c = pd.concat([c, newcomer], ignore_index=True)
    plan, scope, _ = reconcile_incremental(c, g, policy, state, key, links=lk, base=base)
    decided = set(c.loc[scope.crm, "record_id"])
    assert {"c9", "c2"} <= decided and "c4" not in decided
    assert_same_plan(plan, reconcile(c, g, policy, links=lk, base=base))


def test_another_policy_or_a_forced_full_decision_decides_everything() -> None:
    policy = make_policy("one_way")
    c, g, lk, base, state, key = _settled(policy)
    _, scope, _ = reconcile_incremental(c, g, policy, state, key, links=lk, base=base, full=True)
    assert scope.how == "full" and scope.records == len(c) + len(g) and "asked" in (scope.why or "")
    other = state_key(make_policy("bidirectional"), "bidirectional", "all")
    _, scope, _ = reconcile_incremental(c, g, policy, state, other, links=lk, base=base)
    assert scope.how == "full" and "policy" in (scope.why or "")
