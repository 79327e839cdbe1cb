"""The SQLite handling the Genesys and Dynamics simulator stores share: one connection behind a lock, WAL on a file,
write transactions (nested ones as savepoints), read snapshots, and the table of issued OAuth tokens.

In memory (one connection shared by the server thread and test helpers under a lock) or in a file in the state folder
(WAL), so another process opening the same folder sees the same data.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

_TOKENS = """
CREATE TABLE IF NOT EXISTS oauth_tokens (token TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires REAL NOT NULL)
    WITHOUT ROWID;
"""


class SqliteStore:
    """All persistent state of one simulator, behind one lock; callers compose reads and writes in `transaction()`.

    Subclasses pass their schema and name the tables `clear()` empties in `tables` (tokens are always cleared).
    """

    tables: ClassVar[tuple[str, ...]] = ()

    def __init__(self, path: Path | None, schema: str, *, pragmas: Sequence[str] = ()) -> None:
        self.path = path
        target = ":memory:" if path is None else str(path)
        self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=30)
        self.lock = threading.RLock()
        self._depth = 0  # open transactions (the outer one, then savepoints)
        with self.lock:
            if path is not None:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
            for pragma in pragmas:
                self._conn.execute(pragma)
            self._conn.executescript(schema + _TOKENS)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE: other processes on the same file wait, they do not interleave).

        Nested inside another (e.g. a `$batch` changeset), it is a savepoint: its failure undoes only its own
        writes, and the outer transaction decides about the rest.
        """
        with self.lock:
            depth = self._depth
            self._conn.execute(f"SAVEPOINT sp{depth}" if depth else "BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self._conn
            except BaseException:
                self._depth = depth
                self._conn.execute(f"ROLLBACK TO sp{depth}" if depth else "ROLLBACK")
                if depth:
                    self._conn.execute(f"RELEASE sp{depth}")
                raise
            self._depth = depth
            self._conn.execute(f"RELEASE sp{depth}" if depth else "COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several queries that see one consistent state."""
        with self.lock:
            if self._depth:  # already inside a transaction, which is consistent by itself
                yield self._conn
                return
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    def clear(self) -> None:
        """Empty every table in `tables` and forget issued tokens."""
        with self.transaction() as db:
            for table in (*self.tables, "oauth_tokens"):
                db.execute(f"DELETE FROM {table}")

    # --- tokens ------------------------------------------------------------------------------------------------------

    def add_token(self, token: str, client_id: str, expires: float) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO oauth_tokens (token, client_id, expires) VALUES (?, ?, ?)",
                (token, client_id, expires),
            )

    def token(self, token: str) -> tuple[str, float] | None:
        """(client id, expiry timestamp) of an issued token, None when it was never issued (or was cleared)."""
        with self.lock:
            row = self._conn.execute("SELECT client_id, expires FROM oauth_tokens WHERE token = ?", (token,)).fetchone()
        return (row[0], row[1]) if row else None

    def expire_tokens(self) -> None:
        """Every token issued so far expires now."""
        with self.transaction() as db:
            db.execute("UPDATE oauth_tokens SET expires = 0")
