"""`contact-sync matches list` / `matches accept ID` / `matches reject ID`: the match review queue.

Matching holds a CRM/Genesys pair for a person when its evidence is not clear enough to link it (a score between the
review and link thresholds, a tie, conflicting evidence); neither record is linked or created on the other side
while it waits. Accepting records the answer in the ledger and the next sync links the pair; rejecting means the pair
is never proposed again, and each record is free to match elsewhere or be created.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import click
from rich.table import Table

from contact_sync.cli.conflicts import _jsonable, _login
from contact_sync.ledger.tables import MATCH_REVIEW_STATUSES

STATUSES: Final = (*MATCH_REVIEW_STATUSES, "all")
SHOWN: Final = (
    "id",
    "crm_system",
    "crm_id",
    "genesys_id",
    "rule",
    "score",
    "reason",
    "evidence",
    "status",
    "crm_record",
    "genesys_record",
    "created_at",
    "last_seen_at",
    "run_id",
    "last_run_id",
    "decided_by",
    "decided_at",
    "applied_run_id",
)


@click.group()
def matches() -> None:
    """The match review queue: CRM/Genesys pairs that may be one person, waiting for a person to decide."""


@matches.command(name="list")
@click.option(
    "--status",
    type=click.Choice(STATUSES),
    default="open",
    show_default=True,
    help="open: waiting for a decision; accepted: to be linked by the next sync; rejected: never proposed again; "
    "applied: linked by a sync; withdrawn: a later run no longer held the pair; all.",
)
@click.option(
    "--field",
    "field_name",
    default=None,
    help="Only pairs whose evidence names this field (e.g. phone: the pairs proposed or held on their phone).",
)
@click.option("--contact", default=None, help="Only this contact's pairs: a CRM id, a Genesys id or an email.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show at most this many (the oldest first).")
@click.option("--json", "as_json", is_flag=True, help="Print the reviews as one JSON array (one line).")
def list_matches(status: str, field_name: str | None, contact: str | None, limit: int | None, as_json: bool) -> None:
    """Pairs held for review with their score, why they were held, the evidence and both records side by side."""
    from contact_sync.cli.launch import console, print_table, review_rows
    from contact_sync.launcher import open_ledger

    with open_ledger() as ledger:
        found = review_rows(ledger, ledger.match_reviews(status=status), contact)
    if field_name is not None:
        # Evidence reads "email missing, phone equal, first name similar (...) -> 0.810": one clause per field.
        clause = rf"(?:^|, ){re.escape(field_name.replace('_', ' '))} "
        found = found[found["evidence"].fillna("").str.contains(clause, regex=True)]
    total = len(found)
    rows = [_jsonable(row) for row in found[list(SHOWN)].head(limit).to_dict("records")]
    if as_json:
        click.echo(json.dumps(rows))
        return
    out = console()
    if not rows:
        out.print(f"No {'' if status == 'all' else status + ' '}match reviews.")
        return
    shown = f"{len(rows)} of {total}" if len(rows) < total else str(total)
    table = Table(title=f"Match reviews ({status}): {shown}", show_lines=True)
    for column in ("id", "crm_id", "genesys_id"):
        table.add_column(column, no_wrap=True)  # what `matches accept` and `trace` take
    for column in ("score", "reason", "evidence", "CRM record", "Genesys record"):
        table.add_column(column, overflow="fold")
    if status == "all":
        table.add_column("status")
    for row in rows:
        cells = [
            str(row["id"]),
            row["crm_id"],
            row["genesys_id"],
            f"{row['score']:.3f}",
            row["reason"] or "",
            row["evidence"] or "",
            _person(row["crm_record"]),
            _person(row["genesys_record"]),
        ]
        table.add_row(*cells, *([row["status"]] if status == "all" else []))
    print_table(out, table)
    if status == "open":
        out.print("Decide one with: contact-sync matches accept ID  or  contact-sync matches reject ID")


def _person(record: dict[str, Any] | None) -> str:
    """A stored record as three short lines: name, email, phone (what a person compares first)."""
    if not record:
        return "(not stored)"
    name = " ".join(str(record[k]) for k in ("first_name", "last_name") if record.get(k))
    lines = [name or "(no name)", str(record.get("email") or "(no email)"), str(record.get("phone") or "(no phone)")]
    return "\n".join(lines)


def _decide(review_id: int, decision: str, by: str | None) -> Any:
    from contact_sync.launcher import open_ledger
    from contact_sync.ledger import LedgerError

    with open_ledger() as ledger:
        try:
            return ledger.decide_match(review_id, decision, by=by or _login())
        except LedgerError as exc:
            raise click.ClickException(str(exc)) from None


@matches.command()
@click.argument("review_id", metavar="ID", type=int)
@click.option("--by", default=None, help="Who decided (default: the login name).")
def accept(review_id: int, by: str | None) -> None:
    """Accept pair ID as one person: the next sync links the two records."""
    record = _decide(review_id, "accept", by)
    click.echo(
        f"Match review {record.id} accepted: the next sync links CRM {record.crm_id} and Genesys {record.genesys_id}."
    )


@matches.command()
@click.argument("review_id", metavar="ID", type=int)
@click.option("--by", default=None, help="Who decided (default: the login name).")
def reject(review_id: int, by: str | None) -> None:
    """Reject pair ID: the two records are different people and are never proposed as a pair again."""
    record = _decide(review_id, "reject", by)
    click.echo(
        f"Match review {record.id} rejected (CRM {record.crm_id} / Genesys {record.genesys_id}): this pair is never "
        "proposed again; each record is free to match elsewhere or be created."
    )
