"""The simulated org's data in SQLite: contacts, accounts, sessions, and every write the API or a test makes.

In memory (one connection shared by threads, guarded by a lock) or in a file under the state folder (WAL mode), so
another process opening the same folder sees the same data. Writes run in `BEGIN IMMEDIATE` transactions.

Timestamps: every write transaction takes one stamp, `max(clock now, previous stamp + 1 ms)` (the previous stamp is
kept in the database, so it also holds across processes), and sets it as LastModifiedDate and SystemModstamp of every
row it touches. Stamps therefore strictly increase from one transaction to the next and a transaction commits
atomically, so a reader that remembers the highest SystemModstamp it saw can never miss a later write by asking for
`SystemModstamp > watermark`. The price: under more than 1000 write transactions per second (or a frozen test
clock) stamps run ahead of the clock by a millisecond per transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contact_sync.simulators.salesforce.errors import record_error
from contact_sync.simulators.salesforce.ids import make_ids, normalize_id
from contact_sync.simulators.salesforce.schema import ACCOUNT, CONTACT, OBJECTS, SObject, full_name
from contact_sync.simulators.salesforce.soql import Compiled
from contact_sync.simulators.salesforce.timefmt import format_sf, parse_sf, truncate_ms
from contact_sync.simulators.salesforce.validation import validate, validate_many

DB_FILE = "salesforce.sqlite3"
_SQL_TYPES = {
    "id": "TEXT",
    "reference": "TEXT",
    "string": "TEXT COLLATE NOCASE",
    "email": "TEXT COLLATE NOCASE",
    "phone": "TEXT COLLATE NOCASE",
    "double": "REAL",
    "boolean": "INTEGER NOT NULL DEFAULT 0",
    "datetime": "TEXT",
}
_CHUNK = 500

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _ddl(obj: SObject) -> list[str]:
    cols = ", ".join(f'"{f.name}" {_SQL_TYPES[f.type]}' for f in obj.fields if f.name != "Id")
    return [
        f'CREATE TABLE IF NOT EXISTS {obj.table} (seq INTEGER PRIMARY KEY, "Id" TEXT NOT NULL UNIQUE, {cols}, '
        '"DeletedDate" TEXT)',
        f'CREATE INDEX IF NOT EXISTS {obj.table}_modstamp ON {obj.table} ("SystemModstamp")',
        f'CREATE INDEX IF NOT EXISTS {obj.table}_deleted ON {obj.table} ("DeletedDate") WHERE "IsDeleted" = 1',
    ]


class RecordErrors(ValueError):
    """A direct (test helper) write was rejected; `errors` holds the per-record errors the API would report."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{e['statusCode']}: {e['message']}" for e in errors))
        self.errors = errors


class Store:
    """All state of one simulated org. Thread-safe; methods take and return plain Python values."""

    def __init__(self, state_dir: Path | None, clock: Clock = utc_now) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self._depth = 0  # open write transactions (nested ones are savepoints)
        if state_dir is None:
            self.conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        else:
            self.conn = sqlite3.connect(
                str(state_dir / DB_FILE), check_same_thread=False, isolation_level=None, timeout=30
            )
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        with self._write() as cur:
            for obj in OBJECTS.values():
                for stmt in _ddl(obj):
                    cur.execute(stmt)
            cur.execute('CREATE INDEX IF NOT EXISTS contact_genesys ON contact ("Genesys_Id__c")')
            cur.execute("CREATE TABLE IF NOT EXISTS session (token TEXT PRIMARY KEY, issued TEXT NOT NULL)")
            cur.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    # -- plumbing -----------------------------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        """A write transaction; inside another (`transaction`, e.g. a composite request with allOrNone) a savepoint,
        so the outer one decides whether anything is kept."""
        with self.lock:
            depth = self._depth
            cur = self.conn.cursor()
            cur.execute(f"SAVEPOINT sp{depth}" if depth else "BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield cur
            except BaseException:
                self._depth = depth
                cur.execute(f"ROLLBACK TO sp{depth}" if depth else "ROLLBACK")
                if depth:
                    cur.execute(f"RELEASE sp{depth}")
                raise
            self._depth = depth
            cur.execute(f"RELEASE sp{depth}" if depth else "COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every write inside is kept only if the block ends without an exception."""
        with self._write():
            yield

    def _stamp(self, cur: sqlite3.Cursor) -> str:
        """The stamp of the current write transaction (see the module docstring)."""
        now = truncate_ms(self.clock().astimezone(UTC))
        row = cur.execute("SELECT value FROM meta WHERE key = 'last_stamp'").fetchone()
        if row:
            last = parse_sf(row[0])
            if last is not None and now <= last:
                now = last + timedelta(milliseconds=1)
        stamp = format_sf(now)
        cur.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_stamp', ?)", (stamp,))
        return stamp

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def reset(self) -> None:
        """Remove every record (sessions stay valid, so logged-in clients keep working)."""
        with self._write() as cur:
            for obj in OBJECTS.values():
                cur.execute(f"DELETE FROM {obj.table}")
            cur.execute("DELETE FROM meta")

    # -- sessions -----------------------------------------------------------------------------------------------
    def add_session(self, token: str) -> None:
        with self._write() as cur:
            cur.execute("INSERT INTO session (token, issued) VALUES (?, ?)", (token, format_sf(self.now())))

    def has_session(self, token: str) -> bool:
        with self.lock:
            return self.conn.execute("SELECT 1 FROM session WHERE token = ?", (token,)).fetchone() is not None

    def expire_sessions(self) -> None:
        with self._write() as cur:
            cur.execute("DELETE FROM session")

    # -- reads --------------------------------------------------------------------------------------------------
    def get(self, obj: SObject, record_id: str) -> dict[str, Any] | None:
        """The row (deleted ones included) with API field names, or None."""
        cols = ", ".join(f'"{c}"' for c in obj.columns)
        with self.lock:
            row = self.conn.execute(f'SELECT {cols} FROM {obj.table} WHERE "Id" = ?', (record_id,)).fetchone()
        if row is None:
            return None
        record = dict(zip(obj.columns, row, strict=True))
        record["IsDeleted"] = bool(record["IsDeleted"])
        return record

    def count(self, obj: SObject, include_deleted: bool = False) -> int:
        where = "" if include_deleted else ' WHERE "IsDeleted" = 0'
        with self.lock:
            return int(self.conn.execute(f"SELECT count(*) FROM {obj.table}{where}").fetchone()[0])

    def query(self, q: Compiled, include_deleted: bool) -> tuple[int, list[tuple[Any, ...]]]:
        """Run a compiled query: (total size, rows of (Id, selected fields...)); rows are empty for COUNT()."""
        conds = [] if include_deleted else ['"IsDeleted" = 0']
        if q.where_sql:
            conds.append(q.where_sql)
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        tail = ""
        params = list(q.params)
        if q.limit is not None or q.offset is not None:
            tail = " LIMIT ? OFFSET ?"
            params += [q.limit if q.limit is not None else -1, q.offset or 0]
        with self.lock:
            if q.count_only:
                sql = f"SELECT count(*) FROM (SELECT 1 FROM {q.obj.table}{where}{tail})"
                return int(self.conn.execute(sql, params).fetchone()[0]), []
            cols = ", ".join(['"Id"', *q.columns])
            order = f"{q.order_sql}, seq" if q.order_sql else "seq"
            rows = self.conn.execute(
                f"SELECT {cols} FROM {q.obj.table}{where} ORDER BY {order}{tail}", params
            ).fetchall()
        return len(rows), rows

    def updated_ids(self, obj: SObject, start: str, end: str) -> list[str]:
        sql = (
            f'SELECT "Id" FROM {obj.table} WHERE "IsDeleted" = 0 AND "SystemModstamp" >= ? AND "SystemModstamp" < ? '
            'ORDER BY "SystemModstamp", seq'
        )
        with self.lock:
            return [r[0] for r in self.conn.execute(sql, (start, end))]

    def deleted_records(self, obj: SObject, start: str, end: str) -> list[tuple[str, str]]:
        sql = (
            f'SELECT "Id", "DeletedDate" FROM {obj.table} WHERE "IsDeleted" = 1 AND "DeletedDate" >= ? '
            'AND "DeletedDate" < ? ORDER BY "DeletedDate", seq'
        )
        with self.lock:
            return [(r[0], r[1]) for r in self.conn.execute(sql, (start, end))]

    def find_by(self, obj: SObject, field: str, value: str) -> list[str]:
        """Ids of live records whose `field` equals `value` (case-insensitive for text, as external ids are)."""
        with self.lock:
            rows = self.conn.execute(
                f'SELECT "Id" FROM {obj.table} WHERE "IsDeleted" = 0 AND "{field}" = ? ORDER BY seq', (value,)
            ).fetchall()
        return [r[0] for r in rows]

    # -- writes -------------------------------------------------------------------------------------------------
    def _live_ids(self, cur: sqlite3.Cursor, obj: SObject, ids: set[str]) -> set[str]:
        found: set[str] = set()
        id_list = list(ids)
        for i in range(0, len(id_list), _CHUNK):
            chunk = id_list[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f'SELECT "Id" FROM {obj.table} WHERE "IsDeleted" = 0 AND "Id" IN ({marks})'
            found.update(r[0] for r in cur.execute(sql, chunk))
        return found

    def _rows_by_id(self, cur: sqlite3.Cursor, obj: SObject, ids: Sequence[str], cols: str) -> dict[str, tuple]:
        out: dict[str, tuple] = {}
        id_list = list(dict.fromkeys(ids))
        for i in range(0, len(id_list), _CHUNK):
            chunk = id_list[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in cur.execute(f'SELECT "Id", {cols} FROM {obj.table} WHERE "Id" IN ({marks})', chunk):
                out[row[0]] = row
        return out

    def _check_references(self, cur: sqlite3.Cursor, obj: SObject, values: list[dict[str, Any] | None]) -> list[list]:
        """Per record: errors for references to records that do not exist (or are deleted)."""
        errors: list[list] = [[] for _ in values]
        if obj is not CONTACT:
            return errors
        wanted = {v["AccountId"] for v in values if v and v.get("AccountId")}
        live = self._live_ids(cur, ACCOUNT, wanted) if wanted else set()
        for i, v in enumerate(values):
            if v and v.get("AccountId") and v["AccountId"] not in live:
                errors[i].append(
                    record_error(
                        "INVALID_CROSS_REFERENCE_KEY",
                        f"invalid cross reference id: {v['AccountId']}",
                        ["AccountId"],
                    )
                )
        return errors

    def _duplicate_errors(
        self,
        cur: sqlite3.Cursor,
        obj: SObject,
        cleaned: list[dict[str, Any] | None],
        own_ids: Sequence[str | None],
        errors: list[list],
    ) -> None:
        """The duplicate rule (off unless the simulator enables it): a contact whose Email equals, ignoring case, the
        Email of another live contact or of an earlier record of the same call is refused with DUPLICATES_DETECTED."""
        if obj is not CONTACT:
            return
        wanted = {v["Email"].lower() for v in cleaned if v and v.get("Email")}
        if not wanted:
            return
        existing: dict[str, set[str]] = {}
        emails = list(wanted)
        for i in range(0, len(emails), _CHUNK):
            chunk = emails[i : i + _CHUNK]
            sql = (
                f'SELECT lower("Email"), "Id" FROM contact WHERE "IsDeleted" = 0 AND lower("Email") IN '
                f"({','.join('?' * len(chunk))})"
            )
            for email, rid in cur.execute(sql, chunk):
                existing.setdefault(email, set()).add(rid)
        for i, values in enumerate(cleaned):
            email = values.get("Email") if values else None
            if not email:
                continue
            others = existing.get(email.lower(), set()) - {own_ids[i]}
            if others:
                errors[i].append(
                    record_error(
                        "DUPLICATES_DETECTED",
                        "You're creating a duplicate record. We recommend you use an existing record instead.",
                        [],
                    )
                )
                cleaned[i] = None
            else:
                existing.setdefault(email.lower(), set()).add(own_ids[i] or f"new-{i}")

    def create(
        self,
        obj: SObject,
        payloads: Sequence[dict[str, Any]],
        all_or_none: bool = False,
        check_duplicates: bool = False,
    ) -> list[dict[str, Any]]:
        """Insert records; one collections-shaped result per payload, in order (nothing written if allOrNone fails).
        `check_duplicates` applies the duplicate rule (see `_duplicate_errors`)."""
        cleaned, errors = validate_many(obj, payloads, creating=True)
        id_keys = {k for k in set().union(*payloads) if k.lower() == "id"} if payloads else set()
        for i, payload in enumerate(payloads):
            if id_keys and cleaned[i] is not None and not id_keys.isdisjoint(payload):
                cleaned[i] = None
                errors[i] = [record_error("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])]
        with self._write() as cur:
            for i, ref_errs in enumerate(self._check_references(cur, obj, cleaned)):
                if ref_errs:
                    errors[i].extend(ref_errs)
                    cleaned[i] = None
            if check_duplicates:
                self._duplicate_errors(cur, obj, cleaned, [None] * len(payloads), errors)
            if all_or_none and any(errors):
                return _rolled_back(errors, [None] * len(payloads))
            good = [v for v in cleaned if v is not None]
            ids = self._insert(cur, obj, good) if good else []
        results: list[dict[str, Any]] = []
        it = iter(ids)
        for values, errs in zip(cleaned, errors, strict=True):
            if values is None:
                results.append({"success": False, "errors": errs})
            else:
                results.append({"id": next(it), "success": True, "errors": []})
        return results

    def _insert(self, cur: sqlite3.Cursor, obj: SObject, rows: list[dict[str, Any]]) -> list[str]:
        stamp = self._stamp(cur)
        start = int(cur.execute(f"SELECT coalesce(max(seq), 0) FROM {obj.table}").fetchone()[0]) + 1
        writable = [f.name for f in obj.fields if f.writable]
        cols = ["seq", "Id", *writable, "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp"]
        if obj is CONTACT:
            cols.append("Name")
        n = len(rows)
        ids = make_ids(obj.prefix, start, n)
        columns: list[Any] = [range(start, start + n), ids, *([r.get(c) for r in rows] for c in writable)]
        columns += [[0] * n, [stamp] * n, [stamp] * n, [stamp] * n]
        if obj is CONTACT:
            columns.append([full_name(r.get("FirstName"), r.get("LastName")) for r in rows])
        data = zip(*columns, strict=True)
        col_sql = ", ".join(f'"{c}"' for c in cols)
        cur.executemany(f"INSERT INTO {obj.table} ({col_sql}) VALUES ({','.join('?' * len(cols))})", data)
        return ids

    def update(
        self,
        obj: SObject,
        items: Sequence[tuple[Any, dict[str, Any]]],
        all_or_none: bool = False,
        unmodified_since: datetime | None = None,
        by_user: bool = True,
        check_duplicates: bool = False,
    ) -> list[dict[str, Any]]:
        """Update records given as (id, payload); one result per item. `unmodified_since` fails with
        `PRECONDITION_FAILED` a record whose LastModifiedDate is later (compared at second resolution).
        `by_user=False` is a change by automation: it moves SystemModstamp but not LastModifiedDate."""
        norm_ids = [normalize_id(rid) if isinstance(rid, str) else None for rid, _ in items]
        cleaned: list[dict[str, Any] | None] = []
        errors: list[list] = []
        for (rid, payload), nid in zip(items, norm_ids, strict=True):
            if rid is None or rid == "":
                cleaned.append(None)
                errors.append([record_error("MISSING_ARGUMENT", "Id not specified in an update call", [])])
                continue
            if nid is None or not nid.startswith(obj.prefix):
                cleaned.append(None)
                errors.append([record_error("MALFORMED_ID", f"malformed id {rid}", [])])
                continue
            values, errs = validate(obj, payload, creating=False)
            cleaned.append(None if errs else values)
            errors.append(errs)
        seen: set[str] = set()
        with self._write() as cur:
            existing = self._rows_by_id(
                cur,
                obj,
                [n for n in norm_ids if n],
                '"IsDeleted", "LastModifiedDate", "FirstName", "LastName"'
                if obj is CONTACT
                else '"IsDeleted", "LastModifiedDate"',
            )
            for i, nid in enumerate(norm_ids):
                if cleaned[i] is None or nid is None:
                    continue
                row = existing.get(nid)
                err = None
                if row is None:
                    err = record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
                elif row[1]:
                    err = record_error("ENTITY_IS_DELETED", "entity is deleted", [])
                elif nid in seen:
                    err = record_error(
                        "DUPLICATE_VALUE",
                        f"Maximum number of duplicate updates in one batch "
                        f"(1 allowed). Attempt to update Id more than once in this API call: {nid}",
                        [],
                    )
                elif unmodified_since is not None:
                    last = parse_sf(row[2])
                    if last is not None and last.replace(microsecond=0) > unmodified_since:
                        err = record_error(
                            "PRECONDITION_FAILED",
                            "The requested resource has been modified since the time specified in If-Unmodified-Since",
                            [],
                        )
                if err:
                    errors[i].append(err)
                    cleaned[i] = None
                else:
                    seen.add(nid)
            for i, ref_errs in enumerate(self._check_references(cur, obj, cleaned)):
                if ref_errs:
                    errors[i].extend(ref_errs)
                    cleaned[i] = None
            if check_duplicates:
                self._duplicate_errors(cur, obj, cleaned, norm_ids, errors)
            if all_or_none and any(errors):
                return _rolled_back(errors, norm_ids)
            if any(v is not None for v in cleaned):
                stamp = self._stamp(cur)
                for nid, values in zip(norm_ids, cleaned, strict=True):
                    if values is None or nid is None:
                        continue
                    sets = dict(values)
                    if obj is CONTACT and ("FirstName" in sets or "LastName" in sets):
                        old = existing[nid]
                        first = sets.get("FirstName", old[3])
                        last_name = sets.get("LastName", old[4])
                        sets["Name"] = full_name(first, last_name)
                    if by_user:
                        sets["LastModifiedDate"] = stamp
                    sets["SystemModstamp"] = stamp
                    assign = ", ".join(f'"{k}" = ?' for k in sets)
                    cur.execute(f'UPDATE {obj.table} SET {assign} WHERE "Id" = ?', [*sets.values(), nid])
        return [
            {"id": nid or rid, "success": values is not None, "errors": errs}
            for (rid, _), nid, values, errs in zip(items, norm_ids, cleaned, errors, strict=True)
        ]

    def delete(self, obj: SObject, ids: Sequence[str], all_or_none: bool = False) -> list[dict[str, Any]]:
        """Soft-delete records (IsDeleted, DeletedDate); one result per id."""
        norm = [normalize_id(i) for i in ids]
        errors: list[list] = [[] for _ in ids]
        with self._write() as cur:
            existing = self._rows_by_id(cur, obj, [n for n in norm if n], '"IsDeleted"')
            seen: set[str] = set()
            for i, (rid, nid) in enumerate(zip(ids, norm, strict=True)):
                if nid is None or not nid.startswith(obj.prefix):
                    errors[i].append(record_error("MALFORMED_ID", f"malformed id {rid}", []))
                elif nid not in existing:
                    errors[i].append(record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []))
                elif existing[nid][1] or nid in seen:
                    errors[i].append(record_error("ENTITY_IS_DELETED", "entity is deleted", []))
                else:
                    seen.add(nid)
            if all_or_none and any(errors):
                return _rolled_back(errors, norm)
            if seen:
                self._soft_delete(cur, obj, sorted(seen), None)
        return [
            {"id": nid or rid, "success": not errs, "errors": errs}
            for rid, nid, errs in zip(ids, norm, errors, strict=True)
        ]

    def _soft_delete(self, cur: sqlite3.Cursor, obj: SObject, ids: list[str], master: str | None) -> None:
        stamp = self._stamp(cur)
        cur.executemany(
            f'UPDATE {obj.table} SET "IsDeleted" = 1, "DeletedDate" = ?, "LastModifiedDate" = ?, '
            '"SystemModstamp" = ?' + (', "MasterRecordId" = ?' if master else "") + ' WHERE "Id" = ?',
            [(stamp, stamp, stamp, *((master,) if master else ()), i) for i in ids],
        )

    def merge(self, obj: SObject, master_id: str, loser_ids: Sequence[str]) -> None:
        """Merge: the losers are soft-deleted with MasterRecordId = master, and the master is touched."""
        master = normalize_id(master_id)
        losers = [normalize_id(i) for i in loser_ids]
        if master is None or any(i is None for i in losers):
            raise RecordErrors([record_error("MALFORMED_ID", "malformed id in merge", [])])
        with self._write() as cur:
            want = {master, *[i for i in losers if i]}
            live = self._live_ids(cur, obj, want)
            missing = sorted(want - live)
            if missing:
                raise RecordErrors([record_error("ENTITY_IS_DELETED", f"entity is deleted or missing: {missing}", [])])
            if master in losers:
                raise RecordErrors([record_error("INVALID_ID_FIELD", "the master record cannot be merged", [])])
            self._soft_delete(cur, obj, [i for i in losers if i], master)
            stamp = self._stamp(cur)
            cur.execute(
                f'UPDATE {obj.table} SET "LastModifiedDate" = ?, "SystemModstamp" = ? WHERE "Id" = ?',
                (stamp, stamp, master),
            )


def _rolled_back(errors: list[list], ids: Sequence[str | None]) -> list[dict[str, Any]]:
    """allOrNone results: failing records keep their errors, the others report the rollback."""
    rolled = record_error(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "Record rolled back because not all records were valid and the request was using AllOrNone header",
        [],
    )
    results: list[dict[str, Any]] = []
    for errs, rid in zip(errors, ids, strict=True):
        result: dict[str, Any] = {"id": rid} if rid is not None else {}
        result.update(success=False, errors=errs or [rolled])
        results.append(result)
    return results
