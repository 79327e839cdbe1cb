"""A run's bookkeeping: its row in the ledger's run history (closing a failed one with its alert), the conflicts it
found (the review queue), the decisions it applied, and the run report (the shape `contact-sync sync --json`
prints)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from contact_sync.ledger import Ledger, LedgerError
from contact_sync.pipeline import alerts
from contact_sync.pipeline.locks import release_run_lock
from contact_sync.pipeline.planning import pair_decisions, pending_decisions
from contact_sync.pipeline.services import Services
from contact_sync.pipeline.writes import WriteSummary
from contact_sync.settings import Secret
from contact_sync.sync.matching import MatchResult
from contact_sync.sync.plan import SyncPlan

REVIEW_RECORD_FIELDS = ("first_name", "last_name", "email", "phone", "account_id")
"""The canonical values of each record a review pair stores, so a person can decide without opening both systems."""


def begin_run(ledger: Ledger, run_id: str, mode: str, cohort: str, started_at: datetime | None = None) -> None:
    """Record that a run started (once: a retried step finds it recorded already)."""
    try:
        ledger.run(run_id)
    except LedgerError:
        ledger.start_run(run_id, mode, cohort, dry_run=False, started_at=started_at)


def record_conflicts(services: Services, plan: SyncPlan, run_id: str) -> list[int]:
    """Put this run's conflicts into the ledger with both versions and the base; a conflict still waiting in the
    review queue for the same link and field (held, or decided but not yet applied) is not added twice."""
    found = plan.conflicts
    if found.empty:
        return []
    waiting = services.ledger.conflicts(ids=found["crm_id"].astype(str).unique().tolist())
    waiting = waiting[(waiting["status"] == "open") | ((waiting["status"] == "resolved") & waiting["decision"].notna())]
    if len(waiting):
        key = ["crm_id", "genesys_id", "field"]
        same = found[key].astype(str).merge(waiting[key].astype(str).drop_duplicates(), how="left", indicator=True)
        found = found[(same["_merge"] == "left_only").to_numpy()]
    if found.empty:
        return []
    rows = found.assign(
        winner=found["winner"].where(found["winner"].isin(["crm", "genesys"]), None),
        status=found["held"].map(lambda held: "open" if held else None),
    )
    return services.ledger.add_conflicts(rows, run_id)


def _record_values(contacts: pd.DataFrame, ids: pd.Series) -> list[dict[str, Any] | None]:
    """The review fields of each id's record (None for an id not in the frame), in the order of ``ids``."""
    # Only the reviewed records: the snapshot may hold a million.
    wanted = contacts[contacts["record_id"].isin(ids.astype(object).unique())]
    frame = wanted.drop_duplicates("record_id").set_index("record_id")[list(REVIEW_RECORD_FIELDS)]
    frame = frame.astype(object).where(frame.notna(), None)
    found = frame.reindex(ids.astype(object).to_numpy())
    present = found.index.isin(frame.index)
    return [row if ok else None for row, ok in zip(found.to_dict("records"), present, strict=True)]


def record_match_reviews(
    services: Services, match: MatchResult, crm: pd.DataFrame, genesys: pd.DataFrame, run_id: str
) -> int:
    """Put the pairs matching held for review into the ledger's match review queue, with both records, the score
    and the evidence; a pair already waiting is refreshed, a decided one is left as it is, and an open pair this
    run no longer held is withdrawn (matching sees every contact on every run)."""
    review = match.review
    ids: list[int] = []
    if len(review):
        rows = review.assign(
            crm_record=_record_values(crm, review["crm_id"]),
            genesys_record=_record_values(genesys, review["genesys_id"]),
        )
        ids = services.ledger.add_match_reviews(rows, services.crm.kind, run_id)
    # A released pair (past review_hold_days) stays open: released again next run, not proposed anew.
    released = pair_decisions(services)
    released = released.loc[released["decision"] == "release", "review_id"].astype(int).tolist()
    services.ledger.withdraw_match_reviews(services.crm.kind, [*ids, *released], run_id)
    return len(ids)


def apply_match_decisions(services: Services, plan: SyncPlan, run_id: str, failed: set[str]) -> int:
    """Mark the accepted pairs this run linked (the link was recorded, its writes did not fail) as applied."""
    accepted = plan.new_links[plan.new_links["rule"] == "accepted"]
    if accepted.empty:
        return 0
    ok = accepted[~accepted["crm_id"].isin(failed) & ~accepted["genesys_id"].isin(failed)]
    waiting = pair_decisions(services)
    waiting = waiting[waiting["decision"] == "accept"]
    applied = waiting.merge(ok[["crm_id", "genesys_id"]].astype(str), on=["crm_id", "genesys_id"])
    ids = applied["review_id"].astype(int).tolist()
    return services.ledger.mark_matches_applied(ids, run_id) if ids else 0


def record_delete_reviews(services: Services, plan: SyncPlan, run_id: str, crm_ids: list[str] | None) -> list[int]:
    """Put the deletes/unlinks the mass-delete guard held into the delete review queue (ones already waiting are
    refreshed), and withdraw the open or rejected reviews of the run's scope whose CRM record is back. Returns the ids
    of the open reviews."""
    ids = services.ledger.add_delete_reviews(plan.refused_deletes, services.crm.kind, run_id)
    still_held = pd.concat(
        [plan.refused_deletes[["crm_id", "genesys_id"]], plan.kept_deletes[["crm_id", "genesys_id"]]],
        ignore_index=True,
    )
    services.ledger.withdraw_delete_reviews(services.crm.kind, still_held, crm_ids, run_id)
    return ids


def apply_delete_decisions(services: Services, plan: SyncPlan, run_id: str, failed: set[str]) -> int:
    """Mark the approved deletes/unlinks this run carried out (not among the failed records) as applied."""
    done = pd.concat([plan.unlinks, plan.deletes], ignore_index=True)
    if done.empty:
        return 0
    done = done[~done["crm_id"].isin(failed) & ~done["genesys_id"].isin(failed)]
    approved = services.ledger.delete_decisions(services.crm.kind)
    approved = approved[approved["decision"] == "approve"]
    applied = approved.merge(done[["crm_id", "genesys_id"]].astype(str), on=["crm_id", "genesys_id"])
    ids = applied["review_id"].astype(int).tolist()
    return services.ledger.mark_deletes_applied(ids, run_id) if ids else 0


def apply_decisions(
    services: Services, plan: SyncPlan, run_id: str, failed: set[str], cohort_ids: list[str] | None
) -> int:
    """Mark the decisions this run wrote (their contact's writes succeeded) as applied."""
    decided = plan.reconciliation[plan.reconciliation["winner"] == "decision"]
    if decided.empty:
        return 0
    ok = decided[~decided["crm_id"].isin(failed) & ~decided["genesys_id"].isin(failed)]
    pending = pending_decisions(services, cohort_ids)
    applied = pending.merge(ok[["crm_id", "field"]].drop_duplicates(), on=["crm_id", "field"])
    return services.ledger.mark_applied(applied["id"].astype(int).tolist(), run_id) if len(applied) else 0


def skipped_count(
    plan: SyncPlan, genesys: WriteSummary, crm: WriteSummary, cohort_ids: Collection[str] | None = None
) -> int:
    """Records of the cohort (every record for None) left alone, each counted once: changed since the snapshot,
    creates whose answer was lost (the next run settles them), ambiguous links, CRM records waiting in the match
    review queue, unreadable records, contacts with a held conflict, and CRM duplicates folded into their primary
    (not created a second time). A cohort's duplicate groups and rejected records reach outside it (a twin outside
    still decides who is primary); those outside are not this run's to count, so created + updated + skipped of a
    one-way cohort run never exceeds its records."""
    conflicts, dups, rejected = plan.conflicts, plan.crm_duplicates, plan.rejected
    left: set[str] = set()
    if len(conflicts):
        left |= {f"crm:{i}" for i in conflicts.loc[conflicts["held"].astype(bool), "crm_id"]}
    if len(plan.ambiguous):
        left |= {f"{s}:{i}" for s, i in zip(plan.ambiguous["system"], plan.ambiguous["record_id"], strict=True)}
    if len(plan.review):
        left |= {f"crm:{i}" for i in plan.review["crm_id"]}
    if len(dups):
        left |= {f"crm:{i}" for i in dups.loc[~dups["is_primary"].astype(bool), "record_id"]}
    if len(rejected):
        system = np.where(rejected["system"].astype(str).eq("genesys"), "genesys", "crm")
        left |= {f"{s}:{i}" for s, i in zip(system, rejected["record_id"].astype(str), strict=True)}
    if cohort_ids is not None:
        cohort = {f"crm:{i}" for i in cohort_ids}
        left = {key for key in left if key in cohort}  # Genesys-only records belong to no cohort
    unsettled = genesys.changed_since_read + crm.changed_since_read + genesys.unconfirmed
    return unsettled + len(left)


def failure_rows(*summaries: WriteSummary | None) -> list[dict[str, str]]:
    """system, record, reason of each failed record the write summaries kept (the report's "failures")."""
    return [
        {"system": summary.system, "record": f["key"], "reason": f["message"]}
        for summary in summaries
        if summary is not None
        for f in summary.failures
    ]


def rejected_rows(plan: SyncPlan) -> list[dict[str, str]]:
    """system, record, reason of each record the run could not read and left untouched (the report's "rejected");
    a record whose id itself was unreadable says so, with the CRM id it claims when it names one."""
    rows = []
    for row in plan.rejected.drop_duplicates(["system", "record_id", "reason"]).to_dict("records"):
        record = row["record_id"] if isinstance(row["record_id"], str) else None
        if record is None:
            claims = row.get("crm_id")
            record = f"(no readable id; claims CRM {claims})" if isinstance(claims, str) else "(no readable id)"
        rows.append({"system": str(row["system"]), "record": record, "reason": str(row["reason"])})
    return rows


def plan_figures(plan: SyncPlan | None) -> dict[str, Any]:
    """The run report's figures that come from the plan (zero without one: a run that failed before its plan)."""
    if plan is None:
        return {
            "conflicts": 0,
            "conflicts_held": 0,
            "baseline_differences": 0,
            "match_review": 0,
            "held_deletes": 0,
            "delete_guard": None,
            "rejected": [],
            "read": {},
            "decided": {"records": 0, "how": "full"},
        }
    return {
        "conflicts": plan.conflict_count(),
        "conflicts_held": plan.held_count(),
        "baseline_differences": plan.baseline_differences,
        "match_review": len(plan.review),
        "held_deletes": len(plan.refused_deletes),
        "delete_guard": plan.delete_guard,
        "rejected": rejected_rows(plan),
        "read": plan.reads,
        "decided": plan.decision or {"records": plan.decided_records(), "how": "full"},
    }


def run_report(
    *,
    run_id: str,
    status: str,
    mode: str,
    cohort: str,
    plan: SyncPlan,
    genesys: WriteSummary,
    crm: WriteSummary,
    duration_s: float,
    api_calls: Mapping[str, int],
    cohort_ids: Collection[str] | None = None,
) -> dict[str, Any]:
    """The run report: exactly the object `contact-sync sync --json` prints as its last line. `cohort_ids`: the
    cohort's CRM ids (None for every record), the scope of `skipped`."""
    return {
        "run_id": run_id,
        "status": status,
        "mode": mode,
        "cohort": cohort,
        "created": {"genesys": genesys.created, "crm": crm.created},
        "updated": {"genesys": genesys.updated, "crm": crm.updated},
        "deleted": {"genesys": genesys.deleted, "crm": crm.deleted},
        "unlinked": genesys.unlinked,
        "skipped": skipped_count(plan, genesys, crm, cohort_ids),
        "errors": genesys.errors + crm.errors,
        **plan_figures(plan),
        "failures": failure_rows(genesys, crm),
        "duration_s": round(float(duration_s), 3),
        "api_calls": dict(api_calls),
    }


def finish_run(ledger: Ledger, report: Mapping[str, Any], error_summary: str | None = None) -> None:
    """Close the run's history row with the report's counts (errors and conflicts feed the health score)."""
    counts = {k: report[k] for k in ("created", "updated", "deleted", "unlinked", "skipped", "errors", "conflicts")}
    ledger.finish_run(
        report["run_id"],
        "success" if report["status"] == "success" else "failure",
        counts=counts,
        duration_s=report["duration_s"],
        api_calls=report["api_calls"],
        error_summary=error_summary,
    )


def fail_run(
    ledger: Ledger,
    pair: str,
    run_id: str,
    where: str,
    error: str,
    webhook: Secret | None,
    logger: logging.Logger | Any,
    report: Mapping[str, Any] | None = None,
    record: bool = True,
) -> None:
    """End a sync run that failed, wherever it failed (a step, in the CLI or the UI; a process that died): the one
    place the launcher and the failure sensor do it. Its pair's run lock is given back; unless `record` is False (a
    dry run) its history row is closed and its `run_failed` alert sent ("<where> failed: <error>").

    With the run's `report` (the launcher's), the row gets the counts of the steps that finished, and a run that
    failed before its plan step recorded it is recorded first, so the health score counts it. Without one (the
    sensor's), a run the ledger never recorded (a dry run, or a failure that early) is only alerted on."""
    release_run_lock(ledger, pair, run_id)
    if not record:
        return
    try:
        still_open = ledger.run(run_id).status == "running"
    except LedgerError:
        still_open = report is not None
        if report is not None:
            ledger.start_run(run_id, report["mode"], report["cohort"])
    if still_open:
        if report is not None:
            finish_run(ledger, report, error_summary=error[:2000])
        else:
            ledger.finish_run(run_id, "failure", error_summary=error[:2000])
    alert = alerts.Alert("run_failed", f"{where} failed: {error[:500]}", run_id)
    alerts.send_alerts([alert], ledger, webhook, logger=logger)


def conflict_table(plan: SyncPlan) -> pd.DataFrame:
    """The conflicts of a plan in the shape the conflict report shows: the values first (what a person compares),
    the ids last (long, and only needed to look a record up)."""
    columns = [
        "field",
        "crm_value",
        "genesys_value",
        "base",
        "winner",
        "value",
        "policy",
        "held",
        "baseline",
        "crm_id",
        "genesys_id",
    ]
    return plan.conflicts[columns] if len(plan.conflicts) else pd.DataFrame(columns=columns)
