"""What the Dynamics simulator does with a request, independent of HTTP: validate, write, read pages and deltas.

Writes follow the Web API: a create takes an optional client-chosen id, a PATCH is an upsert unless `If-Match` (`*`:
update only; a version: 412 when the row moved on) or `If-None-Match: *` (create only), every write takes a new row
version (the ETag) and stamps `modifiedon`. Reads page by keyset (the `$skiptoken` carries the last row's sort values),
so a read stays complete while rows change. Change tracking reads everything up to a snapshot version, then each
delta returns the rows written and the rows deleted after the previous token, oldest first.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from contact_sync.simulators.dynamics import errors
from contact_sync.simulators.dynamics.errors import ApiError, bad_payload, bad_query
from contact_sync.simulators.dynamics.odata import (
    GUID_RE,
    Preferences,
    Query,
    decode_deltatoken,
    decode_skiptoken,
    encode_deltatoken,
    encode_skiptoken,
    parse_datetime,
    shown_datetime,
    stored_datetime,
)
from contact_sync.simulators.dynamics.schema import DEFAULT_STATUS, ENTITIES, Column, Entity, Lookup
from contact_sync.simulators.dynamics.store import Store

MAX_COUNT = 5000  # `@odata.count` stops at 5000, as the real service's does
_NOT_NULL = {"createdon", "modifiedon", "versionnumber", "statecode", "statuscode"}
_LINK_SAFE = ",()'*:"  # left readable in next/delta links, as the real service leaves them
_BIND_RE = re.compile(r"^(?:.*/)?([A-Za-z_][A-Za-z0-9_]*)\(([^)]*)\)$")


def new_guid() -> str:
    """A random (version 4) GUID in the Web API's text form; quicker than `uuid.uuid4()` for big seeds."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _etag(version: int) -> str:
    return f'W/"{version}"'


def parse_etags(header: str) -> set[str] | None:
    """The versions an `If-Match` names (`W/"123"`, `"123"`, a list); None for `*`."""
    if header.strip() == "*":
        return None
    return {m for m in re.findall(r'(?:W/)?"([^"]*)"', header)}


class Service:
    """The simulator's behaviour over one `Store`."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        *,
        max_page_size: int,
        change_tracking: bool,
        delta_token_lifetime_s: float,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_page_size = max_page_size
        self.change_tracking = change_tracking
        self.delta_token_lifetime_s = delta_token_lifetime_s

    # --- validation ------------------------------------------------------------------------------------------------

    def validate(
        self, entity: Entity, body: Any, *, creating: bool
    ) -> tuple[dict[str, Any], dict[Lookup, tuple[Entity, str] | None], str | None]:
        """(column values, lookup binds, client-chosen id) of a create/update body, or the error the API answers."""
        if not isinstance(body, dict):
            raise bad_payload(
                entity.entity_set,
                "A node of type 'StartArray' was read from the JSON reader when trying to read the start of an "
                "entry. A 'StartObject' node was expected."
                if isinstance(body, list)
                else "The payload must be a JSON object.",
            )
        values: dict[str, Any] = {}
        binds: dict[Lookup, tuple[Entity, str] | None] = {}
        explicit_id: str | None = None
        for key, value in body.items():
            if "@" in key:
                prop, _, annotation = key.partition("@")
                if prop and annotation == "odata.bind":
                    lookup, target = self._navigation(entity, prop)
                    binds[lookup] = self._bind_target(entity, target, value)
                continue  # other annotations (e.g. @odata.type) carry no data
            column = entity.by_name.get(key)
            if column is None:
                raise bad_payload(
                    entity.entity_set,
                    f"The property '{key}' does not exist on type '{entity.type_name}'. Make sure to only use "
                    "property names that are defined by the type or mark the type as open type.",
                )
            if key == entity.key:
                if not isinstance(value, str) or not GUID_RE.match(value):
                    raise bad_payload(
                        entity.entity_set, f"Cannot convert the literal '{value}' to the expected type 'Edm.Guid'."
                    )
                explicit_id = value.lower()
                continue
            if key.startswith("_") and key.endswith("_value"):
                raise bad_query(
                    "CRM do not support direct update of Entity Reference properties, Use Navigation properties "
                    "instead."
                )
            if not column.writable:
                continue  # system columns (createdon, modifiedon, versionnumber, fullname) are the service's
            values[key] = self._value(entity, column, value)
        if creating:
            self.check_required(entity, values, creating=True)
        return values, binds, explicit_id

    @staticmethod
    def check_required(entity: Entity, values: dict[str, Any], *, creating: bool) -> None:
        for column in entity.columns:
            if column.required and (
                (creating and values.get(column.name) is None)
                or (not creating and column.name in values and values[column.name] is None)
            ):
                raise ApiError(
                    400,
                    errors.REQUIRED,
                    f"A validation error occurred. The value of the '{column.name}' attribute of the "
                    f"'{entity.logical_name}' entity is required and cannot be empty.",
                )

    @staticmethod
    def _value(entity: Entity, column: Column, value: Any) -> Any:
        if column.type == "string":
            if value is None or value == "":
                return None  # Dataverse stores an empty string as null
            if not isinstance(value, str):
                literal = str(value).lower() if isinstance(value, bool) else str(value)
                raise bad_payload(
                    entity.entity_set, f"Cannot convert the literal '{literal}' to the expected type 'Edm.String'."
                )
            if column.max_length is not None and len(value) > column.max_length:
                raise ApiError(
                    400,
                    errors.TOO_LONG,
                    f"A validation error occurred. The length of the '{column.name}' attribute of the "
                    f"'{entity.logical_name}' entity exceeded the maximum allowed length of '{column.max_length}'.",
                )
            return value
        if column.type == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                raise bad_payload(
                    entity.entity_set, f"Cannot convert the literal '{value}' to the expected type 'Edm.Int32'."
                )
            allowed = (0, 1) if column.name == "statecode" else (1, 2)
            if value not in allowed:
                raise ApiError(
                    400,
                    errors.REQUIRED,
                    f"{value} is not a valid {column.name} value for {entity.logical_name}; expected one of {allowed}.",
                )
            return value
        raise bad_payload(entity.entity_set, f"The property '{column.name}' cannot be written.")

    @staticmethod
    def _navigation(entity: Entity, prop: str) -> tuple[Lookup, Entity]:
        for lookup in entity.lookups:
            for target_set in lookup.targets:
                target = ENTITIES[target_set]
                if prop == f"{lookup.name}_{target.logical_name}":
                    return lookup, target
        raise bad_payload(
            entity.entity_set,
            f"An undeclared property '{prop}' which only has property annotations in the payload but no property "
            "value was found in the payload. In OData, only declared navigation properties and declared named "
            "streams can be represented as properties without values.",
        )

    @staticmethod
    def _bind_target(entity: Entity, target: Entity, value: Any) -> tuple[Entity, str] | None:
        if value is None:
            return None
        m = _BIND_RE.match(value) if isinstance(value, str) else None
        if not m or m.group(1) != target.entity_set or not GUID_RE.match(m.group(2)):
            raise bad_payload(
                entity.entity_set,
                f"The value '{value}' of an @odata.bind annotation is not a valid URI of a {target.logical_name} "
                f"record; expected '/{target.entity_set}(<guid>)'.",
            )
        return target, m.group(2).lower()

    @staticmethod
    def _apply_binds(
        db: sqlite3.Connection, row: dict[str, Any], binds: dict[Lookup, tuple[Entity, str] | None]
    ) -> None:
        for lookup, target in binds.items():
            if target is None:
                row[lookup.value_column] = row[lookup.type_column] = None
                continue
            target_entity, target_id = target
            if not Store.existing_ids(db, target_entity, [target_id]):
                raise errors.not_found(target_entity.logical_name, target_id)
            row[lookup.value_column] = target_id
            row[lookup.type_column] = target_entity.logical_name

    @staticmethod
    def _derive(entity: Entity, row: dict[str, Any], changes: dict[str, Any]) -> None:
        """Columns the service computes: fullname, and the statuscode that goes with a new statecode."""
        if "fullname" in entity.by_name:
            row["fullname"] = " ".join(p for p in (row.get("firstname"), row.get("lastname")) if p) or None
        if "statecode" in changes and "statuscode" not in changes:
            row["statuscode"] = DEFAULT_STATUS[row["statecode"]]

    # --- writes ----------------------------------------------------------------------------------------------------

    def _new_row(
        self,
        db: sqlite3.Connection,
        entity: Entity,
        record_id: str,
        values: dict[str, Any],
        binds: dict[Lookup, tuple[Entity, str] | None],
        version: int,
        stamp: str,
    ) -> dict[str, Any]:
        row: dict[str, Any] = dict.fromkeys(entity.readable)
        for lookup in entity.lookups:
            row[lookup.type_column] = None
        row.update(values)
        row.setdefault("statecode", 0)
        if row["statecode"] is None:
            row["statecode"] = 0
        if row.get("statuscode") is None:
            row["statuscode"] = DEFAULT_STATUS[row["statecode"]]
        row.update({entity.key: record_id, "createdon": stamp, "modifiedon": stamp, "versionnumber": version})
        self._apply_binds(db, row, binds)
        self._derive(entity, row, {})
        return row

    def _duplicate(self) -> ApiError:
        return ApiError(412, errors.DUPLICATE_KEY, "A record with matching key values already exists.")

    def create(self, entity: Entity, body: Any) -> dict[str, Any]:
        """POST: a new row (the stored row, with its id)."""
        values, binds, explicit_id = self.validate(entity, body, creating=True)
        record_id = explicit_id or new_guid()
        stamp = stored_datetime(self.clock())
        with self.store.transaction() as db:
            if explicit_id and Store.existing_ids(db, entity, [explicit_id]):
                raise self._duplicate()
            row = self._new_row(db, entity, record_id, values, binds, Store.take_versions(db, 1), stamp)
            Store.insert_rows(db, entity, [row])
        return row

    def upsert(
        self, entity: Entity, record_id: str, body: Any, if_match: str | None, if_none_match: str | None
    ) -> tuple[bool, dict[str, Any]]:
        """PATCH: (created, the stored row). Update, or create when missing unless `If-Match` says update only."""
        values, binds, _ = self.validate(entity, body, creating=False)
        stamp = stored_datetime(self.clock())
        with self.store.transaction() as db:
            current = Store.get_row(db, entity, record_id)
            if current is None:
                if if_match is not None:
                    raise errors.not_found(entity.logical_name, record_id)
                self.check_required(entity, values, creating=True)
                row = self._new_row(db, entity, record_id, values, binds, Store.take_versions(db, 1), stamp)
                Store.insert_rows(db, entity, [row])
                return True, row
            if if_none_match is not None and if_none_match.strip() == "*":
                raise self._duplicate()
            if if_match is not None:
                wanted = parse_etags(if_match)
                if wanted is not None and str(current["versionnumber"]) not in wanted:
                    raise errors.version_mismatch()
            self.check_required(entity, values, creating=False)
            row = dict(current)
            row.update(values)
            self._apply_binds(db, row, binds)
            self._derive(entity, row, values)
            row["modifiedon"] = stamp
            row["versionnumber"] = Store.take_versions(db, 1)
            changes = {k: v for k, v in row.items() if k != entity.key and v != current.get(k)}
            changes["versionnumber"] = row["versionnumber"]
            Store.update_row(db, entity, record_id, changes)
        return False, row

    def delete(self, entity: Entity, record_id: str, if_match: str | None = None) -> None:
        with self.store.transaction() as db:
            current = Store.get_row(db, entity, record_id)
            if current is None:
                raise errors.not_found(entity.logical_name, record_id)
            if if_match is not None:
                wanted = parse_etags(if_match)
                if wanted is not None and str(current["versionnumber"]) not in wanted:
                    raise errors.version_mismatch()
            Store.delete_row(db, entity, record_id, Store.take_versions(db, 1))

    def load(self, entity: Entity, rows: Sequence[dict[str, Any]]) -> list[str]:
        """Seed rows directly (validated like a create; `createdon`/`modifiedon` may be given); their ids in order."""
        prepared: list[tuple[dict[str, Any], dict[Lookup, tuple[Entity, str] | None], str, str, str]] = []
        now = stored_datetime(self.clock())
        for raw in rows:
            body = helper_body(entity, raw)
            stamps = {k: body.pop(k) for k in ("createdon", "modifiedon") if k in body}
            values, binds, explicit_id = self.validate(entity, body, creating=True)
            created = _stamp(stamps.get("createdon")) or now
            modified = _stamp(stamps.get("modifiedon")) or created
            prepared.append((values, binds, explicit_id or new_guid(), created, modified))
        targets: dict[str, set[str]] = {}
        for _, binds, *_ in prepared:
            for bound in binds.values():
                if bound is not None:
                    targets.setdefault(bound[0].entity_set, set()).add(bound[1])
        with self.store.transaction() as db:
            for target_set, wanted in targets.items():
                missing = set(wanted) - Store.existing_ids(db, ENTITIES[target_set], sorted(wanted))
                if missing:
                    raise errors.not_found(ENTITIES[target_set].logical_name, sorted(missing)[0])
            first = Store.take_versions(db, len(prepared)) if prepared else 0
            out: list[dict[str, Any]] = []
            for i, (values, binds, record_id, created, modified) in enumerate(prepared):
                row: dict[str, Any] = dict.fromkeys(entity.readable)
                for lookup in entity.lookups:
                    row[lookup.type_column] = None
                row.update(values)
                if row.get("statecode") is None:
                    row["statecode"] = 0
                if row.get("statuscode") is None:
                    row["statuscode"] = DEFAULT_STATUS[row["statecode"]]
                for lookup, bound in binds.items():
                    if bound is not None:
                        row[lookup.value_column], row[lookup.type_column] = bound[1], bound[0].logical_name
                row.update(
                    {entity.key: record_id, "createdon": created, "modifiedon": modified, "versionnumber": first + i}
                )
                self._derive(entity, row, {})
                out.append(row)
            Store.insert_rows(db, entity, out)
        return [r[entity.key] for r in out]

    # --- reads -----------------------------------------------------------------------------------------------------

    def get(self, entity: Entity, record_id: str) -> dict[str, Any]:
        row = self.store.read_row(entity, record_id)
        if row is None:
            raise errors.not_found(entity.logical_name, record_id)
        return row

    def render(
        self, entity: Entity, row: dict[str, Any], select: list[str] | None, annotations: bool = False
    ) -> dict[str, Any]:
        """A stored row as the API shows it: `@odata.etag`, the selected columns (the key always), API datetimes."""
        out: dict[str, Any] = {"@odata.etag": _etag(row["versionnumber"])}
        for name in select or entity.readable:
            value = row.get(name)
            out[name] = shown_datetime(value) if entity.by_name[name].type == "datetime" else value
            if annotations and name.startswith("_") and name.endswith("_value"):
                self._annotate(entity, out, name, row)
        out[entity.key] = row[entity.key]
        return out

    @staticmethod
    def _annotate(entity: Entity, out: dict[str, Any], name: str, row: dict[str, Any]) -> None:
        for lookup in entity.lookups:
            if lookup.value_column == name and row.get(lookup.type_column):
                target = row[lookup.type_column]
                out[f"{name}@Microsoft.Dynamics.CRM.lookuplogicalname"] = target
                out[f"{name}@Microsoft.Dynamics.CRM.associatednavigationproperty"] = f"{lookup.name}_{target}"

    def list(self, entity: Entity, query: Query, prefs: Preferences, base: str) -> tuple[dict[str, Any], list[str]]:
        """One page of a collection read: (the body, the preferences applied)."""
        page_size = min(prefs.max_page_size or self.max_page_size, self.max_page_size)
        applied = [f"odata.maxpagesize={page_size}"] if prefs.max_page_size else []
        tracking = prefs.track_changes or query.deltatoken is not None
        if tracking:
            if not self.change_tracking:
                raise ApiError(
                    400,
                    errors.CHANGE_TRACKING_OFF,
                    f"Change tracking is not enabled for the entity '{entity.logical_name}'. Enable 'Track changes' "
                    "on the table to use the odata.track-changes preference or a $deltatoken.",
                )
            refused = [o for o in ("$filter", "$orderby", "$top", "$count") if o in query.raw]
            if refused:
                raise bad_query(
                    f"The query option(s) {', '.join(refused)} cannot be used with change tracking "
                    "(Prefer: odata.track-changes or $deltatoken)."
                )
            applied.append("odata.track-changes")
        if prefs.annotations is not None:
            applied.append(f'odata.include-annotations="{prefs.annotations}"')
        select_part = f"({','.join(query.select)})" if query.select else ""
        context = f"{base}/$metadata#{entity.entity_set}{select_part}"
        with self.store.snapshot() as db:
            if query.deltatoken is not None:
                body = self._delta_page(db, entity, query, prefs, page_size, base)
                body = {"@odata.context": f"{context}/$delta", **body}
            elif tracking:
                body = self._tracked_page(db, entity, query, prefs, page_size, base)
                body = {"@odata.context": f"{context}/$delta", **body}
            else:
                body = {"@odata.context": context, **self._page(db, entity, query, prefs, page_size, base)}
        return body, applied

    def _columns(self, entity: Entity, query: Query) -> list[str]:
        wanted = query.select or list(entity.readable)
        return list(dict.fromkeys([entity.key, "versionnumber", *wanted, *(lk.type_column for lk in entity.lookups)]))

    def _link(self, base: str, entity: Entity, options: dict[str, str]) -> str:
        parts = [f"{name}={quote(value, safe=_LINK_SAFE)}" for name, value in options.items()]
        return f"{base}/{entity.entity_set}?{'&'.join(parts)}"

    @staticmethod
    def _state(query: Query, kind: str, types: dict[str, type | tuple[type, ...]]) -> tuple[int, dict[str, Any]]:
        """The page number and keyset state of a `$skiptoken` made for this kind of read (or page 1, empty state)."""
        if query.skiptoken is None:
            return 1, {}
        page_no, state = decode_skiptoken(query.skiptoken)
        if state.get("o") != kind or any(not isinstance(state.get(k), t) for k, t in types.items()):
            raise bad_query("The $skiptoken does not belong to this query.")
        return page_no, state

    @staticmethod
    def _sort_expr(entity: Entity, name: str) -> str:
        column = entity.by_name[name]
        if name == entity.key or name in _NOT_NULL:
            return f'"{name}"'
        if column.type == "int":
            return f'IFNULL("{name}", -1)'
        if column.type == "string":
            return f"IFNULL(\"{name}\", '') COLLATE NOCASE"
        return f"IFNULL(\"{name}\", '')"

    def _page(
        self, db: sqlite3.Connection, entity: Entity, query: Query, prefs: Preferences, page_size: int, base: str
    ) -> dict[str, Any]:
        order = list(query.orderby)
        all_desc = bool(order) and all(desc for _, desc in order)
        if entity.key not in {name for name, _ in order}:
            order.append((entity.key, all_desc))
        signature = ",".join(f"{n} {'desc' if d else 'asc'}" for n, d in order) + f"|{query.raw.get('$filter', '')}"
        page_no, state = self._state(query, signature, {"k": list, "n": (int, type(None))})
        if state and (
            not all(isinstance(v, str | int | float) for v in state["k"]) or (state["n"] is not None and state["n"] < 0)
        ):
            raise bad_query("The $skiptoken does not belong to this query.")
        exprs = [self._sort_expr(entity, n) for n, _ in order]
        where, params = [f"({query.where})"], list(query.params)
        if state:
            cond, cond_params = _after(exprs, [d for _, d in order], state["k"])
            where.append(cond)
            params += cond_params
        remaining = state["n"] if state else query.top
        limit = page_size if remaining is None else min(page_size, remaining)
        columns = self._columns(entity, query)
        names = ", ".join(f'"{c}"' for c in columns)
        order_sql = ", ".join(f"{e} {'DESC' if d else 'ASC'}" for e, (_, d) in zip(exprs, order, strict=True))
        sql = (
            f"SELECT {names}, {', '.join(exprs)} FROM {entity.entity_set} WHERE {' AND '.join(where)} "
            f"ORDER BY {order_sql} LIMIT ?"
        )
        fetched = db.execute(sql, [*params, limit + 1]).fetchall()
        more = len(fetched) > limit and (remaining is None or remaining > limit)
        fetched = fetched[:limit]
        annotations = prefs.annotations is not None
        value = [self.render(entity, dict(zip(columns, r, strict=False)), query.select, annotations) for r in fetched]
        body: dict[str, Any] = {}
        if query.count:
            total = db.execute(f"SELECT count(*) FROM {entity.entity_set} WHERE {query.where}", query.params)
            body["@odata.count"] = min(int(total.fetchone()[0]), MAX_COUNT)
        body["value"] = value
        if more:
            last = list(fetched[-1][len(columns) :])
            new_state = {"o": signature, "k": last, "n": None if remaining is None else remaining - limit}
            body["@odata.nextLink"] = self._next_link(base, entity, query, page_no, new_state)
        return body

    def _next_link(self, base: str, entity: Entity, query: Query, page_no: int, state: dict[str, Any]) -> str:
        """The link to the page after `page_no`: the same query, with `state` carried in its `$skiptoken`."""
        options = {k: v for k, v in query.raw.items() if k != "$skiptoken"}
        options["$skiptoken"] = encode_skiptoken(page_no + 1, state)
        return self._link(base, entity, options)

    def _tracked_page(
        self, db: sqlite3.Connection, entity: Entity, query: Query, prefs: Preferences, page_size: int, base: str
    ) -> dict[str, Any]:
        """The first read of change tracking: every row up to a snapshot version, in key order."""
        page_no, state = self._state(query, "track", {"s": int, "k": str})
        snapshot = state["s"] if state else Store.current_version(db)
        columns = self._columns(entity, query)
        names = ", ".join(f'"{c}"' for c in columns)
        fetched = db.execute(
            f'SELECT {names} FROM {entity.entity_set} WHERE versionnumber <= ? AND "{entity.key}" > ? '
            f'ORDER BY "{entity.key}" LIMIT ?',
            (snapshot, state.get("k", ""), page_size + 1),
        ).fetchall()
        more = len(fetched) > page_size
        fetched = fetched[:page_size]
        annotations = prefs.annotations is not None
        body: dict[str, Any] = {
            "value": [
                self.render(entity, dict(zip(columns, r, strict=True)), query.select, annotations) for r in fetched
            ]
        }
        if more:
            state = {"o": "track", "s": snapshot, "k": fetched[-1][0]}
            body["@odata.nextLink"] = self._next_link(base, entity, query, page_no, state)
        else:
            body["@odata.deltaLink"] = self._delta_link(base, entity, query, snapshot)
        return body

    def _delta_link(self, base: str, entity: Entity, query: Query, version: int) -> str:
        options = {"$select": query.raw["$select"]} if "$select" in query.raw else {}
        options["$deltatoken"] = encode_deltatoken(version, self.clock())
        return self._link(base, entity, options)

    def _delta_page(
        self, db: sqlite3.Connection, entity: Entity, query: Query, prefs: Preferences, page_size: int, base: str
    ) -> dict[str, Any]:
        """Rows written and rows deleted after the token's version (up to a snapshot), oldest first."""
        assert query.deltatoken is not None
        since, issued = decode_deltatoken(query.deltatoken)
        if (self.clock() - issued).total_seconds() > self.delta_token_lifetime_s:
            raise ApiError(
                400,
                errors.DELTA_TOKEN_EXPIRED,
                "Version stamp associated with the client has expired. Please perform a full sync.",
            )
        page_no, state = self._state(query, "delta", {"s": int, "k": int})
        snapshot = state["s"] if state else Store.current_version(db)
        after = max(since, state["k"]) if state else since
        columns = self._columns(entity, query)
        names = ", ".join(f'"{c}"' for c in columns)
        changed = db.execute(
            f"SELECT {names} FROM {entity.entity_set} WHERE versionnumber > ? AND versionnumber <= ? "
            "ORDER BY versionnumber LIMIT ?",
            (after, snapshot, page_size + 1),
        ).fetchall()
        deleted = db.execute(
            f"SELECT d.versionnumber, d.id FROM deleted d WHERE d.entity_set = ? AND d.versionnumber > ? "
            f"AND d.versionnumber <= ? AND NOT EXISTS (SELECT 1 FROM {entity.entity_set} t "
            f'WHERE t."{entity.key}" = d.id) ORDER BY d.versionnumber LIMIT ?',
            (entity.entity_set, after, snapshot, page_size + 1),
        ).fetchall()
        version_at = columns.index("versionnumber")
        merged = sorted(
            [(r[version_at], False, r) for r in changed] + [(v, True, (i,)) for v, i in deleted], key=lambda t: t[0]
        )
        more = len(merged) > page_size
        merged = merged[:page_size]
        annotations = prefs.annotations is not None
        gone_context = f"{base}/$metadata#{entity.entity_set}/$deletedEntity"
        value = [
            {"@odata.context": gone_context, "id": r[0], "reason": "deleted"}
            if is_deleted
            else self.render(entity, dict(zip(columns, r, strict=True)), query.select, annotations)
            for _, is_deleted, r in merged
        ]
        body: dict[str, Any] = {"value": value}
        if more:
            state = {"o": "delta", "s": snapshot, "k": merged[-1][0]}
            body["@odata.nextLink"] = self._next_link(base, entity, query, page_no, state)
        else:
            body["@odata.deltaLink"] = self._delta_link(base, entity, query, snapshot)
        return body


def _after(exprs: list[str], descending: list[bool], last: list[Any]) -> tuple[str, list[Any]]:
    """The keyset condition `row after last` for this ordering."""
    if len(last) != len(exprs):
        raise bad_query("The $skiptoken does not belong to this query.")
    if all(descending) or not any(descending):
        op = "<" if descending[0] else ">"
        return f"({', '.join(exprs)}) {op} ({', '.join('?' * len(exprs))})", list(last)
    terms, params = [], []
    for i, (expr, desc) in enumerate(zip(exprs, descending, strict=True)):
        equal = [f"{exprs[j]} = ?" for j in range(i)]
        terms.append("(" + " AND ".join([*equal, f"{expr} {'<' if desc else '>'} ?"]) + ")")
        params += [*last[:i], last[i]]
    return "(" + " OR ".join(terms) + ")", params


def _stamp(value: Any) -> str | None:
    """A seeding datetime (datetime or ISO text) as stored text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return stored_datetime(value)
    parsed = parse_datetime(str(value))
    if parsed is None:
        raise ValueError(f"not an ISO datetime: {value!r}")
    return stored_datetime(parsed)


def helper_body(entity: Entity, row: dict[str, Any]) -> dict[str, Any]:
    """A test/seed helper's row as a Web API body: `parentcustomerid` (an account guid) becomes its bind."""
    body = dict(row)
    for lookup in entity.lookups:
        if lookup.name in body:
            target = body.pop(lookup.name)
            body[f"{lookup.name}_account@odata.bind"] = None if target is None else f"/accounts({target})"
    return body
