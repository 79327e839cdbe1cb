"""`contact-sync sync`: one sync run through Dagster (it shows in the UI), reported as a table or as one JSON line.

Exit status 0 when the run succeeded, per-record errors included (they are counted and alerted); 1 when it failed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final, get_args

import click
import pandas as pd
from rich.table import Table

from contact_sync.cli.environment import home_warning
from contact_sync.cli.launch import print_table
from contact_sync.sync.policy import Mode

if TYPE_CHECKING:
    from rich.console import Console

    from contact_sync.launcher import SyncOutcome
    from contact_sync.sync.plan import SyncPlan

PLAN_PREVIEW_ROWS: Final = 20
PLAN_COLUMNS: Final = ("crm_id", "genesys_id", "field", "crm_value", "genesys_value", "winner", "action", "new_value")
ID_COLUMNS: Final = ("crm_id", "genesys_id")
"""Never cut or folded in a table: they are what `trace` takes."""


@click.command()
@click.option(
    "--mode",
    type=click.Choice(get_args(Mode)),
    default=None,
    help="one_way (CRM -> Genesys) or bidirectional. Default: CONTACT_SYNC_MODE, else one_way.",
)
@click.option(
    "--cohort", default=None, help="Rollout cohort to sync (see `cohort list`). Default: CONTACT_SYNC_COHORT, else all."
)
@click.option("--dry-run", is_flag=True, help="Compute and show the whole plan; write nothing anywhere.")
@click.option(
    "--full",
    is_flag=True,
    help="Decide every record of the cohort, not only those that can have changed since its last run (comparison "
    "and repair: the plans are the same).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run report as one JSON object (the last line).")
@click.option("-v", "--verbose", is_flag=True, help="Show the run's Dagster log (INFO and up) on stderr.")
def sync(mode: Mode | None, cohort: str | None, dry_run: bool, full: bool, as_json: bool, verbose: bool) -> None:
    """Run one sync (through Dagster: it appears in the UI of the same DAGSTER_HOME)."""
    from contact_sync.cli.launch import console
    from contact_sync.cli.progress import command_progress
    from contact_sync.launcher import run_sync  # Dagster loads only when a run is asked for

    with command_progress():
        outcome = run_sync(mode, cohort, dry_run=dry_run, full=full, log_level="INFO" if verbose else "CRITICAL")
    warning = home_warning(outcome.dagster_home) if outcome.dagster_home is not None else None
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(outcome.report, default=str))
    else:
        show(outcome, console())
    if not outcome.succeeded:
        click.echo(f"Error: sync run {outcome.run_id} failed: {outcome.error}", err=True)
        raise SystemExit(1)


def show(outcome: SyncOutcome, console: Console) -> None:
    """The readable report: counts per side, then (dry run) the plan."""
    report = outcome.report
    verb = "would do" if outcome.dry_run else "did"
    state = "[green]succeeded[/green]" if outcome.succeeded else "[red]failed[/red]"
    console.print(
        f"Sync run {report['run_id']} {state} ({report['mode']}, cohort {report['cohort']}"
        f"{', dry run: nothing written' if outcome.dry_run else ''}) in {report['duration_s']:.1f} s"
    )
    if not outcome.succeeded:
        for alert in outcome.alerts:
            console.print(f"[bold red]alert[/] {alert}", highlight=False)
        return
    if outcome.simulated:
        console.print("[bold yellow]Against the BUILT-IN SIMULATORS (no CRM or Genesys credentials are set)[/]")
    table = Table(title=f"What the run {verb}")
    table.add_column("")
    table.add_column("Genesys", justify="right")
    table.add_column("CRM", justify="right")
    for key in ("created", "updated", "deleted"):
        table.add_row(key, str(report[key].get("genesys", 0)), str(report[key].get("crm", 0)))
    print_table(console, table)
    totals = Table(show_header=False)
    for key in ("unlinked", "skipped", "errors", "conflicts"):
        totals.add_row(key, str(report[key]))
    if report.get("conflicts_held"):
        totals.add_row("held for a person", f"{report['conflicts_held']} (contact-sync conflicts list)")
    if report.get("baseline_differences"):
        totals.add_row("baseline differences", f"{report['baseline_differences']} (first links, settled by policy)")
    if report.get("held_deletes"):
        totals.add_row("held by the mass-delete guard", f"{report['held_deletes']} (contact-sync deletes list)")
    if report.get("match_review"):
        totals.add_row("held for match review", f"{report['match_review']} (contact-sync matches list)")
    for side, label in (("crm", "CRM"), ("genesys", "Genesys")):
        read = (report.get("read") or {}).get(side)
        if read:
            totals.add_row(f"read from {label}", f"{read['records']:,} records ({read['how']})")
    if report.get("decided"):
        totals.add_row("decided", f"{report['decided']['records']:,} records ({report['decided']['how']})")
    totals.add_row("API calls", str(sum(int(n) for n in report["api_calls"].values())))
    if outcome.health_score is not None:
        totals.add_row("health score", f"{outcome.health_score:.1f}")
    print_table(console, totals)
    failures = report.get("failures") or []
    _print_records(console, f"Records that failed ({len(failures)} shown; each was left as it was)", failures)
    rejected = report.get("rejected") or []
    _print_records(console, f"Records not read ({len(rejected)}; left untouched until fixed at the source)", rejected)
    for alert in outcome.alerts:
        console.print(f"[bold red]alert[/] {alert}", highlight=False)
    if outcome.dagster_home is not None:
        console.print(f"In the Dagster UI: DAGSTER_HOME={outcome.dagster_home} dagster dev", highlight=False)
    if outcome.dry_run and outcome.plan is not None:
        show_plan(outcome.plan, console)


def _print_records(console: Console, title: str, rows: list[dict[str, str]]) -> None:
    """The report's system/record/reason rows (failures, rejected records) as a table of the first 20, if any."""
    if not rows:
        return
    table = Table(title=title)
    table.add_column("System")
    table.add_column("Record", no_wrap=True)
    table.add_column("Reason", overflow="fold")
    for row in rows[:20]:
        table.add_row(row["system"], row["record"], row["reason"])
    print_table(console, table)


def show_plan(plan: SyncPlan, console: Console) -> None:
    """Every planned action counted by field, then the first rows of the plan and its conflicts."""
    recon = plan.reconciliation
    acting = recon[recon["action"] != "none"]
    if acting.empty:
        console.print("The plan writes nothing.")
        return
    counts = acting.groupby(["action", "field"]).size().reset_index(name="rows")
    print_table(console, _table("Planned writes by action and field", counts))
    print_table(
        console,
        _table(
            f"First {min(PLAN_PREVIEW_ROWS, len(acting))} of {len(acting)} planned writes",
            acting[list(PLAN_COLUMNS)].head(PLAN_PREVIEW_ROWS),
        ),
    )
    if len(plan.conflicts):
        columns = ["crm_id", "genesys_id", "field", "crm_value", "genesys_value", "policy", "winner", "held"]
        conflicts = plan.conflicts[columns].head(PLAN_PREVIEW_ROWS)
        print_table(console, _table(f"Conflicts ({len(plan.conflicts)})", conflicts))


def _table(title: str, frame: pd.DataFrame) -> Table:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), overflow="fold", no_wrap=column in ID_COLUMNS)
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    return table


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value)
