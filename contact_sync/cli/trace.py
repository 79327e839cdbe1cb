"""`contact-sync trace QUERY [--json]`: every recorded change of one contact, oldest first, with its link and open
conflicts -- the answer to "where did this value go?".

QUERY is a CRM id, a Genesys id or an email address; the contact's linked counterpart is traced too, so a CRM id shows
what the sync wrote on the Genesys side. Each change names the run, the time, the system and field, the old and new
value and why (created, crm change, genesys change, baseline difference, conflict winner, decision, rollback,
unlink, delete).
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from contact_sync.cli.launch import console, print_table
from contact_sync.pipeline.trace import contact_trace


def _text(value: Any) -> str:
    return "(empty)" if value is None else str(value)


def _show(data: dict[str, Any]) -> None:
    out = console()
    table = Table(title=f"Changes of {data['query']} (oldest first)")
    table.add_column("Run", no_wrap=True, min_width=36)  # whole: it is what `contact-sync rollback` takes
    table.add_column("At (UTC)", no_wrap=True, min_width=19)
    table.add_column("System")
    table.add_column("Record", no_wrap=True)  # a CRM or Genesys id, copied into other commands
    for column in ("Field", "Old -> new", "Reason"):
        table.add_column(column, overflow="fold")
    for c in data["changes"]:
        table.add_row(
            _text(c["run_id"]),
            _text(c["at"])[:19].replace("T", " "),
            c["system"],
            _text(c["record_id"]),
            c["field"],
            f"{_text(c['old_value'])} -> {_text(c['new_value'])}",
            c["reason"],
        )
    if data["changes"]:
        print_table(out, table)
    else:
        out.print("No recorded changes.")
    for link in data["links"]:
        out.print(
            f"Linked: {link['crm_system']} {link['crm_id']} <-> Genesys {link['genesys_id']} "
            f"(by {link['rule']}, score {link['score']:.3f}, run {link['run_id']}, "
            f"{_text(link['linked_at'])[:19].replace('T', ' ')})",
            soft_wrap=True,
        )
        if link["evidence"]:
            out.print(f"  Why: {link['evidence']}", soft_wrap=True)
    if not data["links"]:
        out.print("Linked: no active link")
    for link in data["past_links"]:
        out.print(
            f"Past link: {link['crm_system']} {link['crm_id']} <-> Genesys {link['genesys_id']} "
            f"(ended: {link['unlink_reason']})"
        )
    for review in data["match_reviews"]:
        out.print(
            f"Match review {review['id']} ({review['status']}): CRM {review['crm_id']} ? Genesys "
            f"{review['genesys_id']}, score {review['score']:.3f}, {review['reason']}: {review['evidence']}",
            soft_wrap=True,
        )
    if data["open_conflicts"]:
        conflicts = Table(title="Open conflicts (decide with `contact-sync conflicts resolve ID`)")
        conflicts.add_column("Id", no_wrap=True)
        for column in ("Field", "Base", "CRM value", "Genesys value", "Policy"):
            conflicts.add_column(column)
        for c in data["open_conflicts"]:
            conflicts.add_row(
                str(c["id"]),
                c["field"],
                _text(c["base"]),
                _text(c["crm_value"]),
                _text(c["genesys_value"]),
                c["policy"],
            )
        print_table(out, conflicts)
    else:
        out.print("Open conflicts: none")


@click.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print the trace as one JSON object (one line).")
def trace(query: str, as_json: bool) -> None:
    """Every recorded change of one contact (QUERY: CRM id, Genesys id or email), oldest first."""
    from contact_sync.launcher import open_ledger

    query = query.strip()
    if not query:
        raise click.ClickException("trace needs a CRM id, a Genesys id or an email address")
    with open_ledger() as ledger:
        data = contact_trace(ledger, query)
    if data is None:
        raise click.ClickException(
            f"no contact {query!r} in the ledger: no recorded change or link has that CRM id, Genesys id or email"
        )
    if as_json:
        click.echo(json.dumps(data, default=str))
        return
    _show(data)
