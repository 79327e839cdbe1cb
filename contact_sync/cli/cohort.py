"""`contact-sync cohort create NAME --size N` / `cohort list`: the rollout cohorts a sync can be limited to.

A cohort is picked deterministically from the CRM's live contacts and stored in the ledger; creating the first one
works before any sync has run (it reads the CRM). The name also becomes a `rollout_cohort` partition of the Dagster
instance, so the UI can launch it.
"""

from __future__ import annotations

import json

import click
from rich.table import Table


@click.group()
def cohort() -> None:
    """Rollout cohorts: named sets of CRM contacts a sync run can be limited to."""


@cohort.command()
@click.argument("name")
@click.option("--size", type=click.IntRange(min=1), required=True, help="How many CRM contacts the cohort holds.")
def create(name: str, size: int) -> None:
    """Pick SIZE live CRM contacts (the same ones for the same data) and store them as cohort NAME."""
    from contact_sync.cli.launch import cli_services
    from contact_sync.cli.progress import command_progress
    from contact_sync.defs.sync.partitions import ensure_cohort_partition
    from contact_sync.launcher import open_instance
    from contact_sync.pipeline.cohorts import create_cohort
    from contact_sync.pipeline.progress import report_progress

    with cli_services() as services, command_progress():
        report_progress("read", "crm", 0, None, f"picking {size} live contacts for cohort {name}")
        record = create_cohort(services, name, size)
        report_progress("read", "crm", 1, 1, f"cohort {record.name}: {record.size} contacts")
        settings = services.settings
    with open_instance(settings) as instance:
        ensure_cohort_partition(instance, record.name)
    note = f" (only {record.size} live CRM contacts exist)" if record.size < size else ""
    click.echo(f"Created cohort {record.name} with {record.size} contacts{note}.")
    click.echo(f"Sync it with: contact-sync sync --cohort {record.name}")


@cohort.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the cohorts as one JSON array (one line).")
def list_cohorts(as_json: bool) -> None:
    """Every cohort: name, size and when it was created ("all" always exists and means every contact)."""
    from contact_sync.cli.launch import console, print_table
    from contact_sync.launcher import open_ledger
    from contact_sync.pipeline.config import ALL_COHORT

    with open_ledger() as ledger:
        cohorts = ledger.cohorts()
    if as_json:
        rows = [{"name": c.name, "size": c.size, "created": c.created_at.isoformat()} for c in cohorts]
        click.echo(json.dumps(rows))
        return
    table = Table(title="Rollout cohorts")
    table.add_column("name", no_wrap=True)  # what `sync --cohort` takes
    for column in ("size", "created"):
        table.add_column(column)
    table.add_row(ALL_COHORT, "every contact", "")
    for record in cohorts:
        table.add_row(record.name, str(record.size), f"{record.created_at:%Y-%m-%d %H:%M:%S} UTC")
    print_table(console(), table)
