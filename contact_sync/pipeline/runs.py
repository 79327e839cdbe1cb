"""A run's bookkeeping: its row in the ledger's run history, the conflicts it found (the review queue), the
decisions it applied, and the run report (the shape `contact-sync sync --json` prints)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from contact_sync.ledger import Ledger, LedgerError
from contact_sync.pipeline.planning import pending_decisions
from contact_sync.pipeline.services import Services
from contact_sync.pipeline.writes import WriteSummary
from contact_sync.sync.plan import SyncPlan


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


def skipped_count(plan: SyncPlan, genesys: WriteSummary, crm: WriteSummary) -> int:
    """Records left alone: changed since the snapshot, ambiguous matches, unreadable records, contacts with a held
    conflict, and CRM duplicates folded into their primary (not created a second time)."""
    conflicts, dups = plan.conflicts, plan.crm_duplicates
    held = int(conflicts.loc[conflicts["held"].astype(bool), "crm_id"].nunique()) if len(conflicts) else 0
    ambiguous = int(plan.ambiguous["record_id"].nunique()) if len(plan.ambiguous) else 0
    folded = int(dups.loc[~dups["is_primary"].astype(bool), "record_id"].nunique()) if len(dups) else 0
    return genesys.changed_since_read + crm.changed_since_read + ambiguous + len(plan.rejected) + held + folded


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
) -> dict[str, Any]:
    """The run report: exactly the object `contact-sync sync --json` prints as its last line."""
    return {
        "run_id": run_id,
        "status": status,
        "mode": mode,
        "cohort": cohort,
        "created": {"genesys": genesys.created, "crm": crm.created},
        "updated": {"genesys": genesys.updated, "crm": crm.updated},
        "deleted": {"genesys": genesys.deleted, "crm": crm.deleted},
        "unlinked": genesys.unlinked,
        "skipped": skipped_count(plan, genesys, crm),
        "errors": genesys.errors + crm.errors,
        "conflicts": len(plan.conflicts),
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


def conflict_table(plan: SyncPlan) -> pd.DataFrame:
    """The conflicts of a plan in the shape the conflict report shows."""
    columns = [
        "crm_id",
        "genesys_id",
        "field",
        "base",
        "crm_value",
        "genesys_value",
        "policy",
        "winner",
        "value",
        "held",
    ]
    return plan.conflicts[columns] if len(plan.conflicts) else pd.DataFrame(columns=columns)
