"""The `Ledger`: what the sync remembers between runs, on SQLite or PostgreSQL.

Reads are methods here (DataFrames for bulk data, records or plain values for single things); every write goes
through `with ledger.batch() as tx:` (see `LedgerBatch`), so one written batch's links, base values and audit rows
commit together or not at all. The single-write methods below each open their own one-statement batch.

Conflicts move through three statuses: `open` (manual policy: nothing written, waiting for a person), `resolved`
(an automatic policy's winner was written by the run that found it, or a person decided and `pending_decisions()`
lists it until a run applies it) and `applied` (a run wrote the decision: `mark_applied`; deciding again is refused).

Match reviews (pairs matching held for a person: `add_match_reviews`) are `open` until someone decides; `accepted`
pairs wait for a run to link them (`pair_decisions`, then `mark_matches_applied`: `applied`), `rejected` pairs are
never proposed again. An open pair that waited longer than the policy's hold is released for a run (`pair_decisions`
with `hold_days`): treated as no match, so each record may match elsewhere or be created, while the review stays open.

Delete reviews (deletes/unlinks the mass-delete guard held: `add_delete_reviews`) are `open` until someone decides;
`approved` ones are carried out by the next run whatever the guard says (`delete_decisions`, then
`mark_deletes_applied`: `applied`), `rejected` ones keep the Genesys contact linked while its CRM record is gone. An
open or rejected review whose CRM record came back is `withdrawn`.

Field values (base values, audit old/new values, conflict versions) are stored as JSON text and come back with their
type; empty values (None, NaN, NA) are stored as SQL NULL and come back as None.

Health score (the guide's `getHealthScore`, durations in seconds where the guide divides milliseconds by 1000), over
the last 10 finished, non-dry runs:

    health = max(0, 100 - avg_errors * 5 - avg_duration_s)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Final

import pandas as pd
from sqlalchemy import URL, Connection, Select, and_, exc, func, or_, select

from contact_sync.ledger import tables as t
from contact_sync.ledger.batch import LedgerBatch, check_crm_system
from contact_sync.ledger.bulk import chunks, fetch, mark, select_in, stack
from contact_sync.ledger.engine import (
    build_engine,
    current_revision,
    head_revision,
    ledger_error,
    parse_url,
    redacted,
    upgrade,
    write_connection,
)
from contact_sync.ledger.errors import LedgerError
from contact_sync.ledger.records import (
    AlertRecord,
    CohortRecord,
    ConflictRecord,
    DeleteReviewRecord,
    MatchReviewRecord,
    RunRecord,
)
from contact_sync.ledger.values import decode_column, decode_value, encode_value, frame, now_utc, utc_column

HEALTH_WINDOW = 10

LINK_COLUMNS = [c.name for c in t.links.columns if c.name != "id"]
BASE_COLUMNS = [c.name for c in t.base_values.columns]
AUDIT_COLUMNS = [c.name for c in t.audit.columns]
CONFLICT_COLUMNS = [c.name for c in t.conflicts.columns]
CONFLICT_VALUES = ["base", "crm_value", "genesys_value", "decision_value"]
MATCH_REVIEW_RECORDS = ["crm_record", "genesys_record"]
PAIR_DECISION_COLUMNS = ["crm_id", "genesys_id", "decision", "review_id"]
_PAIR_DECISION = {"accepted": "accept", "rejected": "reject", "open": "release"}
_DELETE_DECISION = {"approved": "approve", "rejected": "reject", "open": "wait"}


DURATION_POINTS_PER_S: Final = 1 / 6
"""A point per 6 s of average run time: a run at the guide's slow-run mark (5 minutes) costs 50 points."""


def health_score(errors: Sequence[float], durations_s: Sequence[float]) -> float | None:
    """The health score of runs with these error counts and durations (seconds); None for no runs.

    The guide's `100 - avg_errors * 5 - avg_duration`, with the duration weighed against its own slow-run mark
    instead of a point per second: the guide's formula puts a healthy 100,000-contact first sync (90 s, no error) at
    10 and alerts on it, which teaches people to ignore the alert."""
    if not len(errors):
        return None
    avg_errors = sum(errors) / len(errors)
    avg_duration_s = sum(durations_s) / len(durations_s)
    return max(0.0, 100.0 - avg_errors * 5.0 - avg_duration_s * DURATION_POINTS_PER_S)


class Ledger:
    """The sync ledger on the database at `url` (any SQLAlchemy URL; SQLite and PostgreSQL are supported).

    Call `migrate()` once before use (it is cheap and idempotent). The URL's password never appears in the repr or in
    a `LedgerError`.
    """

    def __init__(self, url: str | URL) -> None:
        self._url = parse_url(url)
        if self._url.get_backend_name() not in ("sqlite", "postgresql"):
            raise LedgerError(f"the ledger supports sqlite and postgresql URLs, not {self._url.get_backend_name()}")
        try:
            self._engine = build_engine(self._url)
        except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
            raise ledger_error(error, self._url, "creating the engine") from None
        # The bulk paths talk to the driver directly, so its own errors are database errors too.
        self._db_errors: tuple[type[BaseException], ...] = (
            exc.SQLAlchemyError,
            self._engine.dialect.loaded_dbapi.Error,
        )

    @classmethod
    @contextmanager
    def opened(cls, url: str | URL) -> Iterator[Ledger]:
        """The ledger at `url`, migrated, and disposed of on exit: the one way the product opens it (services,
        sensors, the CLI, the demo). Raises LedgerError for a database it cannot reach or use, OSError for a SQLite
        folder it cannot create."""
        ledger = cls(url)
        try:
            ledger.migrate()
            yield ledger
        finally:
            ledger.dispose()

    def __repr__(self) -> str:
        return f"Ledger({redacted(self._url)!r})"

    @property
    def url(self) -> str:
        """The database URL with its password hidden."""
        return redacted(self._url)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def dispose(self) -> None:
        """Close pooled connections (e.g. before a test drops the database)."""
        self._engine.dispose()

    # schema ------------------------------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create or upgrade the schema to this release's newest revision; a no-op when it is current."""
        try:
            upgrade(self._engine)
        except self._db_errors as error:
            raise ledger_error(error, self._url, "migrating the schema") from None

    def schema_revision(self) -> str | None:
        """The schema revision the database is at (None before `migrate()`)."""
        with self._read() as connection:
            return current_revision(connection)

    @staticmethod
    def head_revision() -> str | None:
        """The newest schema revision this release ships."""
        return head_revision()

    # transactions ------------------------------------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[LedgerBatch]:
        """One write transaction: everything done through the yielded batch commits at the end of the block, or
        nothing does if the block raises. Database refusals become `LedgerError`.

        Inside the block write only through the batch: a `Ledger` write method opens a second transaction, which
        waits for this one (on SQLite up to the busy timeout)."""
        try:
            with write_connection(self._engine) as connection:
                yield LedgerBatch(connection)
        except self._db_errors as error:
            raise ledger_error(error, self._url, "writing") from None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as connection:
                yield connection
        except self._db_errors as error:
            raise ledger_error(error, self._url, "reading") from None

    def record_batch(
        self,
        run_id: str | None = None,
        *,
        unlinks: pd.DataFrame | None = None,
        links: pd.DataFrame | None = None,
        base: pd.DataFrame | None = None,
        audit: pd.DataFrame | None = None,
    ) -> dict[str, int]:
        """Write one batch's unlinks, links, base values and audit rows in one transaction (in that order, so a
        contact can be relinked in one batch). Returns the row counts written per part."""
        with self.batch() as tx:
            return {
                "unlinked": tx.unlink(unlinks, run_id) if unlinks is not None else 0,
                "linked": tx.add_links(links, run_id) if links is not None else 0,
                "base": tx.upsert_base(base, run_id) if base is not None else 0,
                "audit": tx.add_audit(audit, run_id) if audit is not None else 0,
            }

    def record_create_intent(self, run_id: str, audit: pd.DataFrame, crm_ids: Sequence[str]) -> int:
        """Before Genesys creates: forget older never-confirmed creations of these CRM ids, then write this run's
        `created` audit rows (no Genesys id yet), in one transaction, so the audit holds the write even if the
        process dies right after the service applied it."""
        with self.batch() as tx:
            tx.drop_unconfirmed_creates(crm_ids)
            return tx.add_audit(audit, run_id)

    def confirm_created(self, created: pd.DataFrame, run_id: str | None = None) -> int:
        """See `LedgerBatch.confirm_created`."""
        with self.batch() as tx:
            return tx.confirm_created(created, run_id)

    # links -------------------------------------------------------------------------------------------------------

    def add_links(self, links: pd.DataFrame, run_id: str | None = None) -> int:
        with self.batch() as tx:
            return tx.add_links(links, run_id)

    def unlink(self, unlinks: pd.DataFrame, run_id: str | None = None) -> int:
        with self.batch() as tx:
            return tx.unlink(unlinks, run_id)

    def links(
        self,
        crm_system: str | None = None,
        ids: Sequence[str] | None = None,
        include_unlinked: bool = False,
    ) -> pd.DataFrame:
        """Links (active ones unless `include_unlinked`), optionally only those whose CRM or Genesys id is in `ids`.

        Columns: crm_system, crm_id, genesys_id, rule, score, evidence (None for links stored without one),
        linked_at, run_id, unlinked_at, unlink_reason, unlink_run_id; oldest first.
        """
        where, params = ["1=1"], []
        with self._read() as connection:
            if crm_system is not None:
                where.append(f"crm_system = {mark(connection)}")
                params.append(crm_system)
            if not include_unlinked:
                where.append("unlinked_at IS NULL")
            sql = f"SELECT id, {', '.join(LINK_COLUMNS)} FROM sync_links WHERE {' AND '.join(where)}"
            columns = ["id", *LINK_COLUMNS]
            if ids is None:
                result = fetch(connection, sql, params, columns)
            else:
                wanted = [str(i) for i in dict.fromkeys(ids)]
                result = stack(
                    [select_in(connection, sql, c, wanted, params, columns) for c in ("crm_id", "genesys_id")],
                    columns,
                ).drop_duplicates("id")
        result = result.sort_values("id").drop(columns="id").reset_index(drop=True)
        for column in ("linked_at", "unlinked_at"):
            result[column] = utc_column(result[column])
        result["score"] = result["score"].astype(float)
        return result

    def _select_by_ids(self, query: Select[Any], columns: Sequence[Any], ids: Sequence[str] | None) -> list[Any]:
        with self._read() as connection:
            if ids is None:
                return list(connection.execute(query).all())
            rows: list[Any] = []
            wanted = [str(i) for i in dict.fromkeys(ids)]
            for part in chunks(wanted):
                rows += connection.execute(query.where(or_(*(c.in_(part) for c in columns)))).all()
            return rows

    # base values -------------------------------------------------------------------------------------------------

    def upsert_base(self, base: pd.DataFrame, run_id: str | None = None) -> int:
        with self.batch() as tx:
            return tx.upsert_base(base, run_id)

    def base_values(self, crm_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """The merge base: last synced value per (crm_id, genesys_id, field), values decoded.

        Columns: crm_id, genesys_id, field, value, synced_at, run_id.
        """
        sql = f"SELECT {', '.join(BASE_COLUMNS)} FROM sync_base_values WHERE 1=1"
        with self._read() as connection:
            if crm_ids is None:
                result = fetch(connection, sql, (), BASE_COLUMNS)
            else:
                wanted = [str(i) for i in dict.fromkeys(crm_ids)]
                result = select_in(connection, sql, "crm_id", wanted, (), BASE_COLUMNS)
        result["value"] = decode_column(result["value"])
        result["synced_at"] = utc_column(result["synced_at"])
        return result

    # watermarks --------------------------------------------------------------------------------------------------

    def set_watermark(self, name: str, value: str | datetime) -> None:
        with self.batch() as tx:
            tx.set_watermark(name, value)

    def watermark(self, name: str) -> str | None:
        """The stored watermark text (ISO 8601 for timestamps), or None when none is stored."""
        with self._read() as connection:
            return connection.execute(select(t.watermarks.c.value).where(t.watermarks.c.name == name)).scalar()

    # cohorts -----------------------------------------------------------------------------------------------------

    def create_cohort(self, name: str, crm_ids: Sequence[str]) -> CohortRecord:
        """Store a cohort of CRM ids under a new name; a name already used is refused."""
        with self.batch() as tx:
            tx.create_cohort(name, crm_ids)
        return self.cohort(name)

    def cohort(self, name: str) -> CohortRecord:
        with self._read() as connection:
            row = connection.execute(select(t.cohorts).where(t.cohorts.c.name == name)).first()
        if row is None:
            raise LedgerError(f"no cohort named {name!r}")
        return CohortRecord(name=row.name, created_at=row.created_at, size=row.size)

    def cohorts(self) -> list[CohortRecord]:
        """Every stored cohort, oldest first."""
        with self._read() as connection:
            rows = connection.execute(select(t.cohorts).order_by(t.cohorts.c.created_at, t.cohorts.c.name)).all()
        return [CohortRecord(name=r.name, created_at=r.created_at, size=r.size) for r in rows]

    def cohort_members(self, name: str) -> list[str]:
        """The CRM ids of a cohort, sorted; an unknown name is refused."""
        self.cohort(name)
        with self._read() as connection:
            query = (
                select(t.cohort_members.c.crm_id)
                .where(t.cohort_members.c.cohort == name)
                .order_by(t.cohort_members.c.crm_id)
            )
            return list(connection.execute(query).scalars().all())

    # audit log ---------------------------------------------------------------------------------------------------

    def add_audit(self, audit: pd.DataFrame, run_id: str | None = None) -> int:
        with self.batch() as tx:
            return tx.add_audit(audit, run_id)

    def _audit_frame(self, rows: Sequence[Any] | pd.DataFrame) -> pd.DataFrame:
        result = rows if isinstance(rows, pd.DataFrame) else frame(rows, AUDIT_COLUMNS)
        result = result.drop_duplicates("id").copy()
        result["at"] = utc_column(result["at"])
        result = result.sort_values(["at", "id"], kind="stable").reset_index(drop=True)
        result["old_value"] = decode_column(result["old_value"])
        result["new_value"] = decode_column(result["new_value"])
        return result

    def audit_for_run(self, run_id: str) -> pd.DataFrame:
        """Every audit row a run wrote, oldest first (columns as `audit_trail`); an unknown run id is refused."""
        with self._read() as connection:
            sql = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM sync_audit WHERE run_id = {mark(connection)}"
            rows = fetch(connection, sql, (run_id,), AUDIT_COLUMNS)
            if (
                rows.empty
                and connection.execute(select(t.runs.c.run_id).where(t.runs.c.run_id == run_id)).first() is None
            ):
                raise LedgerError(f"no run with id {run_id}")
        return self._audit_frame(rows)

    def audit_for_ids(self, ids: Sequence[str]) -> pd.DataFrame:
        """Every audit row whose record id, CRM id or Genesys id is in `ids`, oldest first (columns as
        `audit_trail`). For bulk questions such as "which fields a run wrote were changed again since"."""
        wanted = [str(i) for i in dict.fromkeys(ids)]
        sql = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM sync_audit WHERE 1=1"
        with self._read() as connection:
            parts = [
                select_in(connection, sql, c, wanted, (), AUDIT_COLUMNS) for c in ("record_id", "crm_id", "genesys_id")
            ]
        return self._audit_frame(stack(parts, AUDIT_COLUMNS))

    def audit_trail(self, query: str) -> pd.DataFrame:
        """Every audit row about one contact, oldest first: `query` is a record id, CRM id, Genesys id or an email
        address (matched case-insensitively against audited email values). The contact's linked counterpart (also
        past links) is included, so a CRM id's trail shows what was written on the Genesys side too.

        Columns: id, run_id, at, system, record_id, crm_id, genesys_id, field, old_value, new_value, reason.
        """
        ids: set[str] = {query}
        with self._read() as connection:
            if "@" in query:
                wanted = encode_value(query.strip().lower())
                matches = connection.execute(
                    select(t.audit.c.record_id, t.audit.c.crm_id, t.audit.c.genesys_id).where(
                        func.lower(t.audit.c.field).like("%email%"),
                        or_(func.lower(t.audit.c.old_value) == wanted, func.lower(t.audit.c.new_value) == wanted),
                    )
                ).all()
                ids |= {i for row in matches for i in row if i is not None}
            linked = connection.execute(
                select(t.links.c.crm_id, t.links.c.genesys_id).where(
                    or_(t.links.c.crm_id.in_(ids), t.links.c.genesys_id.in_(ids))
                )
            ).all()
            ids |= {i for row in linked for i in row}
            columns = [t.audit.c.record_id, t.audit.c.crm_id, t.audit.c.genesys_id]
            rows = connection.execute(
                select(*(t.audit.c[c] for c in AUDIT_COLUMNS)).where(or_(*(c.in_(ids) for c in columns)))
            ).all()
        return self._audit_frame(rows)

    # conflicts ---------------------------------------------------------------------------------------------------

    def add_conflicts(self, conflicts: pd.DataFrame, run_id: str | None = None) -> list[int]:
        with self.batch() as tx:
            return tx.add_conflicts(conflicts, run_id)

    def conflicts(
        self,
        status: str | None = None,
        run_id: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Conflicts, oldest first, optionally by status, by the run that found them, or by CRM/Genesys id.

        Columns: id, run_id, created_at, crm_id, genesys_id, field, base, crm_value, genesys_value, policy, winner,
        status, decision, decision_value, decided_by, decided_at, applied_run_id (values decoded).
        """
        if status is not None and status not in t.CONFLICT_STATUSES:
            raise LedgerError(f"conflict status must be one of {', '.join(t.CONFLICT_STATUSES)}, got {status!r}")
        query = select(t.conflicts).order_by(t.conflicts.c.id)
        if status is not None:
            query = query.where(t.conflicts.c.status == status)
        if run_id is not None:
            query = query.where(t.conflicts.c.run_id == run_id)
        rows = self._select_by_ids(query, [t.conflicts.c.crm_id, t.conflicts.c.genesys_id], ids)
        return self._conflict_frame(rows)

    def _conflict_frame(self, rows: Sequence[Any]) -> pd.DataFrame:
        result = frame(rows, CONFLICT_COLUMNS).drop_duplicates("id").sort_values("id").reset_index(drop=True)
        for column in CONFLICT_VALUES:
            result[column] = decode_column(result[column])
        for column in ("created_at", "decided_at"):
            result[column] = utc_column(result[column])
        return result

    def open_conflicts(self) -> pd.DataFrame:
        """Conflicts held for a person to decide (manual policy), oldest first."""
        return self.conflicts(status="open")

    def pending_decisions(self) -> pd.DataFrame:
        """Conflicts a person decided that no run has applied yet, oldest first; `decision_value` is the value to
        write."""
        query = (
            select(t.conflicts)
            .where(t.conflicts.c.status == "resolved", t.conflicts.c.decision.is_not(None))
            .order_by(t.conflicts.c.id)
        )
        with self._read() as connection:
            rows = connection.execute(query).all()
        return self._conflict_frame(rows)

    def _decoded_row(self, table: Any, row_id: int, decoded: Sequence[str], label: str) -> dict[str, Any]:
        """One row of `table` by id, its JSON columns `decoded`; an unknown id is refused naming `label`."""
        with self._read() as connection:
            row = connection.execute(select(table).where(table.c.id == int(row_id))).first()
        if row is None:
            raise LedgerError(f"no {label} with id {row_id}")
        values = row._asdict()
        for column in decoded:
            values[column] = decode_value(values[column])
        return values

    def conflict(self, conflict_id: int) -> ConflictRecord:
        return ConflictRecord(**self._decoded_row(t.conflicts, conflict_id, CONFLICT_VALUES, "conflict"))

    def decide(self, conflict_id: int, use: str, value: Any = None, by: str | None = None) -> ConflictRecord:
        """Decide a conflict: `use` is crm, genesys or value (with `value`). See `LedgerBatch.decide`."""
        with self.batch() as tx:
            tx.decide(conflict_id, use, value, by)
        return self.conflict(conflict_id)

    def mark_applied(self, conflict_ids: Sequence[int], run_id: str) -> int:
        with self.batch() as tx:
            return tx.mark_applied(conflict_ids, run_id)

    # match reviews -----------------------------------------------------------------------------------------------

    def add_match_reviews(self, reviews: pd.DataFrame, crm_system: str, run_id: str | None = None) -> list[int]:
        """Queue held pairs; returns the ids of their open reviews. See `LedgerBatch.add_match_reviews`."""
        with self.batch() as tx:
            return tx.add_match_reviews(reviews, crm_system, run_id)

    def match_reviews(
        self,
        status: str = "open",
        crm_system: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Match reviews, oldest first: by status (open, accepted, rejected, applied or all), CRM system, and
        optionally only those whose CRM or Genesys id is in `ids`.

        Columns: id, crm_system, crm_id, genesys_id, rule, score, evidence, reason, crm_record, genesys_record (dicts
        or None), status, created_at, last_seen_at, run_id, last_run_id, decided_by, decided_at, applied_run_id.
        """
        result = self._queue_rows(t.match_reviews, t.MATCH_REVIEW_STATUSES, "match review", status, crm_system, ids)
        for column in MATCH_REVIEW_RECORDS:
            result[column] = decode_column(result[column])
        result["score"] = result["score"].astype(float)
        return result

    def match_review(self, review_id: int) -> MatchReviewRecord:
        """One match review, both records decoded; an unknown id is refused."""
        return MatchReviewRecord(**self._decoded_row(t.match_reviews, review_id, MATCH_REVIEW_RECORDS, "match review"))

    def decide_match(self, review_id: int, decision: str, by: str | None = None) -> MatchReviewRecord:
        """Accept or reject a held pair; see `LedgerBatch.decide_match`."""
        with self.batch() as tx:
            tx.decide_match(review_id, decision, by)
        return self.match_review(review_id)

    def pair_decisions(self, crm_system: str, hold_days: float | None, now: datetime | None = None) -> pd.DataFrame:
        """The review queue's answers for a run's matching (`match_contacts(..., pair_decisions=...)`), oldest first.

        Columns: crm_id, genesys_id, decision, review_id. accept: accepted, not yet applied; reject: every rejected
        pair; release: open pairs created more than `hold_days` days before `now` (default: the current time), none
        when `hold_days` is None. One row per pair.
        """
        check_crm_system(crm_system, "pair decisions")
        reviews = t.match_reviews
        waiting = [reviews.c.status.in_(("accepted", "rejected"))]
        if hold_days is not None:
            if not hold_days >= 0:
                raise LedgerError(f"the review hold is a number of days >= 0, got {hold_days!r}")
            cutoff = (now or now_utc()) - timedelta(days=float(hold_days))
            waiting.append(and_(reviews.c.status == "open", reviews.c.created_at < cutoff))
        return self._decisions(reviews, and_(reviews.c.crm_system == crm_system, or_(*waiting)), _PAIR_DECISION)

    def _decisions(self, table: Any, condition: Any, decision_of: Mapping[str, str]) -> pd.DataFrame:
        """crm_id, genesys_id, decision (the review's status through `decision_of`), review_id of a queue's rows
        meeting `condition`, one row per pair (the newest review)."""
        query = (
            select(table.c.crm_id, table.c.genesys_id, table.c.status, table.c.id).where(condition).order_by(table.c.id)
        )
        with self._read() as connection:
            rows = connection.execute(query).all()
        result = frame(rows, ["crm_id", "genesys_id", "decision", "review_id"])
        result["decision"] = result["decision"].map(decision_of)
        result["review_id"] = result["review_id"].astype("int64")
        return result.drop_duplicates(["crm_id", "genesys_id"], keep="last").reset_index(drop=True)

    def mark_matches_applied(self, review_ids: Sequence[int], run_id: str) -> int:
        """Mark accepted reviews as linked by `run_id` (accepted -> applied); returns how many changed."""
        with self.batch() as tx:
            return tx.mark_matches_applied(review_ids, run_id)

    def withdraw_match_reviews(self, crm_system: str, keep_ids: Sequence[int], run_id: str) -> int:
        """Withdraw the open reviews of `crm_system` a run no longer proposed (all but `keep_ids`)."""
        with self.batch() as tx:
            return tx.withdraw_match_reviews(crm_system, keep_ids, run_id)

    # delete reviews ----------------------------------------------------------------------------------------------

    def add_delete_reviews(self, held: pd.DataFrame, crm_system: str, run_id: str | None = None) -> list[int]:
        """Queue deletes/unlinks the mass-delete guard held; see `LedgerBatch.add_delete_reviews`."""
        with self.batch() as tx:
            return tx.add_delete_reviews(held, crm_system, run_id)

    def delete_reviews(
        self, status: str = "open", crm_system: str | None = None, ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Delete reviews, oldest first: by status (open, approved, rejected, applied, withdrawn or all), CRM system,
        and optionally only those whose CRM or Genesys id is in `ids`. Columns: those of sync_delete_reviews."""
        return self._queue_rows(t.delete_reviews, t.DELETE_REVIEW_STATUSES, "delete review", status, crm_system, ids)

    def _queue_rows(
        self,
        table: Any,
        statuses: Sequence[str],
        label: str,
        status: str,
        crm_system: str | None,
        ids: Sequence[str] | None,
    ) -> pd.DataFrame:
        """A review queue's rows, oldest first, by status (or all), CRM system and CRM or Genesys id; timestamps
        timezone-aware. An unknown status is refused naming `label`."""
        if status != "all" and status not in statuses:
            raise LedgerError(f"{label} status must be one of {', '.join((*statuses, 'all'))}, got {status!r}")
        query = select(table).order_by(table.c.id)
        if status != "all":
            query = query.where(table.c.status == status)
        if crm_system is not None:
            query = query.where(table.c.crm_system == crm_system)
        rows = self._select_by_ids(query, [table.c.crm_id, table.c.genesys_id], ids)
        columns = [c.name for c in table.columns]
        result = frame(rows, columns).drop_duplicates("id").sort_values("id").reset_index(drop=True)
        for column in ("created_at", "last_seen_at", "decided_at"):
            result[column] = utc_column(result[column])
        return result

    def delete_review(self, review_id: int) -> DeleteReviewRecord:
        """One delete review; an unknown id is refused."""
        return DeleteReviewRecord(**self._decoded_row(t.delete_reviews, review_id, [], "delete review"))

    def decide_delete(self, review_id: int, decision: str, by: str | None = None) -> DeleteReviewRecord:
        """Approve or reject a held delete/unlink; see `LedgerBatch.decide_delete`."""
        with self.batch() as tx:
            tx.decide_delete(review_id, decision, by)
        return self.delete_review(review_id)

    def delete_decisions(self, crm_system: str) -> pd.DataFrame:
        """What the delete review queue says for a run's guard: crm_id, genesys_id, decision, review_id, one row per
        pair. approve: approved, not yet applied; reject: rejected (kept while the CRM record is gone); wait: open."""
        check_crm_system(crm_system, "delete decisions")
        reviews = t.delete_reviews
        waiting = and_(reviews.c.crm_system == crm_system, reviews.c.status.in_(tuple(_DELETE_DECISION)))
        return self._decisions(reviews, waiting, _DELETE_DECISION)

    def mark_deletes_applied(self, review_ids: Sequence[int], run_id: str) -> int:
        """Mark approved delete reviews as carried out by `run_id` (approved -> applied); returns how many."""
        with self.batch() as tx:
            return tx.mark_deletes_applied(review_ids, run_id)

    def withdraw_delete_reviews(
        self, crm_system: str, still_held: pd.DataFrame, crm_ids: Sequence[str] | None, run_id: str
    ) -> int:
        """Withdraw open and rejected delete reviews a run no longer holds (`LedgerBatch.withdraw_delete_reviews`)."""
        with self.batch() as tx:
            return tx.withdraw_delete_reviews(crm_system, still_held, crm_ids, run_id)

    def open_delete_review_count(self, crm_system: str | None = None) -> int:
        """How many held deletes/unlinks wait for a person, for status and sensors."""
        return self._open_count(t.delete_reviews, crm_system)

    def _open_count(self, table: Any, crm_system: str | None) -> int:
        query = select(func.count()).select_from(table).where(table.c.status == "open")
        if crm_system is not None:
            query = query.where(table.c.crm_system == crm_system)
        with self._read() as connection:
            return int(connection.execute(query).scalar_one())

    def claim_lock(
        self, name: str, run_id: str, owner: str, lease_s: float, steal_from: str | None = None
    ) -> dict[str, Any]:
        """Take or renew lock `name` for `run_id` atomically (see `LedgerBatch.claim_lock`); the row afterwards."""
        with self.batch() as tx:
            return tx.claim_lock(name, run_id, owner, lease_s, steal_from)

    def release_lock(self, name: str, run_id: str) -> bool:
        """Give lock `name` back if `run_id` holds it."""
        with self.batch() as tx:
            return tx.release_lock(name, run_id)

    def lock(self, name: str) -> dict[str, Any] | None:
        """Lock `name` as stored (run_id, owner, acquired_at, expires_at), or None when free."""
        with self._read() as connection:
            row = connection.execute(select(t.run_locks).where(t.run_locks.c.name == name)).mappings().first()
        return dict(row) if row is not None else None

    def open_match_review_count(self, crm_system: str | None = None) -> int:
        """How many pairs wait for a person (open reviews), for status and sensors."""
        return self._open_count(t.match_reviews, crm_system)

    # runs --------------------------------------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        mode: str,
        cohort: str | None = None,
        dry_run: bool = False,
        started_at: datetime | None = None,
    ) -> None:
        with self.batch() as tx:
            tx.start_run(run_id, mode, cohort, dry_run, started_at)

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
        with self.batch() as tx:
            tx.finish_run(run_id, status, counts, duration_s, api_calls, error_summary, finished_at)

    @staticmethod
    def _run_record(row: Any) -> RunRecord:
        return RunRecord(
            run_id=row.run_id,
            started_at=row.started_at,
            finished_at=row.finished_at,
            mode=row.mode,
            cohort=row.cohort,
            status=row.status,
            dry_run=bool(row.dry_run),
            counts=dict(row.counts or {}),
            errors=int(row.errors),
            conflicts=int(row.conflicts),
            duration_s=row.duration_s,
            api_calls=dict(row.api_calls or {}),
            error_summary=row.error_summary,
        )

    def run(self, run_id: str) -> RunRecord:
        """One recorded run; an unknown run id is refused."""
        with self._read() as connection:
            row = connection.execute(select(t.runs).where(t.runs.c.run_id == run_id)).first()
        if row is None:
            raise LedgerError(f"no run with id {run_id}")
        return self._run_record(row)

    def recent_runs(self, n: int = 10) -> list[RunRecord]:
        """The last `n` runs, newest first."""
        query = select(t.runs).order_by(t.runs.c.started_at.desc(), t.runs.c.run_id.desc()).limit(int(n))
        with self._read() as connection:
            return [self._run_record(r) for r in connection.execute(query).all()]

    def health_score(self, window: int = HEALTH_WINDOW) -> float | None:
        """`health_score` over the last `window` finished, non-dry runs. None when no run has finished yet."""
        query = (
            select(t.runs.c.errors, t.runs.c.duration_s)
            .where(t.runs.c.status.in_(("success", "failure")), t.runs.c.dry_run.is_(False))
            .order_by(t.runs.c.started_at.desc(), t.runs.c.run_id.desc())
            .limit(int(window))
        )
        with self._read() as connection:
            rows = connection.execute(query).all()
        return health_score([r.errors for r in rows], [r.duration_s or 0.0 for r in rows])

    # alerts ------------------------------------------------------------------------------------------------------

    def add_alert(self, kind: str, message: str, run_id: str | None = None, delivered: bool = False) -> int:
        with self.batch() as tx:
            return tx.add_alert(kind, message, run_id, delivered)

    def mark_alert_delivered(self, alert_id: int) -> None:
        with self.batch() as tx:
            tx.mark_alert_delivered(alert_id)

    def recent_alerts(self, n: int = 20) -> list[AlertRecord]:
        """The last `n` alerts, newest first."""
        query = select(t.alerts).order_by(t.alerts.c.at.desc(), t.alerts.c.id.desc()).limit(int(n))
        with self._read() as connection:
            rows = connection.execute(query).all()
        return [
            AlertRecord(id=r.id, at=r.at, run_id=r.run_id, kind=r.kind, message=r.message, delivered=bool(r.delivered))
            for r in rows
        ]
