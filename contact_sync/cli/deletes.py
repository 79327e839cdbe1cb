"""`contact-sync deletes list` / `deletes approve ID...` / `deletes reject ID...`: the delete review queue.

When more contacts were deleted or merged away in the CRM than the mass-delete guard allows (above both
`max_delete_share` of the linked contacts and `max_delete_count`), a run deletes or unlinks none of them: each waits
here. Approving one lets the next sync carry it out whatever the guard says; rejecting one keeps its Genesys contact
linked and untouched while the CRM record is gone (restore the CRM record and the pair syncs again).
"""

from __future__ import annotations

import json
from typing import Final

import click
from rich.table import Table

from contact_sync.cli.conflicts import _jsonable, _login
from contact_sync.ledger.tables import DELETE_REVIEW_STATUSES

STATUSES: Final = (*DELETE_REVIEW_STATUSES, "all")
ACTION_WORDS: Final = {"unlink": "unlink", "delete_genesys": "delete the Genesys contact"}


@click.group()
def deletes() -> None:
    """The delete review queue: deletes and unlinks the mass-delete guard held, waiting for a person."""


@deletes.command(name="list")
@click.option(
    "--status",
    type=click.Choice(STATUSES),
    default="open",
    show_default=True,
    help="open: waiting for a decision; approved: to be carried out by the next sync; rejected: kept linked; "
    "applied: carried out by a sync; withdrawn: the CRM record came back; all.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the reviews as one JSON array (one line).")
def list_deletes(status: str, as_json: bool) -> None:
    """Deletes/unlinks held by the mass-delete guard: the pair, what would be done, and why."""
    from contact_sync.cli.launch import console, print_table
    from contact_sync.launcher import open_ledger

    with open_ledger() as ledger:
        found = ledger.delete_reviews(status=status)
    rows = [_jsonable(row) for row in found.to_dict("records")]
    if as_json:
        click.echo(json.dumps(rows))
        return
    out = console()
    if not rows:
        out.print(f"No {'' if status == 'all' else status + ' '}delete reviews.")
        return
    table = Table(title=f"Delete reviews ({status}): {len(rows)}")
    for column in ("id", "crm_system", "crm_id", "genesys_id", "action", "reason", "held since", "status"):
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "crm_id", "genesys_id"))
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["crm_system"],
            row["crm_id"],
            row["genesys_id"],
            ACTION_WORDS.get(row["action"], row["action"]),
            row["reason"] or "",
            (row["created_at"] or "")[:19],
            row["status"],
        )
    print_table(out, table)
    if status == "open":
        out.print("Decide with: contact-sync deletes approve ID...  or  contact-sync deletes reject ID...  (or --all)")


def _decide(review_ids: tuple[int, ...], every_open: bool, decision: str, by: str | None) -> list[int]:
    """Decide the given reviews (or every open one); returns the ids decided. Refuses an id it cannot decide."""
    from contact_sync.launcher import open_ledger
    from contact_sync.ledger import LedgerError

    if bool(review_ids) == every_open:
        raise click.UsageError("give review IDs or --all, not both and not neither")
    with open_ledger() as ledger:
        ids = [int(i) for i in ledger.delete_reviews(status="open")["id"]] if every_open else list(review_ids)
        for review_id in ids:
            try:
                ledger.decide_delete(review_id, decision, by=by or _login())
            except LedgerError as exc:
                raise click.ClickException(str(exc)) from None
    return ids


_IDS = click.argument("review_ids", metavar="ID...", type=int, nargs=-1)
_ALL = click.option("--all", "every_open", is_flag=True, help="Every open review.")
_BY = click.option("--by", default=None, help="Who decided (default: the login name).")


@deletes.command()
@_IDS
@_ALL
@_BY
def approve(review_ids: tuple[int, ...], every_open: bool, by: str | None) -> None:
    """Approve held deletes/unlinks: the next sync carries them out."""
    ids = _decide(review_ids, every_open, "approve", by)
    click.echo(f"{len(ids)} delete review(s) approved; the next sync carries them out.")


@deletes.command()
@_IDS
@_ALL
@_BY
def reject(review_ids: tuple[int, ...], every_open: bool, by: str | None) -> None:
    """Reject held deletes/unlinks: the Genesys contacts are kept, linked and untouched."""
    ids = _decide(review_ids, every_open, "reject", by)
    click.echo(
        f"{len(ids)} delete review(s) rejected: their Genesys contacts are kept linked; restore the CRM records to "
        "sync them again."
    )
