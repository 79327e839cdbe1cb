"""`contact-sync status [--json]`: the last runs (created/updated/skipped/errors/conflicts, duration), the health score,
open conflicts, recent alerts, and the enabled schedules with the mode and cohort they sync.

Run history, health, conflicts and alerts come from the ledger (`contact_sync.pipeline.status`); schedule states and
the runs that failed before reaching the ledger come from the Dagster instance the command line uses (`launch`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import click
import dagster as dg
import pandas as pd
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from contact_sync.cli.environment import home_warning
from contact_sync.cli.launch import console, print_table
from contact_sync.pipeline.status import merge_dagster_runs, sync_status

RUN_STATUSES: Final = {
    dg.DagsterRunStatus.SUCCESS: "success",
    dg.DagsterRunStatus.FAILURE: "failure",
    dg.DagsterRunStatus.CANCELED: "canceled",
    dg.DagsterRunStatus.CANCELING: "canceled",
    dg.DagsterRunStatus.QUEUED: "queued",
    dg.DagsterRunStatus.NOT_STARTED: "queued",
}


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else pd.Timestamp(epoch, unit="s", tz="UTC").isoformat()


def _dry_run(run: dg.DagsterRun) -> bool:
    if run.tags.get("contact_sync/dry_run") == "true":
        return True
    config = (run.run_config or {}).get("resources", {}).get("contact_sync", {}).get("config", {})
    return bool(config.get("dry_run")) if isinstance(config, Mapping) else False


def dagster_runs(instance: dg.DagsterInstance, limit: int) -> list[dict[str, Any]]:
    """The latest sync runs the instance recorded (dry runs left out), newest first."""
    from contact_sync.defs.sync.jobs import SYNC_JOBS, job_name

    found = []
    for mode in SYNC_JOBS:
        for record in instance.get_run_records(filters=dg.RunsFilter(job_name=job_name(mode)), limit=limit):
            run = record.dagster_run
            if _dry_run(run):
                continue
            found.append(
                {
                    "run_id": run.run_id,
                    "status": RUN_STATUSES.get(run.status, "running"),
                    "started_at": _iso(record.start_time or record.create_timestamp.timestamp()),
                    "finished_at": _iso(record.end_time),
                    "duration_s": round(record.end_time - record.start_time, 3)
                    if record.end_time and record.start_time
                    else None,
                    "mode": mode,
                    "cohort": run.tags.get("dagster/partition"),
                }
            )
    return sorted(found, key=lambda r: r["started_at"] or "", reverse=True)[:limit]


def schedule_states(instance: dg.DagsterInstance) -> list[dict[str, Any]]:
    """Every sync schedule, enabled or not: as turned on or off in the UI (stored in the instance), else its default
    in code."""
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import InstigatorStatus

    from contact_sync.defs.sync.schedules import SYNC_SCHEDULES

    stored = {
        state.instigator_name: state.status
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
    }
    rows = []
    for schedule in SYNC_SCHEDULES:
        state = stored.get(schedule.name)
        if state in (InstigatorStatus.RUNNING, InstigatorStatus.STOPPED):
            enabled, set_by = state == InstigatorStatus.RUNNING, "instance"
        else:
            enabled, set_by = schedule.default_status == dg.DefaultScheduleStatus.RUNNING, "code default"
        rows.append({"name": schedule.name, "cron": schedule.cron_schedule, "enabled": enabled, "set_by": set_by})
    return rows


def collect_status() -> dict[str, Any]:
    """The whole status as plain data (what `--json` prints)."""
    from contact_sync.defs.sync.schedules import configured_mode_and_cohort
    from contact_sync.launcher import LaunchError, open_instance, open_ledger, settings_from_env

    settings = settings_from_env()
    with open_ledger(settings) as ledger:
        status = sync_status(ledger, settings.health_threshold)
    mode, cohort = configured_mode_and_cohort()
    scheduling: dict[str, Any] = {"mode": mode, "cohort": cohort, "schedules": [], "error": None}
    try:
        with open_instance(settings) as instance:
            status = merge_dagster_runs(status, dagster_runs(instance, len(status["runs"]) or 10))
            scheduling["schedules"] = schedule_states(instance)
            scheduling["dagster_home"] = str(instance.root_directory)
    except LaunchError as exc:
        scheduling["error"] = str(exc)
    failed_alerts = {a["run_id"]: a["message"] for a in reversed(status["alerts"]) if a["kind"] == "run_failed"}
    for run in status["runs"]:
        if run["status"] == "failure" and not run.get("error"):
            run["error"] = failed_alerts.get(run["run_id"])
    return {**status, "scheduling": scheduling}


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _show(data: dict[str, Any]) -> None:
    out = console()
    health = data["health"]
    if health["score"] is None:
        out.print("Health score: n/a (no finished run yet)")
    else:
        word = "[green]healthy[/green]" if health["healthy"] else "[red]below threshold[/red]"
        out.print(f"Health score: [bold]{health['score']}[/bold] ({word}, threshold {health['threshold']:g})")
    runs = Table(title="Last runs (newest first)", caption="Counts: created / updated / skipped / errors / conflicts")
    runs.add_column("Run", no_wrap=True, min_width=36)  # whole: it is what `contact-sync rollback` takes
    runs.add_column("Started (UTC)", no_wrap=True, min_width=16)
    runs.add_column("Mode (cohort)")
    runs.add_column("Status", no_wrap=True)
    runs.add_column("Counts")
    runs.add_column("Seconds", no_wrap=True)
    for run in data["runs"]:
        style = {"failure": "red", "running": "yellow"}.get(run["status"], "")
        counts = [run[k] for k in ("created", "updated", "skipped", "errors", "conflicts")]
        runs.add_row(
            run["run_id"],
            _cell(run["started_at"])[:16].replace("T", " "),
            f"{_cell(run['mode'])} ({run['cohort']})" if run["cohort"] else _cell(run["mode"]),
            Text(run["status"], style=style),
            "-" if all(c is None for c in counts) else " / ".join(_cell(c) for c in counts),
            _cell(run["duration_s"]),
        )
    if data["runs"]:
        print_table(out, runs)
    else:
        out.print("No runs yet.")
    for run in data["runs"]:
        if run["error"]:
            # The error is text from a service or an exception: shown as it is, never read as Rich markup.
            out.print(f"[red]Run {run['run_id']} failed[/red]: {escape(str(run['error']))}")
    waiting = data["waiting_for_review"]
    if waiting["deletes"]:
        out.print(
            f"[yellow]Deletes held by the mass-delete guard: [bold]{waiting['deletes']}[/bold][/yellow] "
            "(contact-sync deletes list)"
        )
    if waiting["match_pairs"]:
        out.print(f"Match pairs waiting for review: [bold]{waiting['match_pairs']}[/bold] (contact-sync matches list)")
    conflicts = data["open_conflicts"]
    out.print(f"Open conflicts: [bold]{conflicts['count']}[/bold]")
    if conflicts["latest"]:
        table = Table(title="Latest open conflicts (decide with `contact-sync conflicts resolve ID`)")
        for column in ("Id", "CRM id", "Genesys id"):
            table.add_column(column, no_wrap=True)
        for column in ("Field", "CRM value", "Genesys value", "Policy"):
            table.add_column(column)
        for c in conflicts["latest"]:
            table.add_row(
                *(_cell(c[k]) for k in ("id", "crm_id", "genesys_id", "field", "crm_value", "genesys_value", "policy"))
            )
        print_table(out, table)
    if data["alerts"]:
        table = Table(title="Recent alerts (newest first)")
        table.add_column("At (UTC)", no_wrap=True, min_width=19)
        for column in ("Kind", "Message", "Webhook"):
            table.add_column(column)
        for a in data["alerts"]:
            table.add_row(
                _cell(a["at"])[:19].replace("T", " "), a["kind"], a["message"], "sent" if a["delivered"] else "-"
            )
        print_table(out, table)
    else:
        out.print("No alerts.")
    scheduling = data["scheduling"]
    if scheduling["error"]:
        out.print(f"Schedules: unknown ({scheduling['error']})")
    else:
        enabled = [f"{s['name']} ({s['cron']})" for s in scheduling["schedules"] if s["enabled"]]
        out.print(f"Enabled schedules: {', '.join(enabled) or 'none'}")
    out.print(f"Scheduled runs sync cohort [bold]{scheduling['cohort']}[/bold] in mode {scheduling['mode']}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object (one line).")
def status(as_json: bool) -> None:
    """Recent runs, health score, open conflicts, recent alerts and the enabled schedules."""
    data = collect_status()
    home = (data.get("scheduling") or {}).get("dagster_home")
    warning = home_warning(Path(home)) if home else None
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(data, default=str))
        return
    _show(data)
