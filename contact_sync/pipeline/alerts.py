"""Sync-health alerts: which thresholds a run crossed, and delivery to the log, the ledger and a webhook.

Thresholds (the guide's `SyncMonitor`): more than 10 errors, a run longer than 5 minutes, a failed run, and the
health score over the last 10 runs below a configurable threshold. Conflicts alert when some wait for a person, or
when more fields conflicted than usual (more than 10 and more than 1% of the records decided); conflicts settled by
policy in ordinary numbers, and baseline differences (a first link whose sides differ), are reported, not alerted.
When `CONTACT_SYNC_ALERT_WEBHOOK` is set, each alert is also POSTed as Slack-compatible JSON (`{"text": ...}`); the
URL is a secret and never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx

from contact_sync.ledger import Ledger
from contact_sync.settings import Secret, redact

log = logging.getLogger(__name__)

MAX_ERRORS: Final = 10
MAX_DURATION_S: Final = 300.0
MAX_CONFLICTS: Final = 10
MAX_CONFLICT_SHARE: Final = 0.01


@dataclass(frozen=True)
class Alert:
    kind: str
    """One of the ledger's alert kinds: run_failed, high_errors, slow_run, low_health, conflicts, mass_delete_guard."""
    message: str
    run_id: str | None = None


def run_alerts(report: Mapping[str, Any]) -> list[Alert]:
    """Alerts a finished run's report calls for (errors > 10, duration > 300 s, failure, deletes held by the
    mass-delete guard, conflicts found)."""
    run_id = report.get("run_id")
    where = f"run {run_id} ({report.get('mode')}, cohort {report.get('cohort')})"
    alerts = []
    if report.get("status") == "failure":
        alerts.append(Alert("run_failed", f"{where} failed", run_id))
    errors = int(report.get("errors") or 0)
    if errors > MAX_ERRORS:
        alerts.append(Alert("high_errors", f"{where}: {errors} records failed (more than {MAX_ERRORS})", run_id))
    duration = float(report.get("duration_s") or 0.0)
    if duration > MAX_DURATION_S:
        alerts.append(Alert("slow_run", f"{where} took {duration:.0f} s (more than {MAX_DURATION_S:.0f} s)", run_id))
    held = int(report.get("held_deletes") or 0)
    if report.get("delete_guard"):
        # Once per trip: deletes already waiting in the queue are in `status`, not re-alerted on every run.
        alerts.append(
            Alert(
                "mass_delete_guard",
                f"{where}: the mass-delete guard held deletes/unlinks of contacts deleted or merged in the CRM (more "
                f"than max_delete_share and max_delete_count allow); {held} wait in the delete review queue: "
                "contact-sync deletes list, then deletes approve/reject",
                run_id,
            )
        )
    conflicts, waiting = int(report.get("conflicts") or 0), int(report.get("conflicts_held") or 0)
    decided = int((report.get("decided") or {}).get("records") or 0)
    if waiting:
        alerts.append(
            Alert("conflicts", f"{where}: {waiting} conflict(s) wait for a person: contact-sync conflicts list", run_id)
        )
    elif conflicts > max(MAX_CONFLICTS, MAX_CONFLICT_SHARE * decided):
        alerts.append(
            Alert(
                "conflicts",
                f"{where}: {conflicts} conflicts, more than usual ({MAX_CONFLICTS} and {MAX_CONFLICT_SHARE:.0%} of "
                f"the {decided} records decided), settled by policy; see the conflict report",
                run_id,
            )
        )
    return alerts


def health_alert(score: float | None, threshold: float, run_id: str | None = None) -> Alert | None:
    """An alert when the health score (None before any finished run) is below `threshold`."""
    if score is None or score >= threshold:
        return None
    return Alert("low_health", f"sync health score {score:.1f} is below {threshold:g} (last 10 runs)", run_id)


def send_alerts(
    alerts: Sequence[Alert],
    ledger: Ledger,
    webhook: Secret | None = None,
    *,
    logger: logging.Logger | Any = log,
    timeout: float = 10.0,
) -> list[int]:
    """Log each alert, record it in the ledger, and POST it to the webhook when one is set; returns the alert ids.
    A webhook that fails is logged (without its URL) and the alert stays recorded as not delivered."""
    ids = []
    for alert in alerts:
        logger.warning(f"contact-sync alert [{alert.kind}]: {alert.message}")
        alert_id = ledger.add_alert(alert.kind, alert.message, alert.run_id)
        ids.append(alert_id)
        if webhook is None:
            continue
        try:
            response = httpx.post(
                webhook.reveal(), json={"text": f"contact-sync [{alert.kind}] {alert.message}"}, timeout=timeout
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            logger.warning(f"alert webhook failed: {redact(str(exc), [webhook])}")
            continue
        ledger.mark_alert_delivered(alert_id)
    return ids
