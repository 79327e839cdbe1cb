"""SQLite state of the HubSpot simulator: contacts, companies, their associations, property definitions, issued OAuth
tokens and the write stamp.

Connection, locking, transactions and tokens are `simulators.sqlite_store`'s. One table per object type, keyed by the
numeric id (SQLite's rowid, so the next id and id-ordered pages are cheap), with the property map as JSON text and
indexed columns for what reads filter and sort on: the last-modified stamp, the creation date, the lower-cased email
(contacts) and, per unique custom property, an expression index on its JSON value.

A record's `state`: 0 live, 1 archived (deleted; `archived=true` reads see it), 2 merged away (its id and email still
resolve, through `merged_into`, to the record it was merged into).

Stamps: every write transaction takes one, `max(clock now, previous stamp + 1 ms)`, kept in the database so it also
holds across restarts and processes, and sets it as the last-modified date of every record it touches. Stamps
strictly increase from one write to the next and a write commits atomically, so a reader that remembers the highest
`lastmodifieddate` it saw cannot miss a later write by asking for `GT` that watermark. The price, as in the Salesforce
simulator: under more than 1000 writes per second (or a frozen test clock) stamps run ahead of the clock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from contact_sync.simulators.hubspot.schema import OBJECTS, ObjectType, Property, iso_ms, parse_iso
from contact_sync.simulators.sqlite_store import SqliteStore

LIVE, ARCHIVED, MERGED = 0, 1, 2
_CHUNK = 500


def _object_ddl(table: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {table} (
    id INTEGER PRIMARY KEY,
    props TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    archived_at TEXT,
    merged_into INTEGER,
    email_key TEXT
);
CREATE INDEX IF NOT EXISTS {table}_state ON {table} (state, id);
CREATE INDEX IF NOT EXISTS {table}_updated ON {table} (state, updated, id);
CREATE INDEX IF NOT EXISTS {table}_created ON {table} (state, created, id);
CREATE INDEX IF NOT EXISTS {table}_email ON {table} (email_key) WHERE email_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS {table}_merged ON {table} (merged_into) WHERE merged_into IS NOT NULL;
"""


_SCHEMA = (
    _object_ddl("contacts")
    + _object_ddl("companies")
    + """
CREATE TABLE IF NOT EXISTS associations (
    contact_id INTEGER NOT NULL,
    company_id INTEGER NOT NULL,
    PRIMARY KEY (contact_id, company_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS associations_company ON associations (company_id, contact_id);
CREATE TABLE IF NOT EXISTS properties (
    object TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    is_unique INTEGER NOT NULL,
    read_only INTEGER NOT NULL,
    custom INTEGER NOT NULL,
    PRIMARY KEY (object, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
)

_COLUMNS = "id, props, created, updated, state, archived_at, merged_into"


@dataclass
class Record:
    """One stored record; `props` holds the stored property values (the computed ones are added on reads)."""

    id: int
    props: dict[str, str]
    created: str
    updated: str
    state: int = LIVE
    archived_at: str | None = None
    merged_into: int | None = None


def _record(row: tuple[Any, ...]) -> Record:
    return Record(row[0], orjson.loads(row[1]), row[2], row[3], row[4], row[5], row[6])


def email_key(props: dict[str, Any], obj: ObjectType) -> str | None:
    if obj.name != "contacts":
        return None
    email = props.get("email")
    return email.lower() if isinstance(email, str) and email else None


def unique_index_sql(obj: ObjectType, prop: Property) -> str | None:
    """The expression index a unique custom property's lookups use (None when a column serves it)."""
    if not prop.unique or prop.name in ("email", "hs_object_id"):
        return None
    return f"CREATE INDEX IF NOT EXISTS {obj.name}_u_{prop.name} ON {obj.name} (json_extract(props, '$.{prop.name}'))"


class Store(SqliteStore):
    """All persistent state, behind one lock."""

    tables = ("contacts", "companies", "associations", "meta")

    def __init__(self, path: Path | None) -> None:
        # 100,000 contacts are tens of MB: a cache that holds the hot B-tree pages keeps bulk writes fast.
        super().__init__(path, _SCHEMA, pragmas=("PRAGMA cache_size=-65536",))

    # --- properties ----------------------------------------------------------------------------------------------

    def properties(self) -> dict[str, dict[str, Property]]:
        with self.lock:
            rows = self._conn.execute(
                "SELECT object, name, type, is_unique, read_only, custom FROM properties ORDER BY object, name"
            ).fetchall()
        out: dict[str, dict[str, Property]] = {name: {} for name in OBJECTS}
        for obj, name, ptype, unique, read_only, custom in rows:
            out.setdefault(obj, {})[name] = Property(name, ptype, bool(unique), bool(read_only), bool(custom))
        return out

    def put_properties(self, obj: ObjectType, props: Iterable[Property], replace: bool = False) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self.transaction() as db:
            for prop in props:
                db.execute(
                    f"{verb} INTO properties (object, name, type, is_unique, read_only, custom) VALUES (?,?,?,?,?,?)",
                    (obj.name, prop.name, prop.type, int(prop.unique), int(prop.read_only), int(prop.custom)),
                )
                index = unique_index_sql(obj, prop)
                if index:
                    db.execute(index)

    def clear_properties(self) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM properties")

    # --- stamps and ids ------------------------------------------------------------------------------------------

    def stamp(self, db: sqlite3.Connection, now: datetime) -> str:
        """The stamp of the current write transaction (see the module docstring)."""
        stamp = now.replace(microsecond=now.microsecond // 1000 * 1000)
        row = db.execute("SELECT value FROM meta WHERE key = 'last_stamp'").fetchone()
        if row:
            last = parse_iso(row[0])
            if stamp <= last:
                stamp = last + timedelta(milliseconds=1)
        text = iso_ms(stamp)
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_stamp', ?)", (text,))
        return text

    def note_stamp(self, db: sqlite3.Connection, stamp: str) -> None:
        """Keep `stamp` (one a seeding helper set) as the last one if it is later, so API writes stay after it."""
        row = db.execute("SELECT value FROM meta WHERE key = 'last_stamp'").fetchone()
        if row is None or row[0] < stamp:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_stamp', ?)", (stamp,))

    @staticmethod
    def next_ids(db: sqlite3.Connection, obj: ObjectType, count: int) -> list[int]:
        top = db.execute(f"SELECT max(id) FROM {obj.name}").fetchone()[0]
        first = max(obj.id_start, (top or 0) + 1)
        return list(range(first, first + count))

    # --- writes --------------------------------------------------------------------------------------------------

    @staticmethod
    def insert(db: sqlite3.Connection, obj: ObjectType, records: Iterable[Record]) -> None:
        rows = [
            (r.id, orjson.dumps(r.props).decode(), r.created, r.updated, r.state, email_key(r.props, obj))
            for r in records
        ]
        db.executemany(
            f"INSERT INTO {obj.name} (id, props, created, updated, state, email_key) VALUES (?,?,?,?,?,?)", rows
        )

    @staticmethod
    def update(db: sqlite3.Connection, obj: ObjectType, records: Iterable[Record]) -> None:
        """Write back the props, updated stamp, state and merge pointer of records read in this transaction."""
        rows = [
            (
                orjson.dumps(r.props).decode(),
                r.updated,
                r.state,
                r.archived_at,
                r.merged_into,
                email_key(r.props, obj),
                r.id,
            )
            for r in records
        ]
        db.executemany(
            f"UPDATE {obj.name} SET props = ?, updated = ?, state = ?, archived_at = ?, merged_into = ?, "
            "email_key = ? WHERE id = ?",
            rows,
        )

    @staticmethod
    def touch(db: sqlite3.Connection, obj: ObjectType, ids: Iterable[int], stamp: str) -> None:
        """Move the last-modified date of these live records to `stamp` (an association changed)."""
        db.executemany(f"UPDATE {obj.name} SET updated = ? WHERE id = ? AND state = 0", [(stamp, i) for i in ids])

    @staticmethod
    def repoint_merged(db: sqlite3.Connection, obj: ObjectType, old_ids: list[int], new_id: int) -> None:
        """Records merged earlier into one of `old_ids` now resolve straight to `new_id` (one hop, always)."""
        marks = ",".join("?" * len(old_ids))
        db.execute(f"UPDATE {obj.name} SET merged_into = ? WHERE merged_into IN ({marks})", [new_id, *old_ids])

    # --- reads ---------------------------------------------------------------------------------------------------

    def get(self, db: sqlite3.Connection, obj: ObjectType, ids: Iterable[int]) -> dict[int, Record]:
        """The records with these ids (every state)."""
        ids = list(dict.fromkeys(ids))
        found: dict[int, Record] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in db.execute(f"SELECT {_COLUMNS} FROM {obj.name} WHERE id IN ({marks})", chunk):
                found[row[0]] = _record(row)
        return found

    def resolve(self, db: sqlite3.Connection, obj: ObjectType, ids: Iterable[int]) -> dict[int, Record]:
        """For each id, the record it stands for: itself, or the record it was merged into (every state but MERGED)."""
        direct = self.get(db, obj, ids)
        targets = {r.merged_into for r in direct.values() if r.state == MERGED and r.merged_into is not None}
        merged = self.get(db, obj, targets) if targets else {}
        out: dict[int, Record] = {}
        for rid, record in direct.items():
            if record.state == MERGED:
                target = merged.get(record.merged_into) if record.merged_into is not None else None
                if target is not None:
                    out[rid] = target
            else:
                out[rid] = record
        return out

    def by_email(self, db: sqlite3.Connection, keys: Iterable[str]) -> dict[str, int]:
        """Lower-cased email -> the id of the live contact that has it (merged-away contacts resolve to the merged
        one; among several, the lowest id)."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, int] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT email_key, CASE WHEN state = 2 THEN merged_into ELSE id END FROM contacts "
                f"WHERE email_key IN ({marks}) AND state IN (0, 2) ORDER BY id",
                chunk,
            ).fetchall()
            for key, rid in rows:
                found.setdefault(key, rid)
        return found

    def by_unique(self, db: sqlite3.Connection, obj: ObjectType, name: str, values: Iterable[str]) -> dict[str, int]:
        """Value of a unique custom property -> the id of the live record that has it (lowest id among several)."""
        values = list(dict.fromkeys(values))
        found: dict[str, int] = {}
        expr = f"json_extract(props, '$.{name}')"
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT {expr}, id FROM {obj.name} WHERE {expr} IN ({marks}) AND state = 0 ORDER BY id", chunk
            ).fetchall()
            for value, rid in rows:
                found.setdefault(value, rid)
        return found

    def page(self, obj: ObjectType, state: int, after: int, limit: int) -> list[Record]:
        """Up to `limit` records in this state with id >= `after`, in id order."""
        with self.lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM {obj.name} WHERE id >= ? AND state = ? ORDER BY id LIMIT ?",
                (after, state, limit),
            ).fetchall()
        return [_record(r) for r in rows]

    def all(self, obj: ObjectType, state: int) -> list[Record]:
        with self.lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM {obj.name} WHERE state = ? ORDER BY id", (state,)
            ).fetchall()
        return [_record(r) for r in rows]

    @staticmethod
    def search_sql(obj: ObjectType, where: str, order: str) -> tuple[str, str]:
        """The count query and the page query (`LIMIT ? OFFSET ?` last) of a compiled search."""
        condition = f"FROM {obj.name} WHERE state = 0 AND ({where})"
        return f"SELECT count(*) {condition}", f"SELECT {_COLUMNS} {condition} ORDER BY {order} LIMIT ? OFFSET ?"

    def search(
        self, obj: ObjectType, where: str, params: list[Any], order: str, limit: int, offset: int
    ) -> tuple[int, list[Record]]:
        """Live records matching `where`: (how many in all, one page in `order`)."""
        count_sql, page_sql = self.search_sql(obj, where, order)
        with self.snapshot() as db:
            total = db.execute(count_sql, params).fetchone()[0]
            rows = db.execute(page_sql, [*params, limit, offset]).fetchall()
        return total, [_record(r) for r in rows]

    def count(self, obj: ObjectType, state: int = LIVE) -> int:
        with self.lock:
            return self._conn.execute(f"SELECT count(*) FROM {obj.name} WHERE state = ?", (state,)).fetchone()[0]

    # --- associations --------------------------------------------------------------------------------------------

    @staticmethod
    def associate(db: sqlite3.Connection, pairs: Iterable[tuple[int, int]]) -> None:
        """Add (contact id, company id) associations (existing ones stay as they are)."""
        db.executemany("INSERT OR IGNORE INTO associations (contact_id, company_id) VALUES (?, ?)", list(pairs))

    @staticmethod
    def dissociate(db: sqlite3.Connection, pairs: Iterable[tuple[int, int]]) -> None:
        db.executemany("DELETE FROM associations WHERE contact_id = ? AND company_id = ?", list(pairs))

    @staticmethod
    def move_associations(db: sqlite3.Connection, obj: ObjectType, old_ids: list[int], new_id: int) -> None:
        """Give `new_id` every association of `old_ids` (a merge) and drop theirs."""
        mine, theirs = ("contact_id", "company_id") if obj.name == "contacts" else ("company_id", "contact_id")
        marks = ",".join("?" * len(old_ids))
        db.execute(
            f"INSERT OR IGNORE INTO associations ({mine}, {theirs}) "
            f"SELECT ?, {theirs} FROM associations WHERE {mine} IN ({marks})",
            [new_id, *old_ids],
        )
        stale = [i for i in old_ids if i != new_id]
        if stale:
            marks = ",".join("?" * len(stale))
            db.execute(f"DELETE FROM associations WHERE {mine} IN ({marks})", stale)

    def associated(self, db: sqlite3.Connection, obj: ObjectType, ids: Iterable[int]) -> dict[int, list[int]]:
        """For each id of `obj`, the ids of its associated records of the other type (live ones, in id order)."""
        mine, theirs = ("contact_id", "company_id") if obj.name == "contacts" else ("company_id", "contact_id")
        other = OBJECTS[obj.other].name
        ids = list(dict.fromkeys(ids))
        out: dict[int, list[int]] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT a.{mine}, a.{theirs} FROM associations a JOIN {other} o ON o.id = a.{theirs} "
                f"WHERE a.{mine} IN ({marks}) AND o.state = 0 ORDER BY a.{mine}, a.{theirs}",
                chunk,
            ).fetchall()
            for rid, oid in rows:
                out.setdefault(rid, []).append(oid)
        return out
