"""Every write the ledger makes, on one open transaction: `Ledger.batch()` hands out a `LedgerBatch`, and what it
writes commits together or not at all.

Bulk data (links, base values, audit rows, conflicts, match reviews) arrives as DataFrames and goes to the database
as one executemany per table; upserts use the dialect's INSERT ... ON CONFLICT (SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Table, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from contact_sync.ledger import tables as t
from contact_sync.ledger.bulk import bind, chunks, insert_rows, mark, select_in, stack
from contact_sync.ledger.errors import LedgerError
from contact_sync.ledger.values import (
    encode_column,
    encode_value,
    is_empty,
    now_utc,
    require_columns,
    require_present,
    require_values,
    text_column,
)


def _upsert(connection: Connection, table: Table, keys: Sequence[str], updates: Sequence[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET updates = excluded.updates, for the connection's dialect."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        stmt: Any = sqlite.insert(table)
    elif dialect == "postgresql":
        stmt = postgresql.insert(table)
    else:
        raise LedgerError(f"the ledger supports SQLite and PostgreSQL, not {dialect}")
    return stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in updates})


_QUEUE_STATUSES = {
    t.match_reviews.name: t.MATCH_REVIEW_STATUSES,
    t.delete_reviews.name: t.DELETE_REVIEW_STATUSES,
}
"""The statuses each review queue's rows may be looked up by."""


def check_crm_system(crm_system: str, what: str) -> None:
    """Refuse a CRM system name the ledger does not know."""
    if crm_system not in t.CRM_SYSTEMS:
        raise LedgerError(f"{what}: crm_system must be one of {', '.join(t.CRM_SYSTEMS)}; got {crm_system!r}")


def _timestamps(frame: pd.DataFrame, column: str, default: datetime) -> list[datetime]:
    """A timestamp column as Python datetimes (UTC), `default` where missing or empty."""
    if column not in frame.columns:
        return [default] * len(frame)
    stamps = pd.to_datetime(frame[column], utc=True)
    return [default if is_empty(v) else v.to_pydatetime() for v in stamps.tolist()]


def _bound_timestamps(
    connection: Connection, column: Any, frame: pd.DataFrame, name: str, default: datetime
) -> list[Any]:
    """`_timestamps`, bound for the driver as SQLAlchemy would bind `column` (one conversion when all are default)."""
    to_db = bind(connection, column)
    if connection.dialect.name == "postgresql":
        # ISO text is what COPY reads fastest; PostgreSQL parses it into timestamptz exactly.
        to_db = datetime.isoformat
    if name not in frame.columns:
        return [to_db(default)] * len(frame)
    return [to_db(v) for v in _timestamps(frame, name, default)]


def _optional_text(frame: pd.DataFrame, column: str, default: str | None) -> list[str | None]:
    if column not in frame.columns:
        return [default] * len(frame)
    values = text_column(frame[column])
    return [default if v is None else v for v in values]


def _records(values: Sequence[Any], column: str) -> list[str | None]:
    """A column of canonical records (dicts of field values, or empty) as JSON text; empty field values become null
    (NaN and NaT are not JSON)."""
    encoded: list[str | None] = []
    for value in values:
        if is_empty(value):
            encoded.append(None)
        elif isinstance(value, Mapping):
            encoded.append(encode_value({str(k): None if is_empty(v) else v for k, v in value.items()}))
        else:
            raise LedgerError(
                f"match reviews: {column} must be a dict of field values or empty, not {type(value).__name__}"
            )
    return encoded


MATCH_REVIEW_REFRESHED = (
    "rule",
    "score",
    "evidence",
    "reason",
    "crm_record",
    "genesys_record",
    "last_seen_at",
    "last_run_id",
)
"""What a run that proposes an open pair again brings up to date; status, created_at and run_id stay."""


def _total(value: Any) -> int:
    """The sum of every whole number in a count that may be nested per system ({"genesys": 2, "crm": 1})."""
    if isinstance(value, Mapping):
        return sum(_total(v) for v in value.values())
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int | float):
        return int(value)
    return 0


class LedgerBatch:
    """Writes on one transaction. Get one from `Ledger.batch()`; do not keep it past the `with` block."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        self.now = now_utc()

    # links -------------------------------------------------------------------------------------------------------

    def _update_ids(self, table: Table, ids: Sequence[int], condition: Any, **values: Any) -> int:
        """Set `values` on the rows of `table` with these ids that meet `condition`, in chunks; returns how many."""
        changed = 0
        for part in chunks([int(i) for i in ids]):
            result = self._conn.execute(update(table).where(table.c.id.in_(part), condition).values(**values))
            changed += result.rowcount
        return changed

    def _active_links(self, crm_system: str, column: str, values: Sequence[str]) -> pd.DataFrame:
        return select_in(
            self._conn,
            "SELECT id, crm_system, crm_id, genesys_id FROM sync_links "
            f"WHERE crm_system = {mark(self._conn)} AND unlinked_at IS NULL",
            column,
            values,
            params=(crm_system,),
            columns=["id", "crm_system", "crm_id", "genesys_id"],
        )

    def add_links(self, links: pd.DataFrame, run_id: str | None = None) -> int:
        """Link CRM ids to Genesys ids one-to-one; returns how many links are new.

        Columns: crm_system, crm_id, genesys_id, rule, score; optional evidence (why the pair matched, in words),
        linked_at, run_id. A link that already exists
        is left as it is; a CRM or Genesys id already linked to another id is refused (unlink it first, e.g. in the
        same batch), as is a frame that links one id twice.
        """
        if links.empty:
            return 0
        require_columns(links, ["crm_system", "crm_id", "genesys_id", "rule", "score"], "links")
        require_present(links, ["crm_system", "crm_id", "genesys_id", "rule", "score"], "links")
        require_values(links, "crm_system", t.CRM_SYSTEMS, "links")
        frame = links.assign(crm_id=text_column(links["crm_id"]), genesys_id=text_column(links["genesys_id"]))
        frame = frame.drop_duplicates(["crm_system", "crm_id", "genesys_id"])
        for column, other in (("crm_id", "genesys_id"), ("genesys_id", "crm_id")):
            twice = frame[frame.duplicated(["crm_system", column], keep=False)]
            if len(twice):
                first = twice.iloc[0]
                raise LedgerError(
                    f"links: {column} {first[column]!r} is linked to more than one {other} in one batch "
                    f"({', '.join(sorted(twice.loc[twice[column] == first[column], other]))})"
                )
        new_parts = []
        for crm_system, part in frame.groupby("crm_system", sort=False):
            system = str(crm_system)
            existing = stack(
                [
                    self._active_links(system, "crm_id", part["crm_id"].tolist()),
                    self._active_links(system, "genesys_id", part["genesys_id"].tolist()),
                ],
                ["id", "crm_system", "crm_id", "genesys_id"],
            ).drop_duplicates("id")
            if len(existing):
                same = part.merge(
                    existing[["crm_id", "genesys_id"]], on=["crm_id", "genesys_id"], how="left", indicator=True
                )
                part = part[(same["_merge"] == "left_only").to_numpy()]
                for column, other in (("crm_id", "genesys_id"), ("genesys_id", "crm_id")):
                    clash = part.merge(existing[[column, other]], on=column, suffixes=("", "_linked"))
                    if len(clash):
                        row = clash.iloc[0]
                        raise LedgerError(
                            f"links: {system} {column} {row[column]!r} is already linked to {other} "
                            f"{row[other + '_linked']!r}; unlink it first ({len(clash)} such row(s) in the batch)"
                        )
            new_parts.append(part)
        new = pd.concat(new_parts) if new_parts else frame.iloc[0:0]
        if new.empty:
            return 0
        rows = list(
            zip(
                new["crm_system"].tolist(),
                new["crm_id"].tolist(),
                new["genesys_id"].tolist(),
                new["rule"].astype(str).tolist(),
                new["score"].astype(float).tolist(),
                _optional_text(new, "evidence", None),
                _bound_timestamps(self._conn, t.links.c.linked_at, new, "linked_at", self.now),
                _optional_text(new, "run_id", run_id),
                strict=True,
            )
        )
        columns = ["crm_system", "crm_id", "genesys_id", "rule", "score", "evidence", "linked_at", "run_id"]
        insert_rows(self._conn, "sync_links", columns, rows)
        return len(rows)

    def unlink(self, unlinks: pd.DataFrame, run_id: str | None = None) -> int:
        """End the active links of the given CRM ids, keeping them as history; returns how many were linked.

        Columns: crm_system, crm_id, reason. The links' base values are dropped with them: an unlinked pair has no
        synced state any more. CRM ids that are not linked are ignored.
        """
        if unlinks.empty:
            return 0
        require_columns(unlinks, ["crm_system", "crm_id", "reason"], "unlinks")
        require_present(unlinks, ["crm_system", "crm_id", "reason"], "unlinks")
        require_values(unlinks, "crm_system", t.CRM_SYSTEMS, "unlinks")
        frame = unlinks.assign(crm_id=text_column(unlinks["crm_id"])).drop_duplicates(["crm_system", "crm_id"])
        count = 0
        for crm_system, part in frame.groupby("crm_system", sort=False):
            active = self._active_links(str(crm_system), "crm_id", part["crm_id"].tolist())
            if active.empty:
                continue
            active = active.merge(part[["crm_id", "reason"]], on="crm_id")
            self._conn.execute(
                update(t.links)
                .where(t.links.c.id == bindparam("link_id"))
                .values(unlinked_at=self.now, unlink_reason=bindparam("reason"), unlink_run_id=run_id),
                [{"link_id": int(i), "reason": str(r)} for i, r in zip(active["id"], active["reason"], strict=True)],
            )
            self._conn.execute(
                delete(t.base_values).where(
                    t.base_values.c.crm_id == bindparam("b_crm_id"),
                    t.base_values.c.genesys_id == bindparam("b_genesys_id"),
                ),
                [
                    {"b_crm_id": c, "b_genesys_id": g}
                    for c, g in zip(active["crm_id"], active["genesys_id"], strict=True)
                ],
            )
            count += len(active)
        return count

    # base values -------------------------------------------------------------------------------------------------

    def upsert_base(self, base: pd.DataFrame, run_id: str | None = None) -> int:
        """Store the last synced value of each (crm_id, genesys_id, field); returns the rows written.

        Columns: crm_id, genesys_id, field, value; optional synced_at, run_id. A later row for the same key wins.
        """
        if base.empty:
            return 0
        require_columns(base, ["crm_id", "genesys_id", "field", "value"], "base")
        require_present(base, ["crm_id", "genesys_id", "field"], "base")
        frame = base.assign(crm_id=text_column(base["crm_id"]), genesys_id=text_column(base["genesys_id"]))
        frame = frame.drop_duplicates(["crm_id", "genesys_id", "field"], keep="last")
        rows = list(
            zip(
                frame["crm_id"].tolist(),
                frame["genesys_id"].tolist(),
                frame["field"].astype(str).tolist(),
                encode_column(frame["value"].tolist()),
                _bound_timestamps(self._conn, t.base_values.c.synced_at, frame, "synced_at", self.now),
                _optional_text(frame, "run_id", run_id),
                strict=True,
            )
        )
        insert_rows(
            self._conn,
            "sync_base_values",
            ["crm_id", "genesys_id", "field", "value", "synced_at", "run_id"],
            rows,
            on_conflict="ON CONFLICT (crm_id, genesys_id, field) DO UPDATE SET "
            "value = excluded.value, synced_at = excluded.synced_at, run_id = excluded.run_id",
        )
        return len(rows)

    # audit log ---------------------------------------------------------------------------------------------------

    def add_audit(self, audit: pd.DataFrame, run_id: str | None = None) -> int:
        """Append audit rows; returns how many.

        Columns: system, field, reason, and the ids known (record_id, crm_id, genesys_id); optional old_value,
        new_value (any JSON-able value), at, run_id.
        """
        if audit.empty:
            return 0
        require_columns(audit, ["system", "field", "reason"], "audit")
        require_present(audit, ["system", "field", "reason"], "audit")
        require_values(audit, "system", t.SYSTEMS, "audit")
        require_values(audit, "reason", t.AUDIT_REASONS, "audit")
        ids = {c: _optional_text(audit, c, None) for c in ("record_id", "crm_id", "genesys_id")}
        if any(r is None and c is None and g is None for r, c, g in zip(*ids.values(), strict=True)):
            raise LedgerError("audit: every row needs a record_id, crm_id or genesys_id")
        none = [None] * len(audit)
        rows = list(
            zip(
                _optional_text(audit, "run_id", run_id),
                _bound_timestamps(self._conn, t.audit.c.at, audit, "at", self.now),
                audit["system"].tolist(),
                ids["record_id"],
                ids["crm_id"],
                ids["genesys_id"],
                audit["field"].astype(str).tolist(),
                encode_column(audit["old_value"].tolist()) if "old_value" in audit.columns else none,
                encode_column(audit["new_value"].tolist()) if "new_value" in audit.columns else none,
                audit["reason"].tolist(),
                strict=True,
            )
        )
        columns = [c.name for c in t.audit.columns if c.name != "id"]
        insert_rows(self._conn, "sync_audit", columns, rows)
        return len(rows)

    def confirm_created(self, created: pd.DataFrame, run_id: str | None = None) -> int:
        """Give the `created` audit rows written before a Genesys create (crm_id known, the new contact's id not yet)
        their Genesys id: `created` is (crm_id, genesys_id). With `run_id`, only that run's rows (the run that just
        created them); without, any run's (a run that died after the service applied its create). Returns rows."""
        if created.empty:
            return 0
        audit = t.audit.c
        condition = and_(
            audit.crm_id == bindparam("c"), audit.genesys_id.is_(None), audit.reason == "created",
            audit.system == "genesys",
        )  # fmt: skip
        if run_id is not None:
            condition = and_(condition, audit.run_id == run_id)
        params = [{"c": str(c), "g": str(g)} for c, g in zip(created["crm_id"], created["genesys_id"], strict=True)]
        statement = update(t.audit).where(condition).values(genesys_id=bindparam("g"), record_id=bindparam("g"))
        return int(self._conn.execute(statement, params).rowcount or 0)

    def drop_unconfirmed_creates(self, crm_ids: Sequence[str], run_id: str | None = None) -> int:
        """Remove `created` audit rows never confirmed with a Genesys id: `run_id`'s own (its create failed), or,
        without `run_id`, any run's (a run that died before the service saw its create: the contact is about to
        be created again, and only that creation is true)."""
        audit = t.audit.c
        removed = 0
        for part in chunks([str(i) for i in crm_ids]):
            condition = and_(
                audit.crm_id.in_(part), audit.genesys_id.is_(None), audit.reason == "created", audit.system == "genesys"
            )
            if run_id is not None:
                condition = and_(condition, audit.run_id == run_id)
            removed += int(self._conn.execute(delete(t.audit).where(condition)).rowcount or 0)
        return removed

    # conflicts ---------------------------------------------------------------------------------------------------

    def add_conflicts(self, conflicts: pd.DataFrame, run_id: str | None = None) -> list[int]:
        """Record conflicts with both versions and the base; returns their ids in the frame's order.

        Columns: crm_id, genesys_id, field, base, crm_value, genesys_value, policy; optional winner (crm|genesys;
        empty for a held manual conflict), status (default: open without a winner, resolved with one), run_id.
        """
        if conflicts.empty:
            return []
        required = ["crm_id", "genesys_id", "field", "base", "crm_value", "genesys_value", "policy"]
        require_columns(conflicts, required, "conflicts")
        require_present(conflicts, ["crm_id", "genesys_id", "field", "policy"], "conflicts")
        winners = _optional_text(conflicts, "winner", None)
        if any(w is not None and w not in ("crm", "genesys") for w in winners):
            raise LedgerError("conflicts: winner must be crm, genesys or empty")
        if "status" in conflicts.columns:
            statuses = _optional_text(conflicts, "status", None)
            statuses = [s or ("open" if w is None else "resolved") for s, w in zip(statuses, winners, strict=True)]
            if any(s not in t.CONFLICT_STATUSES for s in statuses):
                raise LedgerError(f"conflicts: status must be one of {', '.join(t.CONFLICT_STATUSES)}")
        else:
            statuses = ["open" if w is None else "resolved" for w in winners]
        rows = [
            {
                "run_id": run,
                "created_at": self.now,
                "crm_id": c,
                "genesys_id": g,
                "field": str(f),
                "base": b,
                "crm_value": cv,
                "genesys_value": gv,
                "policy": str(p),
                "winner": w,
                "status": s,
            }
            for run, c, g, f, b, cv, gv, p, w, s in zip(
                _optional_text(conflicts, "run_id", run_id),
                text_column(conflicts["crm_id"]),
                text_column(conflicts["genesys_id"]),
                conflicts["field"].tolist(),
                encode_column(conflicts["base"].tolist()),
                encode_column(conflicts["crm_value"].tolist()),
                encode_column(conflicts["genesys_value"].tolist()),
                conflicts["policy"].tolist(),
                winners,
                statuses,
                strict=True,
            )
        ]
        result = self._conn.execute(insert(t.conflicts).returning(t.conflicts.c.id, sort_by_parameter_order=True), rows)
        return [int(i) for i in result.scalars().all()]

    def decide(self, conflict_id: int, use: str, value: Any = None, by: str | None = None) -> None:
        """Record a person's decision on a conflict: take the CRM's version, Genesys's, or a typed value.

        The decision waits for the pipeline to apply it (`pending_decisions`, then `mark_applied`). Deciding again
        before that replaces the decision; deciding an applied conflict is refused.
        """
        if use not in t.DECISIONS:
            raise LedgerError(f"a decision must use one of {', '.join(t.DECISIONS)}, got {use!r}")
        if use == "value" and is_empty(value):
            raise LedgerError("a decision with use=value needs a value")
        if use != "value" and not is_empty(value):
            raise LedgerError(f"a decision with use={use} takes no value")
        row = self._conn.execute(
            select(
                t.conflicts.c.status, t.conflicts.c.crm_value, t.conflicts.c.genesys_value, t.conflicts.c.applied_run_id
            )
            .where(t.conflicts.c.id == int(conflict_id))
            .with_for_update()
        ).first()
        if row is None:
            raise LedgerError(f"no conflict with id {conflict_id}")
        if row.status == "applied":
            raise LedgerError(f"conflict {conflict_id} was already applied by run {row.applied_run_id}")
        chosen = (
            {"crm": row.crm_value, "genesys": row.genesys_value}.get(use) if use != "value" else encode_value(value)
        )
        self._conn.execute(
            update(t.conflicts)
            .where(t.conflicts.c.id == int(conflict_id))
            .values(status="resolved", decision=use, decision_value=chosen, decided_by=by, decided_at=self.now)
        )

    def mark_applied(self, conflict_ids: Sequence[int], run_id: str) -> int:
        """Mark decided conflicts as written by `run_id`; returns how many changed."""
        return self._update_ids(
            t.conflicts, conflict_ids, t.conflicts.c.status != "applied", status="applied", applied_run_id=run_id
        )

    # match reviews -----------------------------------------------------------------------------------------------

    def _reviews_of(
        self, crm_system: str, crm_ids: Sequence[str], statuses: Sequence[str], table: Table = t.match_reviews
    ) -> pd.DataFrame:
        """id, crm_id, genesys_id, status of the reviews (match reviews, or `table`'s) of these CRM ids in these
        statuses."""
        shown = ", ".join(f"'{s}'" for s in statuses if s in _QUEUE_STATUSES[table.name])
        return select_in(
            self._conn,
            f"SELECT id, crm_id, genesys_id, status FROM {table.name} "
            f"WHERE crm_system = {mark(self._conn)} AND status IN ({shown})",
            "crm_id",
            crm_ids,
            params=(crm_system,),
            columns=["id", "crm_id", "genesys_id", "status"],
        )

    def add_match_reviews(self, reviews: pd.DataFrame, crm_system: str, run_id: str | None = None) -> list[int]:
        """Queue pairs matching held for a person to decide. Returns the ids of the open reviews the frame's pairs
        now have, in the frame's order: new ones, and ones already open, whose rule, score, evidence, reason, both
        records, last_seen_at and last_run_id are brought up to date. A pair already accepted or rejected is left as
        it is and has no id in the result (so a rejected pair is never asked again).

        Columns: crm_id, genesys_id, rule, score, evidence, reason, crm_record, genesys_record (dicts of the
        records' canonical values, or empty); optional seen_at (default: now; a new review's created_at). A pair
        whose earlier review was applied (linked, then unlinked since) gets a new open review. A pair given twice
        counts once, its last row winning.
        """
        check_crm_system(crm_system, "match reviews")
        if reviews.empty:
            return []
        required = ["crm_id", "genesys_id", "rule", "score", "evidence", "reason", "crm_record", "genesys_record"]
        require_columns(reviews, required, "match reviews")
        require_present(reviews, ["crm_id", "genesys_id", "rule", "score"], "match reviews")
        frame = reviews.assign(crm_id=text_column(reviews["crm_id"]), genesys_id=text_column(reviews["genesys_id"]))
        frame = frame.drop_duplicates(["crm_id", "genesys_id"], keep="last")
        crm_ids = frame["crm_id"].unique().tolist()
        decided = self._reviews_of(crm_system, crm_ids, ("accepted", "rejected"))
        if len(decided):
            left = frame.merge(
                decided[["crm_id", "genesys_id"]].drop_duplicates(),
                on=["crm_id", "genesys_id"],
                how="left",
                indicator=True,
            )
            frame = frame[(left["_merge"] == "left_only").to_numpy()]
        if frame.empty:
            return []
        seen = _bound_timestamps(self._conn, t.match_reviews.c.last_seen_at, frame, "seen_at", self.now)
        run = [run_id] * len(frame)
        rows = list(
            zip(
                [crm_system] * len(frame),
                frame["crm_id"].tolist(),
                frame["genesys_id"].tolist(),
                frame["rule"].astype(str).tolist(),
                frame["score"].astype(float).tolist(),
                _optional_text(frame, "evidence", None),
                _optional_text(frame, "reason", None),
                _records(frame["crm_record"].tolist(), "crm_record"),
                _records(frame["genesys_record"].tolist(), "genesys_record"),
                ["open"] * len(frame),
                seen,
                seen,
                run,
                run,
                strict=True,
            )
        )
        columns = [
            "crm_system",
            "crm_id",
            "genesys_id",
            "rule",
            "score",
            "evidence",
            "reason",
            "crm_record",
            "genesys_record",
            "status",
            "created_at",
            "last_seen_at",
            "run_id",
            "last_run_id",
        ]
        refresh = ", ".join(f"{c} = excluded.{c}" for c in MATCH_REVIEW_REFRESHED)
        insert_rows(
            self._conn,
            "sync_match_reviews",
            columns,
            rows,
            # An accepted pair conflicts too (same partial unique index) and is left alone by the WHERE.
            on_conflict=f"ON CONFLICT (crm_system, crm_id, genesys_id) WHERE {t.MATCH_PENDING} "
            f"DO UPDATE SET {refresh} WHERE sync_match_reviews.status = 'open'",
        )
        waiting = self._reviews_of(crm_system, frame["crm_id"].unique().tolist(), ("open",))
        ids = frame[["crm_id", "genesys_id"]].merge(waiting, on=["crm_id", "genesys_id"], how="left")["id"]
        return [int(i) for i in ids.dropna().tolist()]

    def decide_match(self, review_id: int, decision: str, by: str | None = None) -> None:
        """Record a person's answer on a held pair: accept (the next run links it) or reject (never proposed again).

        Only an open review can be decided, or an accepted one no run has applied yet, which may still be rejected.
        Accepting is refused while either record is accepted with, or linked to, another record. Each decision
        writes an audit row (field link, reason "match accepted" or "match rejected").
        """
        if decision not in t.MATCH_DECISIONS:
            raise LedgerError(f"a match decision is one of {', '.join(t.MATCH_DECISIONS)}, got {decision!r}")
        reviews = t.match_reviews
        row = self._conn.execute(select(reviews).where(reviews.c.id == int(review_id)).with_for_update()).first()
        if row is None:
            raise LedgerError(f"no match review with id {review_id}")
        if row.status == "applied":
            raise LedgerError(f"match review {review_id} was already applied by run {row.applied_run_id}")
        if row.status == "rejected":
            raise LedgerError(
                f"match review {review_id} was already rejected{f' by {row.decided_by}' if row.decided_by else ''}; "
                "a rejected pair stays rejected"
            )
        if row.status == "accepted" and decision == "accept":
            raise LedgerError(f"match review {review_id} is already accepted; the next sync links it")
        if decision == "accept":
            self._refuse_taken(row)
        status = "accepted" if decision == "accept" else "rejected"
        self._conn.execute(
            update(reviews)
            .where(reviews.c.id == int(review_id))
            .values(status=status, decided_by=by, decided_at=self.now)
        )
        decided = {
            "decision": decision,
            "review_id": int(row.id),
            "crm_system": row.crm_system,
            "rule": row.rule,
            "score": float(row.score),
            "evidence": row.evidence,
            "was": row.status,
            "by": by,
        }
        self.add_audit(
            pd.DataFrame(
                {
                    "system": ["genesys"],
                    "record_id": [row.genesys_id],
                    "crm_id": [row.crm_id],
                    "genesys_id": [row.genesys_id],
                    "field": ["link"],
                    "old_value": [None],
                    "new_value": [decided],
                    "reason": [f"match {status}"],
                }
            )
        )

    def _refuse_taken(self, row: Any) -> None:
        """Refuse accepting `row`'s pair when its CRM or Genesys record is accepted with, or linked to, another."""
        reviews, links = t.match_reviews, t.links
        same_crm = reviews.c.crm_id == row.crm_id
        other = self._conn.execute(
            select(reviews.c.id, reviews.c.crm_id, reviews.c.genesys_id)
            .where(
                reviews.c.crm_system == row.crm_system,
                reviews.c.status == "accepted",
                reviews.c.id != row.id,
                or_(same_crm, reviews.c.genesys_id == row.genesys_id),
            )
            .limit(1)
        ).first()
        if other is not None:
            raise LedgerError(
                f"CRM {other.crm_id} and Genesys {other.genesys_id} are already accepted as a pair (match review "
                f"{other.id}); reject that one first"
            )
        linked = self._conn.execute(
            select(links.c.crm_id, links.c.genesys_id)
            .where(
                links.c.crm_system == row.crm_system,
                links.c.unlinked_at.is_(None),
                or_(links.c.crm_id == row.crm_id, links.c.genesys_id == row.genesys_id),
                ~and_(links.c.crm_id == row.crm_id, links.c.genesys_id == row.genesys_id),
            )
            .limit(1)
        ).first()
        if linked is not None:
            raise LedgerError(f"CRM {linked.crm_id} is already linked to Genesys {linked.genesys_id}")

    def mark_matches_applied(self, review_ids: Sequence[int], run_id: str) -> int:
        """Mark accepted reviews as linked by `run_id`; returns how many changed (reviews not accepted are left)."""
        return self._update_ids(
            t.match_reviews, review_ids, t.match_reviews.c.status == "accepted", status="applied", applied_run_id=run_id
        )

    def withdraw_match_reviews(self, crm_system: str, keep_ids: Sequence[int], run_id: str) -> int:
        """Withdraw the open reviews of `crm_system` a run no longer proposed (all but `keep_ids`); returns how many.

        Matching sees every contact on every run, so an open pair it did not hold again is no longer a question."""
        keep = {int(i) for i in keep_ids}
        rows = self._conn.execute(
            select(t.match_reviews.c.id).where(
                t.match_reviews.c.crm_system == crm_system, t.match_reviews.c.status == "open"
            )
        ).scalars()
        stale = [int(i) for i in rows if int(i) not in keep]
        return self._update_ids(
            t.match_reviews,
            stale,
            t.match_reviews.c.status == "open",
            status="withdrawn",
            last_run_id=run_id,
            last_seen_at=self.now,
        )

    # delete reviews ----------------------------------------------------------------------------------------------

    def add_delete_reviews(self, held: pd.DataFrame, crm_system: str, run_id: str | None = None) -> list[int]:
        """Queue the deletes/unlinks the mass-delete guard held. Returns the ids of the open reviews the frame's pairs
        now have, in the frame's order: new ones, and ones already open (their action, reason, last_seen_at and
        last_run_id brought up to date). A pair already approved is left as it is and has no id in the result.

        Columns: crm_id, genesys_id, action (unlink or delete_genesys), reason. A pair given twice counts once.
        """
        check_crm_system(crm_system, "delete reviews")
        if held.empty:
            return []
        require_columns(held, ["crm_id", "genesys_id", "action", "reason"], "delete reviews")
        require_present(held, ["crm_id", "genesys_id", "action"], "delete reviews")
        require_values(held, "action", t.DELETE_ACTIONS, "delete reviews")
        frame = held.assign(crm_id=text_column(held["crm_id"]), genesys_id=text_column(held["genesys_id"]))
        frame = frame.drop_duplicates(["crm_id", "genesys_id"], keep="last").reset_index(drop=True)
        reviews = t.delete_reviews
        pending = self._reviews_of(crm_system, frame["crm_id"].tolist(), ("open", "approved"), t.delete_reviews)
        known = frame.merge(pending, on=["crm_id", "genesys_id"], how="left")
        waiting = known[known["status"] == "open"]
        for part in chunks(list(zip(waiting["id"].astype(int), waiting["action"], waiting["reason"], strict=True))):
            self._conn.execute(
                update(reviews)
                .where(reviews.c.id == bindparam("review_id"), reviews.c.status == "open")
                .values(
                    action=bindparam("new_action"),
                    reason=bindparam("new_reason"),
                    last_seen_at=self.now,
                    last_run_id=run_id,
                ),
                [{"review_id": i, "new_action": a, "new_reason": r} for i, a, r in part],
            )
        new = known[known["status"].isna()]
        if len(new):
            self._conn.execute(
                insert(reviews),
                [
                    {
                        "crm_system": crm_system,
                        "crm_id": c,
                        "genesys_id": g,
                        "action": a,
                        "reason": r,
                        "status": "open",
                        "created_at": self.now,
                        "last_seen_at": self.now,
                        "run_id": run_id,
                        "last_run_id": run_id,
                    }
                    for c, g, a, r in zip(new["crm_id"], new["genesys_id"], new["action"], new["reason"], strict=True)
                ],
            )
        opened = self._reviews_of(crm_system, frame["crm_id"].tolist(), ("open",), t.delete_reviews)
        ids = frame[["crm_id", "genesys_id"]].merge(opened, on=["crm_id", "genesys_id"], how="left")["id"]
        return [int(i) for i in ids.dropna().tolist()]

    def decide_delete(self, review_id: int, decision: str, by: str | None = None) -> None:
        """Record a person's answer on a held delete/unlink: approve (the next run applies it, whatever the guard
        says) or reject (the Genesys contact is kept and stays linked while its CRM record is gone).

        An open review can be decided; an approved one no run has applied yet may still be rejected, and a rejected
        one approved. Each decision writes an audit row (field link, reason "delete approved" or "delete rejected").
        """
        if decision not in t.DELETE_DECISIONS:
            raise LedgerError(f"a delete decision is one of {', '.join(t.DELETE_DECISIONS)}, got {decision!r}")
        reviews = t.delete_reviews
        row = self._conn.execute(select(reviews).where(reviews.c.id == int(review_id)).with_for_update()).first()
        if row is None:
            raise LedgerError(f"no delete review with id {review_id}")
        if row.status in ("applied", "withdrawn"):
            done = f"applied by run {row.applied_run_id}" if row.status == "applied" else "withdrawn"
            raise LedgerError(f"delete review {review_id} was already {done}; there is nothing left to decide")
        status = "approved" if decision == "approve" else "rejected"
        if row.status == status:
            raise LedgerError(f"delete review {review_id} is already {status}")
        self._conn.execute(
            update(reviews)
            .where(reviews.c.id == int(review_id))
            .values(status=status, decided_by=by, decided_at=self.now)
        )
        decided = {"decision": decision, "review_id": int(row.id), "action": row.action, "was": row.status, "by": by}
        self.add_audit(
            pd.DataFrame(
                {
                    "system": ["genesys"],
                    "record_id": [row.genesys_id],
                    "crm_id": [row.crm_id],
                    "genesys_id": [row.genesys_id],
                    "field": ["link"],
                    "old_value": [None],
                    "new_value": [decided],
                    "reason": [f"delete {status}"],
                }
            )
        )

    def mark_deletes_applied(self, review_ids: Sequence[int], run_id: str) -> int:
        """Mark approved delete reviews as carried out by `run_id`; returns how many changed."""
        return self._update_ids(
            t.delete_reviews,
            review_ids,
            t.delete_reviews.c.status == "approved",
            status="applied",
            applied_run_id=run_id,
        )

    def withdraw_delete_reviews(
        self, crm_system: str, still_held: pd.DataFrame, crm_ids: Sequence[str] | None, run_id: str
    ) -> int:
        """Withdraw the open and rejected delete reviews whose pair a run no longer holds (the CRM record is back or
        the link ended): all of `crm_system`'s, or only those of `crm_ids` (a cohort run sees only its members).
        `still_held`: crm_id, genesys_id of the pairs the run held or kept. Returns how many were withdrawn."""
        reviews = t.delete_reviews
        query = select(reviews.c.id, reviews.c.crm_id, reviews.c.genesys_id).where(
            reviews.c.crm_system == crm_system, reviews.c.status.in_(("open", "rejected"))
        )
        found = pd.DataFrame(self._conn.execute(query).all(), columns=["id", "crm_id", "genesys_id"])
        if crm_ids is not None:
            found = found[found["crm_id"].isin(list(crm_ids))]
        if found.empty:
            return 0
        keep = still_held[["crm_id", "genesys_id"]].astype(str).drop_duplicates()
        gone = found.merge(keep, on=["crm_id", "genesys_id"], how="left", indicator=True)
        stale = gone.loc[gone["_merge"] == "left_only", "id"].astype(int).tolist()
        return self._update_ids(
            reviews,
            stale,
            reviews.c.status.in_(("open", "rejected")),
            status="withdrawn",
            last_run_id=run_id,
            last_seen_at=self.now,
        )

    # run locks ---------------------------------------------------------------------------------------------------

    def claim_lock(
        self, name: str, run_id: str, owner: str, lease_s: float, steal_from: str | None = None
    ) -> dict[str, Any]:
        """Take lock `name` for `run_id` (or renew it when `run_id` holds it already): free, expired, or held by
        `steal_from` (a holder the caller found dead). One conditional write, so two claims never both win.
        Returns the lock row as it stands afterwards (compare its run_id with yours)."""
        expires = self.now + timedelta(seconds=lease_s)
        row = {"name": name, "run_id": run_id, "owner": owner, "acquired_at": self.now, "expires_at": expires}
        lock = t.run_locks.c
        takeable = or_(lock.run_id == run_id, lock.expires_at < self.now)
        if steal_from is not None:
            takeable = or_(takeable, lock.run_id == steal_from)
        updated = self._conn.execute(update(t.run_locks).where(lock.name == name, takeable).values(**row))
        if updated.rowcount == 0:
            # Free: insert, and when a concurrent claim inserted first, keep its row (ON CONFLICT DO NOTHING).
            dialect = self._conn.dialect.name
            stmt: Any = (sqlite if dialect == "sqlite" else postgresql).insert(t.run_locks).values(**row)
            self._conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
        found = self._conn.execute(select(t.run_locks).where(lock.name == name)).mappings().one()
        return dict(found)

    def release_lock(self, name: str, run_id: str) -> bool:
        """Give lock `name` back if `run_id` holds it; True when it did."""
        lock = t.run_locks.c
        return bool(self._conn.execute(delete(t.run_locks).where(lock.name == name, lock.run_id == run_id)).rowcount)

    # watermarks, cohorts -----------------------------------------------------------------------------------------

    def set_watermark(self, name: str, value: str | datetime) -> None:
        """Remember how far a read got (a timestamp is stored as ISO 8601 text)."""
        text = value.isoformat() if isinstance(value, datetime) else str(value)
        stmt = _upsert(self._conn, t.watermarks, ["name"], ["value", "updated_at"])
        self._conn.execute(stmt, {"name": name, "value": text, "updated_at": self.now})

    def create_cohort(self, name: str, crm_ids: Sequence[str]) -> int:
        """Store a rollout cohort; refused when the name is taken. Returns its size (duplicates counted once)."""
        if not name or not name.strip():
            raise LedgerError("a cohort needs a name")
        exists = self._conn.execute(select(t.cohorts.c.name).where(t.cohorts.c.name == name)).first()
        if exists is not None:
            raise LedgerError(f"cohort {name!r} already exists")
        members = list(dict.fromkeys(str(c) for c in crm_ids if not is_empty(c)))
        self._conn.execute(insert(t.cohorts).values(name=name, created_at=self.now, size=len(members)))
        insert_rows(self._conn, "sync_cohort_members", ["cohort", "crm_id"], [(name, c) for c in members])
        return len(members)

    # runs, alerts ------------------------------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        mode: str,
        cohort: str | None = None,
        dry_run: bool = False,
        started_at: datetime | None = None,
    ) -> None:
        """Record that a run began; a run id already recorded is refused."""
        exists = self._conn.execute(select(t.runs.c.run_id).where(t.runs.c.run_id == run_id)).first()
        if exists is not None:
            raise LedgerError(f"run {run_id} is already recorded")
        self._conn.execute(
            insert(t.runs).values(
                run_id=run_id,
                started_at=started_at or self.now,
                mode=mode,
                cohort=cohort,
                status="running",
                dry_run=bool(dry_run),
                errors=0,
                conflicts=0,
            )
        )

    def finish_run(
        self,
        run_id: str,
        status: str,
        counts: Mapping[str, Any] | None = None,
        duration_s: float | None = None,
        api_calls: Mapping[str, Any] | None = None,
        error_summary: str | None = None,
        finished_at: datetime | None = None,
    ) -> None:
        """Record how a run ended. `counts` is stored as given (e.g. {"created": {"genesys": 3, "crm": 0}, ...,
        "errors": 2}); its `errors` and `conflicts` entries are also summed into columns for health queries.
        `duration_s` defaults to finished_at - started_at."""
        if status not in ("success", "failure"):
            raise LedgerError(f"a finished run's status is success or failure, got {status!r}")
        row = self._conn.execute(select(t.runs.c.started_at).where(t.runs.c.run_id == run_id)).first()
        if row is None:
            raise LedgerError(f"no run with id {run_id}")
        finished = finished_at or now_utc()
        if duration_s is None:
            duration_s = max(0.0, (finished - row.started_at).total_seconds())
        counts_plain = json.loads(json.dumps(dict(counts or {}), default=str))
        self._conn.execute(
            update(t.runs)
            .where(t.runs.c.run_id == run_id)
            .values(
                status=status,
                finished_at=finished,
                counts=counts_plain,
                errors=_total(counts_plain.get("errors")),
                conflicts=_total(counts_plain.get("conflicts")),
                duration_s=float(duration_s),
                api_calls=json.loads(json.dumps(dict(api_calls or {}), default=str)),
                error_summary=error_summary,
            )
        )

    def add_alert(self, kind: str, message: str, run_id: str | None = None, delivered: bool = False) -> int:
        """Record an alert; returns its id."""
        if kind not in t.ALERT_KINDS:
            raise LedgerError(f"alert kind must be one of {', '.join(t.ALERT_KINDS)}, got {kind!r}")
        result = self._conn.execute(
            insert(t.alerts)
            .values(at=self.now, run_id=run_id, kind=kind, message=message, delivered=bool(delivered))
            .returning(t.alerts.c.id)
        )
        return int(result.scalar_one())

    def mark_alert_delivered(self, alert_id: int) -> None:
        result = self._conn.execute(update(t.alerts).where(t.alerts.c.id == int(alert_id)).values(delivered=True))
        if result.rowcount == 0:
            raise LedgerError(f"no alert with id {alert_id}")
