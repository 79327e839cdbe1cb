"""`contact-sync conflicts list` / `conflicts resolve ID --use crm|genesys|value`: the conflict review queue.

A decision is recorded in the ledger; the next bidirectional run of the cohort holding the contact (the pipeline's
`apply_conflict_decisions` sensor requests one) writes it to both sides and marks the conflict applied.
"""

from __future__ import annotations

import getpass
import json
from typing import Any, Final

import click
import pandas as pd
from rich.table import Table

STATUSES: Final = ("open", "resolved", "applied", "all")
SHOWN: Final = (
    "id",
    "field",
    "crm_id",
    "genesys_id",
    "base",
    "crm_value",
    "genesys_value",
    "policy",
    "winner",
    "status",
    "decision",
    "decision_value",
    "created_at",
    "run_id",
)
ID_COLUMNS: Final = ("id", "crm_id", "genesys_id", "run_id")
"""What other commands take (`conflicts resolve ID`, `trace`, `rollback`): never cut or folded in a table."""


@click.group()
def conflicts() -> None:
    """The conflict review queue: fields both sides changed, with both versions and the base."""


@conflicts.command(name="list")
@click.option(
    "--status",
    type=click.Choice(STATUSES),
    default="open",
    show_default=True,
    help="open: held for a decision (manual policy); resolved: decided automatically or by a person, not yet "
    "applied by a run; applied: written; all.",
)
@click.option("--field", "field_name", default=None, help="Only conflicts of this canonical field (e.g. email).")
@click.option("--contact", default=None, help="Only this contact's conflicts: a CRM id, a Genesys id or an email.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show at most this many (the oldest first).")
@click.option("--json", "as_json", is_flag=True, help="Print the conflicts as one JSON array (one line).")
def list_conflicts(status: str, field_name: str | None, contact: str | None, limit: int | None, as_json: bool) -> None:
    """Conflicts with both versions, the base, the policy and what was decided."""
    from contact_sync.cli.launch import console, print_table, review_rows
    from contact_sync.launcher import open_ledger

    with open_ledger() as ledger:
        found = review_rows(ledger, ledger.conflicts(status=None if status == "all" else status), contact)
    if field_name is not None:
        found = found[found["field"] == field_name]
    total = len(found)
    rows = [_jsonable(row) for row in found[list(SHOWN)].head(limit).to_dict("records")]
    if as_json:
        click.echo(json.dumps(rows))
        return
    out = console()
    if not rows:
        out.print(f"No {'' if status == 'all' else status + ' '}conflicts.")
        return
    shown = f"{len(rows)} of {total}" if len(rows) < total else str(total)
    table = Table(title=f"Conflicts ({status}): {shown}")
    columns = SHOWN[: SHOWN.index("status") + 1]  # the table leaves out the decision and where it came from
    for column in columns:
        table.add_column(column, no_wrap=column in ID_COLUMNS)
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    print_table(out, table)
    if status == "open":
        out.print("Decide one with: contact-sync conflicts resolve ID --use crm|genesys|value [--value V]")


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, pd.Timestamp):
            value = value.isoformat()
        elif value is not None and not isinstance(value, list | dict) and pd.isna(value):
            value = None
        elif hasattr(value, "item"):
            value = value.item()  # numpy scalars
        out[key] = value
    return out


@conflicts.command()
@click.argument("conflict_id", metavar="ID", type=int)
@click.option(
    "--use",
    type=click.Choice(["crm", "genesys", "value"]),
    required=True,
    help="Keep the CRM's version, Genesys's, or a value you type with --value.",
)
@click.option("--value", default=None, help="The value to write to both sides (only with --use value).")
@click.option("--by", default=None, help="Who decided (default: the login name).")
def resolve(conflict_id: int, use: str, value: str | None, by: str | None) -> None:
    """Decide conflict ID; the next bidirectional run of its cohort writes the decision to both sides."""
    from contact_sync.launcher import open_ledger
    from contact_sync.ledger import LedgerError

    if use == "value" and (value is None or not value.strip()):
        raise click.UsageError("--use value needs --value V")
    if use != "value" and value is not None:
        raise click.UsageError(f"--value goes with --use value, not --use {use}")
    with open_ledger() as ledger:
        try:
            record = ledger.decide(conflict_id, use, value, by=by or _login())
        except LedgerError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"Conflict {record.id} ({record.field} of CRM {record.crm_id} / Genesys {record.genesys_id}): "
        f"will write {record.decision_value!r} ({use}). The next bidirectional sync run of its cohort applies it "
        "(a one-way run keeps the CRM as master and leaves the decision waiting)."
    )


def _login() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
