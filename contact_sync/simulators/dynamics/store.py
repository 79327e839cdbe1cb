"""SQLite state of the Dynamics simulator: a table per entity, deleted-row tombstones, the row-version counter, tokens.

Connection, locking, transactions and tokens are `simulators.sqlite_store`'s. Every write takes the next value of
one global row-version counter (as Dataverse's `versionnumber`, a database rowversion): it is each row's ETag and the
position change tracking reads from. A hard delete leaves a tombstone at a new version so the next delta can report it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contact_sync.simulators.dynamics.schema import ENTITIES, Entity
from contact_sync.simulators.sqlite_store import SqliteStore

FIRST_VERSION = 1_000_000  # real row versions are large numbers; start there so ETags look like the service's

_SQL_TYPES = {"guid": "TEXT", "string": "TEXT COLLATE NOCASE", "datetime": "TEXT", "int": "INTEGER"}


def storage_columns(entity: Entity) -> list[str]:
    """The table's columns: every readable column plus, per lookup, the logical name of the entity it points at."""
    return [*entity.readable, *(lookup.type_column for lookup in entity.lookups)]


def _table_sql(entity: Entity) -> str:
    defs = []
    for column in entity.columns:
        kind = _SQL_TYPES[column.type]
        if column.name == entity.key:
            defs.append(f'"{column.name}" TEXT PRIMARY KEY')
        elif column.name in ("createdon", "modifiedon", "versionnumber"):
            defs.append(f'"{column.name}" {kind} NOT NULL')
        else:
            defs.append(f'"{column.name}" {kind}')
    defs += [f'"{lookup.type_column}" TEXT' for lookup in entity.lookups]
    table = entity.entity_set
    return (
        f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(defs)}) WITHOUT ROWID;\n"
        f"CREATE INDEX IF NOT EXISTS {table}_modifiedon ON {table} (modifiedon, {entity.key});\n"
        f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_version ON {table} (versionnumber);\n"
    )


_SCHEMA = (
    "".join(_table_sql(e) for e in ENTITIES.values())
    + """
CREATE INDEX IF NOT EXISTS contacts_email ON contacts (emailaddress1);
CREATE TABLE IF NOT EXISTS deleted (
    entity_set TEXT NOT NULL,
    versionnumber INTEGER NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (entity_set, versionnumber)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""
)


class Store(SqliteStore):
    """All persistent state, behind one lock; callers compose reads and writes inside `transaction()`.

    `clear()` empties every table and forgets tokens; the version counter keeps counting, so ETags never repeat.
    """

    tables = (*ENTITIES, "deleted")

    def __init__(self, path: Path | None) -> None:
        super().__init__(path, _SCHEMA)
        with self.lock:
            self._conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('version', ?)", (FIRST_VERSION,))

    # --- versions ----------------------------------------------------------------------------------------------------

    @staticmethod
    def take_versions(db: sqlite3.Connection, n: int) -> int:
        """Reserve `n` new row versions (inside a transaction); the first of them."""
        (last,) = db.execute("UPDATE meta SET value = value + ? WHERE key = 'version' RETURNING value", (n,)).fetchone()
        return int(last) - n + 1

    @staticmethod
    def current_version(db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])

    # --- rows --------------------------------------------------------------------------------------------------------

    @staticmethod
    def get_row(db: sqlite3.Connection, entity: Entity, record_id: str) -> dict[str, Any] | None:
        columns = storage_columns(entity)
        names = ", ".join(f'"{c}"' for c in columns)
        row = db.execute(f'SELECT {names} FROM {entity.entity_set} WHERE "{entity.key}" = ?', (record_id,)).fetchone()
        return dict(zip(columns, row, strict=True)) if row else None

    def read_row(self, entity: Entity, record_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.get_row(self._conn, entity, record_id)

    @staticmethod
    def insert_rows(db: sqlite3.Connection, entity: Entity, rows: Sequence[dict[str, Any]]) -> None:
        columns = storage_columns(entity)
        assert columns[0] == entity.key
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        values = [tuple(row.get(c) for c in columns) for row in rows]
        values.sort(key=lambda v: v[0])  # key order: far fewer B-tree page splits for a big seed
        db.executemany(f"INSERT INTO {entity.entity_set} ({names}) VALUES ({marks})", values)

    @staticmethod
    def update_row(db: sqlite3.Connection, entity: Entity, record_id: str, changes: dict[str, Any]) -> None:
        assigns = ", ".join(f'"{c}" = ?' for c in changes)
        db.execute(f'UPDATE {entity.entity_set} SET {assigns} WHERE "{entity.key}" = ?', [*changes.values(), record_id])

    @staticmethod
    def delete_row(db: sqlite3.Connection, entity: Entity, record_id: str, version: int) -> bool:
        """Hard delete, leaving a tombstone at `version`; False when there was no such row."""
        gone = db.execute(f'DELETE FROM {entity.entity_set} WHERE "{entity.key}" = ?', (record_id,)).rowcount
        if gone:
            db.execute(
                "INSERT INTO deleted (entity_set, versionnumber, id) VALUES (?, ?, ?)",
                (entity.entity_set, version, record_id),
            )
        return bool(gone)

    @staticmethod
    def existing_ids(db: sqlite3.Connection, entity: Entity, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            found.update(
                r[0]
                for r in db.execute(
                    f'SELECT "{entity.key}" FROM {entity.entity_set} WHERE "{entity.key}" IN ({marks})', chunk
                )
            )
        return found

    def count(self, entity: Entity) -> int:
        with self.lock:
            return int(self._conn.execute(f"SELECT count(*) FROM {entity.entity_set}").fetchone()[0])
