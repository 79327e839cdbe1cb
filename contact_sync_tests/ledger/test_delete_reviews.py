"""The delete review queue on SQLite and on the real PostgreSQL server (the `ledger` fixture runs each test on both):
held deletes queued once and refreshed, decided with an audit row, handed to the guard as approve/reject/wait,
marked applied, and withdrawn when their CRM record comes back."""

from __future__ import annotations

import pandas as pd
import pytest

from contact_sync.ledger import Ledger, LedgerError


def held(*pairs: tuple[str, str], action: str = "unlink", reason: str = "deleted in CRM") -> pd.DataFrame:
    return pd.DataFrame(
        {"crm_id": [c for c, _ in pairs], "genesys_id": [g for _, g in pairs], "action": action, "reason": reason}
    )


def test_held_deletes_are_queued_once_and_refreshed(ledger: Ledger) -> None:
    first = ledger.add_delete_reviews(held(("c1", "g1"), ("c2", "g2")), "salesforce", "run-1")
    again = ledger.add_delete_reviews(held(("c2", "g2"), ("c1", "g1"), reason="merged into c9"), "salesforce", "run-2")
    assert again == first[::-1] and len(set(first)) == 2
    queue = ledger.delete_reviews().set_index("crm_id")
    assert list(queue.index) == ["c1", "c2"] and set(queue["reason"]) == {"merged into c9"}
    assert set(queue["run_id"]) == {"run-1"} and set(queue["last_run_id"]) == {"run-2"}
    assert ledger.open_delete_review_count() == 2 and ledger.open_delete_review_count("dynamics") == 0
    # The same pair in another CRM is another question.
    assert len(ledger.add_delete_reviews(held(("c1", "g1")), "dynamics", "run-3")) == 1
    with pytest.raises(LedgerError, match="action must be one of unlink, delete_genesys"):
        ledger.add_delete_reviews(held(("c3", "g3"), action="drop"), "salesforce")
    with pytest.raises(LedgerError, match="crm_system must be one of"):
        ledger.add_delete_reviews(held(("c3", "g3")), "zoho")


def test_decisions_are_audited_and_reach_the_guard(ledger: Ledger) -> None:
    one, two, three = ledger.add_delete_reviews(held(("c1", "g1"), ("c2", "g2"), ("c3", "g3")), "salesforce", "r1")
    assert ledger.decide_delete(one, "approve", by="ops").status == "approved"
    assert ledger.decide_delete(two, "reject", by="ops").decided_by == "ops"
    decisions = ledger.delete_decisions("salesforce").set_index("crm_id")["decision"].to_dict()
    assert decisions == {"c1": "approve", "c2": "reject", "c3": "wait"}
    trail = ledger.audit_for_ids(["c1", "c2"])
    assert sorted(trail["reason"]) == ["delete approved", "delete rejected"]
    assert trail.set_index("crm_id").loc["c1", "new_value"]["by"] == "ops"
    # An approved delete already waiting is not approved twice; approving it again is refused, rejecting it is not.
    with pytest.raises(LedgerError, match="already approved"):
        ledger.decide_delete(one, "approve")
    with pytest.raises(LedgerError, match="a delete decision is one of approve, reject"):
        ledger.decide_delete(three, "maybe")
    with pytest.raises(LedgerError, match="no delete review with id 999"):
        ledger.decide_delete(999, "approve")
    # A run that carried it out marks it applied; an applied review cannot be decided again.
    assert ledger.mark_deletes_applied([one, three], "r2") == 1  # three is open, not approved
    assert ledger.delete_review(one).applied_run_id == "r2"
    with pytest.raises(LedgerError, match="already applied by run r2"):
        ledger.decide_delete(one, "reject")
    # A re-queued pair that is already approved is left as it is.
    ledger.decide_delete(three, "approve")
    assert ledger.add_delete_reviews(held(("c3", "g3")), "salesforce", "r3") == []
    assert ledger.delete_review(three).status == "approved"


def test_reviews_whose_crm_record_came_back_are_withdrawn_within_the_runs_scope(ledger: Ledger) -> None:
    one, two, _ = ledger.add_delete_reviews(held(("c1", "g1"), ("c2", "g2"), ("c3", "g3")), "salesforce", "r1")
    ledger.decide_delete(two, "reject")
    # A cohort run that sees only c1 and c2 and still holds c1: c2 (rejected, its record is back) is withdrawn,
    # c3 is outside the cohort and stays open.
    assert ledger.withdraw_delete_reviews("salesforce", held(("c1", "g1")), ["c1", "c2"], "r2") == 1
    status = ledger.delete_reviews(status="all").set_index("crm_id")["status"].to_dict()
    assert status == {"c1": "open", "c2": "withdrawn", "c3": "open"}
    assert ledger.withdraw_delete_reviews("salesforce", held(), None, "r3") == 2
    assert ledger.open_delete_review_count() == 0
    with pytest.raises(LedgerError, match="already withdrawn"):
        ledger.decide_delete(one, "approve")
    assert len(ledger.delete_reviews(ids=["g3"], status="all")) == 1
    with pytest.raises(LedgerError, match="status must be one of open, approved"):
        ledger.delete_reviews(status="maybe")
