"""`contact-sync rollback RUN_ID [--dry-run] [--delete-created] [--json]`: put back the values a sync run wrote, as a
new audited run (see `contact_sync.pipeline.rollback` for what is restored, refused and kept).

`--dry-run` shows the whole plan and writes nothing. Exit status 0 when the rollback ran (fields refused because they
changed since are listed, not errors), 1 when a write failed, and a one-line error for a run that cannot be rolled
back (unknown id, a rollback run, a dry run, nothing written, already rolled back).
"""

from __future__ import annotations

import json
from typing import Any

import click
import pandas as pd
from rich.table import Table
from rich.text import Text

from contact_sync.cli.launch import console, print_table
from contact_sync.pipeline.rollback import Rollback


def _text(value: Any) -> str:
    return "(empty)" if value is None or (not isinstance(value, str | list | dict) and pd.isna(value)) else str(value)


def _show(result: Rollback) -> None:
    out = console()
    counts = result.counts()
    if result.dry_run:
        out.print(f"[bold]Dry run[/bold]: rolling back run {result.run_id} would do this (nothing was written).")
    elif result.rollback_run_id is None:
        out.print(
            f"Nothing written: every change run {result.run_id} made was changed since or cannot be undone (below)."
        )
    else:
        out.print(f"Rolled back run {result.run_id} as run [bold]{result.rollback_run_id}[/bold].")
    changes = result.changes
    if len(changes):
        table = Table(title=f"Fields run {result.run_id} wrote")
        table.add_column("System")
        table.add_column("Record", no_wrap=True)
        for column in ("Field", "Before the run", "Run wrote", "Now", "Action", "Why"):
            table.add_column(column, overflow="fold")
        for row in changes.itertuples():
            style = {"refuse": "yellow", "refused": "yellow", "failed": "red"}.get(str(row.action), "")
            action = Text(str(row.action), style=style)
            table.add_row(
                str(row.system),
                str(row.record_id),
                str(row.field),
                _text(row.before),
                _text(row.written),
                _text(row.live),
                action,
                str(row.why),
            )
        print_table(out, table)
    if len(result.created):
        table = Table(title=f"Contacts run {result.run_id} created")
        table.add_column("System")
        for column in ("Record", "CRM id", "Genesys id"):
            table.add_column(column, no_wrap=True)
        for column in ("Action", "Why"):
            table.add_column(column, overflow="fold")
        for row in result.created.itertuples():
            table.add_row(
                str(row.system), str(row.record_id), str(row.crm_id), str(row.genesys_id), str(row.action), str(row.why)
            )
        print_table(out, table)
    restored = counts["restore"] if result.dry_run else counts["restored"]
    out.print(
        f"{'To restore' if result.dry_run else 'Restored'}: {restored}; refused (changed since): {counts['refused']}; "
        f"kept: {counts['kept']}; created contacts {'to unlink' if result.dry_run else 'unlinked'}: "
        f"{counts['unlink'] if result.dry_run else counts['unlinked']}"
        + (f"; deleted: {counts['deleted']}" if result.delete_created and not result.dry_run else "")
        + (f"; [red]failed: {counts['failed']}[/red]" if counts["failed"] else "")
    )


@click.command()
@click.argument("run_id")
@click.option("--dry-run", is_flag=True, help="Show the whole rollback plan; write nothing.")
@click.option(
    "--delete-created",
    is_flag=True,
    help="Also delete the contacts the run created (they are only unlinked without this flag).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object (one line).")
def rollback(run_id: str, dry_run: bool, delete_created: bool, as_json: bool) -> None:
    """Restore the values sync run RUN_ID wrote, as a new audited run; fields changed since are refused."""
    import uuid

    from contact_sync.cli.launch import cli_services
    from contact_sync.cli.progress import command_progress
    from contact_sync.launcher import open_instance, refuse_overlap, settings_from_env
    from contact_sync.pipeline.locks import RunLockError, claim_run_lock, pair_name, release_run_lock
    from contact_sync.pipeline.progress import report_progress
    from contact_sync.pipeline.rollback import RollbackError, rollback_run

    run_id = run_id.strip()
    if not run_id:
        raise click.ClickException("rollback needs a run id (see `contact-sync status`)")
    if not dry_run:
        # Not while a sync of the same pair runs: its writes would race the rollback's (the stamp guard would
        # refuse the losers, but the operator should not have to sort that out).
        with open_instance() as instance:
            refuse_overlap(instance, pair_name(), settings_from_env())
    with cli_services() as services:
        # The rollback holds the pair's lock like a sync, so a sync started meanwhile waits for it.
        holder = f"rollback-{uuid.uuid4()}"
        try:
            if not dry_run:
                claim_run_lock(services.ledger, pair_name(), holder, lambda _: False, wait_s=0)
            step = "plan the rollback" if dry_run else "roll back"
            with command_progress():
                report_progress(step, None, 0, None, f"run {run_id}: what it wrote, and the values now")
                result = rollback_run(services, run_id, delete_created=delete_created, dry_run=dry_run)
                did = f"{len(result.changes)} field(s) it wrote, {len(result.created)} contact(s) it created"
                report_progress(step, None, 1, 1, f"run {run_id}: {did}")
        except (RollbackError, RunLockError) as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            if not dry_run:
                release_run_lock(services.ledger, pair_name(), holder)
    if as_json:
        click.echo(json.dumps(result.as_dict(), default=str))
    else:
        _show(result)
    if result.counts()["failed"]:
        raise SystemExit(1)
