"""The data behind `contact-sync status`: recent runs with their counts, the health score, open conflicts and recent
alerts, from the ledger; runs the Dagster instance knows but the ledger never recorded (a run that failed before its
plan, so before its ledger entry) are merged in by the caller through `merge_dagster_runs`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import pandas as pd

from contact_sync.ledger import Ledger, RunRecord
from contact_sync.ledger.store import DURATION_POINTS_PER_S, HEALTH_WINDOW, health_score

RUNS_SHOWN: Final = 10
HEALTH_FORMULA: Final = (
    f"max(0, 100 - 5 * avg_errors - avg_duration_s / {1 / DURATION_POINTS_PER_S:g}) over the last {HEALTH_WINDOW} "
    "finished runs (dry runs excluded)"
)
CONFLICTS_SHOWN: Final = 5
ALERTS_SHOWN: Final = 10


def _total(value: Any) -> int:
    """A count that may be split per system ({"genesys": 2, "crm": 1}) as one number."""
    if isinstance(value, Mapping):
        return sum(_total(v) for v in value.values())
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _iso(value: datetime | pd.Timestamp | None) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()


def run_summary(run: RunRecord) -> dict[str, Any]:
    """One run as status shows it: what it created, updated, skipped, failed on and found, and how long it took."""
    counts = run.counts
    return {
        "run_id": run.run_id,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "mode": run.mode,
        "cohort": run.cohort,
        "status": run.status,
        "created": _total(counts.get("created")),
        "updated": _total(counts.get("updated")),
        "skipped": _total(counts.get("skipped")),
        "errors": run.errors,
        "conflicts": run.conflicts,
        "duration_s": None if run.duration_s is None else round(float(run.duration_s), 3),
        "error": run.error_summary,
        "source": "ledger",
    }


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, str | list | dict) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return _iso(value)
    return value.item() if hasattr(value, "item") else value


def sync_status(
    ledger: Ledger,
    health_threshold: float,
    *,
    runs: int = RUNS_SHOWN,
    conflicts: int = CONFLICTS_SHOWN,
    alerts: int = ALERTS_SHOWN,
) -> dict[str, Any]:
    """Everything status reports that the ledger holds, as plain JSON-able data, newest first."""
    recent = [r for r in ledger.recent_runs(runs) if not r.dry_run]
    score = ledger.health_score()
    held = ledger.open_conflicts()
    top = held.sort_values("id", ascending=False).head(conflicts)
    shown = ["id", "crm_id", "genesys_id", "field", "crm_value", "genesys_value", "policy", "created_at", "run_id"]
    return {
        "runs": [run_summary(r) for r in recent],
        "health": {
            "score": None if score is None else round(score, 1),
            "threshold": health_threshold,
            "healthy": None if score is None else score >= health_threshold,
            "window": HEALTH_WINDOW,
            "formula": HEALTH_FORMULA,
        },
        "waiting_for_review": {
            "match_pairs": ledger.open_match_review_count(),
            "deletes": ledger.open_delete_review_count(),
        },
        "open_conflicts": {
            "count": len(held),
            "latest": [{k: _plain(v) for k, v in row.items()} for row in top[shown].to_dict("records")],
        },
        "alerts": [
            {
                "at": _iso(a.at),
                "kind": a.kind,
                "message": a.message,
                "run_id": a.run_id,
                "delivered": a.delivered,
            }
            for a in ledger.recent_alerts(alerts)
        ],
    }


def merge_dagster_runs(
    status: dict[str, Any], dagster_runs: Sequence[Mapping[str, Any]], limit: int = RUNS_SHOWN
) -> dict[str, Any]:
    """Add the Dagster runs the ledger lacks, and take Dagster's word for runs the ledger still has as "running"
    though Dagster saw them end. `dagster_runs`: {"run_id", "status" (success/failure/running...), "started_at",
    "finished_at", "mode", "cohort", "error"}."""
    by_id = {r["run_id"]: r for r in status["runs"]}
    merged = list(status["runs"])
    for run in dagster_runs:
        known = by_id.get(run["run_id"])
        if known is None:
            merged.append(
                {
                    "run_id": run["run_id"],
                    "started_at": run.get("started_at"),
                    "finished_at": run.get("finished_at"),
                    "mode": run.get("mode"),
                    "cohort": run.get("cohort"),
                    "status": run["status"],
                    "created": None,
                    "updated": None,
                    "skipped": None,
                    "errors": None,
                    "conflicts": None,
                    "duration_s": run.get("duration_s"),
                    "error": run.get("error"),
                    "source": "dagster",
                }
            )
        elif known["status"] == "running" and run["status"] in ("success", "failure", "canceled"):
            known["status"] = run["status"]
            known["error"] = known["error"] or run.get("error")
    merged.sort(key=lambda r: r.get("started_at") or "", reverse=True)
    return {**status, "runs": merged[:limit]}


def health_rows(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """The finished, non-dry runs as the health view's table, newest first: the status figures of each run plus its
    API calls and the score that run alone would give (`run_score`), so a bad run stands out in the window."""
    rows = []
    for run in runs:
        if run.dry_run or run.status not in ("success", "failure"):
            continue
        summary = run_summary(run)
        rows.append(
            {
                **{k: summary[k] for k in ("run_id", "started_at", "mode", "cohort", "status")},
                **{k: summary[k] for k in ("created", "updated", "skipped", "errors", "conflicts")},
                "duration_s": summary["duration_s"] or 0.0,
                "api_calls": _total(run.api_calls),
                "run_score": round(health_score([run.errors], [run.duration_s or 0.0]) or 0.0, 1),
            }
        )
    columns = ["run_id", "started_at", "mode", "cohort", "status", "created", "updated", "skipped", "errors"]
    return pd.DataFrame(rows, columns=[*columns, "conflicts", "duration_s", "api_calls", "run_score"])
