"""SQLite state of the Genesys simulator: contacts, organizations, external sources and issued tokens.

Connection, locking, transactions and tokens are `simulators.sqlite_store`'s. Contacts are kept as the JSON the API
returns, plus indexed columns: the id (scans page in id order, so a scan is stable while records change), a search
text, and an identifier table (email, E.164 phone, external id) for identifier lookup.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from contact_sync.simulators.sqlite_store import SqliteStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS contacts (
    id TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    search TEXT NOT NULL,
    created TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS identifiers (
    key TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    PRIMARY KEY (key, contact_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS organizations (id TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY,
    name_key TEXT NOT NULL UNIQUE,
    data BLOB NOT NULL
) WITHOUT ROWID;
"""

_PHONE_FIELDS = ("workPhone", "cellPhone", "homePhone", "otherPhone")
_EMAIL_FIELDS = ("workEmail", "personalEmail", "otherEmail")
_SEARCH_FIELDS = ("firstName", "middleName", "lastName", "title", *_EMAIL_FIELDS)


def identifiers_of(contact: dict[str, Any]) -> set[str]:
    """The lookup keys of a contact: Email (lower case), Phone (E.164), ExternalId (source id and value)."""
    keys: set[str] = set()
    for field in _EMAIL_FIELDS:
        email = contact.get(field)
        if email:
            keys.add("Email:" + email.lower())
    for field in _PHONE_FIELDS:
        phone = contact.get(field)
        if phone is not None and "e164" in phone:
            keys.add("Phone:" + phone["e164"])
    for ext in contact.get("externalIds") or ():
        keys.add(identifier_key("ExternalId", external_id_key(ext["externalSource"]["id"], ext["value"])))
    return keys


def identifier_key(kind: str, value: str) -> str:
    return f"{kind}:{value}"


def external_id_key(source_id: str, value: str) -> str:
    return f"{source_id}\x1f{value}"


def search_text(contact: dict[str, Any]) -> str:
    parts = [contact[f] for f in _SEARCH_FIELDS if contact.get(f)]
    for f in _PHONE_FIELDS:
        phone = contact.get(f)
        if phone:
            parts += [phone.get("display", ""), phone.get("e164", "")]
    return " ".join(parts).lower()


class Store(SqliteStore):
    """All persistent state, behind one lock."""

    tables = ("contacts", "identifiers", "organizations", "sources")

    def __init__(self, path: Path | None) -> None:
        # 100,000 contacts are ~60 MB: a cache that holds the hot B-tree pages keeps bulk writes fast.
        super().__init__(path, _SCHEMA, pragmas=("PRAGMA cache_size=-65536",))

    # --- contacts ----------------------------------------------------------------------------------------------------

    def put_contacts(self, contacts: Iterable[dict[str, Any]]) -> None:
        """Insert or replace whole contacts (each with `id` and `createDate`) and their identifiers."""
        contacts = list(contacts)
        if not contacts:
            return
        rows = [(c["id"], orjson.dumps(c), search_text(c), c["createDate"]) for c in contacts]
        with self.transaction() as db:
            old = self._read_many(db, [c["id"] for c in contacts])
            gone = [(k, cid) for cid, o in old.items() for k in identifiers_of(o)]
            db.executemany("DELETE FROM identifiers WHERE key = ? AND contact_id = ?", gone)
            db.executemany("INSERT OR REPLACE INTO contacts (id, data, search, created) VALUES (?, ?, ?, ?)", rows)
            idents = [(k, c["id"]) for c in contacts for k in identifiers_of(c)]
            db.executemany("INSERT OR IGNORE INTO identifiers (key, contact_id) VALUES (?, ?)", idents)

    def insert_new_contacts(self, contacts: list[dict[str, Any]]) -> None:
        """Bulk insert of contacts known to be new (seeding): no lookups of earlier versions."""
        # Inserting in key order appends to the B-trees instead of splitting pages all over them.
        rows = sorted((c["id"], orjson.dumps(c), search_text(c), c["createDate"]) for c in contacts)
        idents = sorted((k, c["id"]) for c in contacts for k in identifiers_of(c))
        with self.transaction() as db:
            db.executemany("INSERT INTO contacts (id, data, search, created) VALUES (?, ?, ?, ?)", rows)
            db.executemany("INSERT OR IGNORE INTO identifiers (key, contact_id) VALUES (?, ?)", idents)

    @staticmethod
    def _read_many(db: sqlite3.Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for cid, data in db.execute(f"SELECT id, data FROM contacts WHERE id IN ({marks})", chunk):
                found[cid] = orjson.loads(data)
        return found

    def get_contact_raw(self, contact_id: str) -> bytes | None:
        with self.lock:
            row = self._conn.execute("SELECT data FROM contacts WHERE id = ?", (contact_id,)).fetchone()
        return row[0] if row else None

    def get_contact(self, contact_id: str) -> dict[str, Any] | None:
        raw = self.get_contact_raw(contact_id)
        return orjson.loads(raw) if raw is not None else None

    def get_contacts(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        with self.lock:
            return self._read_many(self._conn, ids)

    def delete_contacts(self, ids: list[str]) -> set[str]:
        """Delete these contacts; the ids that existed."""
        with self.transaction() as db:
            old = self._read_many(db, ids)
            db.executemany("DELETE FROM contacts WHERE id = ?", [(i,) for i in old])
            gone = [(k, cid) for cid, o in old.items() for k in identifiers_of(o)]
            db.executemany("DELETE FROM identifiers WHERE key = ? AND contact_id = ?", gone)
        return set(old)

    def organization_ids(self) -> set[str]:
        with self.lock:
            return {r[0] for r in self._conn.execute("SELECT id FROM organizations")}

    def count_contacts(self) -> int:
        with self.lock:
            return self._conn.execute("SELECT count(*) FROM contacts").fetchone()[0]

    def scan(self, table: str, after: str | None, before: str | None, limit: int) -> list[tuple[str, bytes]]:
        """One page of (id, JSON) in id order, after or before a cursor id."""
        assert table in ("contacts", "organizations")
        with self.lock:
            if before is not None:
                rows = self._conn.execute(
                    f"SELECT id, data FROM {table} WHERE id < ? ORDER BY id DESC LIMIT ?", (before, limit)
                ).fetchall()
                return rows[::-1]
            return self._conn.execute(
                f"SELECT id, data FROM {table} WHERE id > ? ORDER BY id LIMIT ?", (after or "", limit)
            ).fetchall()

    def contacts_raw(self) -> list[bytes]:
        """Every contact's JSON, in id order."""
        with self.lock:
            return [row[0] for row in self._conn.execute("SELECT data FROM contacts ORDER BY id")]

    def search(
        self, terms: list[str], offset: int, limit: int, order_by: str, ids: list[str] | None = None
    ) -> tuple[int, list[bytes]]:
        """Contacts whose search text holds every term (and, given `ids`, whose id is one of them): (total, one page
        of JSON)."""
        return self._search("contacts", "search", terms, offset, limit, order_by, ids)

    def search_organizations(self, terms: list[str], offset: int, limit: int, order_by: str) -> tuple[int, list[bytes]]:
        """Organizations whose name, company type or industry holds every term: (total, one page of JSON)."""
        text = (
            "lower("
            + " || ' ' || ".join(
                f"coalesce(json_extract(data, '$.{f}'), '')" for f in ("name", "companyType", "industry")
            )
            + ")"
        )
        return self._search("organizations", text, terms, offset, limit, order_by, None)

    def _search(
        self, table: str, text: str, terms: list[str], offset: int, limit: int, order_by: str, ids: list[str] | None
    ) -> tuple[int, list[bytes]]:
        clauses = [f"instr({text}, ?) > 0" for _ in terms]
        params: list[Any] = list(terms)
        if ids is not None:
            clauses.append(f"id IN ({','.join('?' * len(ids))})")
            params += ids
        where = " AND ".join(clauses) or "1"
        with self.lock:
            total = self._conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()[0]
            rows = self._conn.execute(
                f"SELECT data FROM {table} WHERE {where} ORDER BY {order_by} LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
        return total, [r[0] for r in rows]

    def lookup(self, kind: str, value: str) -> bytes | None:
        """The earliest-created contact with this identifier."""
        with self.lock:
            row = self._conn.execute(
                "SELECT c.data FROM identifiers i JOIN contacts c ON c.id = i.contact_id "
                "WHERE i.key = ? ORDER BY c.created, c.id LIMIT 1",
                (identifier_key(kind, value),),
            ).fetchone()
        return row[0] if row else None

    def lookup_all(self, kind: str, value: str, limit: int) -> list[bytes]:
        """Up to `limit` contacts with this identifier, earliest created first."""
        with self.lock:
            rows = self._conn.execute(
                "SELECT c.data FROM identifiers i JOIN contacts c ON c.id = i.contact_id "
                "WHERE i.key = ? ORDER BY c.created, c.id LIMIT ?",
                (identifier_key(kind, value), limit),
            ).fetchall()
        return [r[0] for r in rows]

    # --- organizations and external sources --------------------------------------------------------------------------

    def put_organizations(self, orgs: Iterable[dict[str, Any]]) -> None:
        rows = [(o["id"], orjson.dumps(o)) for o in orgs]
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO organizations (id, data) VALUES (?, ?)", rows)

    def get_organization(self, org_id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self._conn.execute("SELECT data FROM organizations WHERE id = ?", (org_id,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def delete_organization(self, org_id: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM organizations WHERE id = ?", (org_id,)).rowcount > 0

    def put_source(self, source: dict[str, Any]) -> bool:
        """Insert or replace an external source; False (nothing written) when another source has its name."""
        name_key = source["name"].lower()
        with self.transaction() as db:
            taken = db.execute(
                "SELECT 1 FROM sources WHERE name_key = ? AND id != ?", (name_key, source["id"])
            ).fetchone()
            if taken:
                return False
            db.execute(
                "INSERT OR REPLACE INTO sources (id, name_key, data) VALUES (?, ?, ?)",
                (source["id"], name_key, orjson.dumps(source)),
            )
        return True

    def get_source(self, source_id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self._conn.execute("SELECT data FROM sources WHERE id = ?", (source_id,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def source_id_by_name(self, name: str) -> str | None:
        with self.lock:
            row = self._conn.execute("SELECT id FROM sources WHERE name_key = ?", (name.lower(),)).fetchone()
        return row[0] if row else None

    def list_sources(self) -> list[dict[str, Any]]:
        with self.lock:
            rows = self._conn.execute("SELECT data FROM sources ORDER BY name_key").fetchall()
        return [orjson.loads(r[0]) for r in rows]

    def delete_source(self, source_id: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM sources WHERE id = ?", (source_id,)).rowcount > 0
