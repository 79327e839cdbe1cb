"""The trace of one contact as plain data, from the ledger: every recorded change, oldest first, with its links
(active and past), open conflicts and match reviews. The answer to "where did this value go?" that `contact-sync
trace` prints and the demo shows."""

from __future__ import annotations

from typing import Any, Final

import pandas as pd

from contact_sync.ledger import Ledger

CHANGE_COLUMNS: Final = ("run_id", "at", "system", "record_id", "field", "old_value", "new_value", "reason")
LINK_COLUMNS: Final = ("crm_system", "crm_id", "genesys_id", "rule", "score", "evidence", "linked_at", "run_id")
REVIEW_COLUMNS: Final = ("id", "crm_id", "genesys_id", "status", "score", "reason", "evidence")
CONFLICT_COLUMNS: Final = ("id", "field", "crm_id", "genesys_id", "base", "crm_value", "genesys_value", "policy")


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is None or (not isinstance(value, str | list | dict) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _records(frame: pd.DataFrame, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame[list(columns)].to_dict("records")]


def _contact(ledger: Ledger, query: str) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
    """(audit trail, links past and present, every id of the contact) for a CRM id, Genesys id or email."""
    trail = ledger.audit_trail(query)
    ids = {query, *trail["crm_id"].dropna().astype(str), *trail["genesys_id"].dropna().astype(str)}
    ids |= set(trail["record_id"].dropna().astype(str))
    links = ledger.links(ids=sorted(ids), include_unlinked=True)
    ids |= set(links["crm_id"].astype(str)) | set(links["genesys_id"].astype(str))
    return trail, links, ids


def contact_ids(ledger: Ledger, query: str) -> set[str]:
    """The CRM and Genesys ids the ledger knows for one contact (a CRM id, a Genesys id or an email address), the
    query itself included: what `--contact` filters on."""
    return _contact(ledger, query)[2]


def contact_trace(ledger: Ledger, query: str) -> dict[str, Any] | None:
    """The trace of one contact as plain data, or None when the ledger knows nothing about `query`."""
    trail, links, ids = _contact(ledger, query)
    if trail.empty and links.empty:
        return None
    active = links[links["unlinked_at"].isna()]
    ended = links[links["unlinked_at"].notna()]
    conflicts = ledger.conflicts(status="open", ids=sorted(ids))
    reviews = ledger.match_reviews(status="all")
    reviews = reviews[reviews["crm_id"].isin(ids) | reviews["genesys_id"].isin(ids)]
    return {
        "query": query,
        "changes": _records(trail, CHANGE_COLUMNS),
        "links": _records(active, LINK_COLUMNS),
        "past_links": _records(ended, (*LINK_COLUMNS, "unlink_reason", "unlink_run_id")),
        "open_conflicts": _records(conflicts, CONFLICT_COLUMNS),
        "match_reviews": _records(reviews, REVIEW_COLUMNS),
    }


def _md_table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    frame = pd.DataFrame(rows, columns=list(columns)).fillna("(empty)").astype(str)
    # A "|" in a value would end its cell in the markdown table.
    return frame.apply(lambda column: column.str.replace("|", "\\|", regex=False)).to_markdown(index=False)


def trace_markdown(data: dict[str, Any]) -> str:
    """A contact's trace (`contact_trace`'s data) as markdown: what `contact-sync trace` prints, for the UI."""
    parts = [f"## Changes of {data['query']} (oldest first)"]
    parts.append(_md_table(data["changes"], CHANGE_COLUMNS) if data["changes"] else "No recorded changes.")
    parts.append("## Links")
    for link in data["links"]:
        parts.append(
            f"- **Linked**: {link['crm_system']} `{link['crm_id']}` <-> Genesys `{link['genesys_id']}` (by "
            f"{link['rule']}, score {float(link['score'] or 0):.3f}, run `{link['run_id']}`, {link['linked_at']})"
            + (f"  \n  Why: {link['evidence']}" if link["evidence"] else "")
        )
    if not data["links"]:
        parts.append("- No active link")
    for link in data["past_links"]:
        parts.append(
            f"- Past link: {link['crm_system']} `{link['crm_id']}` <-> Genesys `{link['genesys_id']}` (ended: "
            f"{link['unlink_reason']}, run `{link['unlink_run_id']}`)"
        )
    if data["match_reviews"]:
        parts += ["## Match reviews", _md_table(data["match_reviews"], REVIEW_COLUMNS)]
    parts.append("## Open conflicts")
    if data["open_conflicts"]:
        parts += [
            "Decide with `contact-sync conflicts resolve ID`.",
            _md_table(data["open_conflicts"], CONFLICT_COLUMNS),
        ]
    else:
        parts.append("None.")
    return "\n\n".join(parts)
