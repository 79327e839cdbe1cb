"""What the Genesys simulator does, apart from HTTP: contacts, organizations and external sources, with the server-set
fields (`id`, `createDate`, `modifyDate`, `type`, `selfUri`, `division`) and the bulk, scan and search semantics.

The HTTP routes (`app.py`) and the test helpers (`GenesysSimulator`) both call this; every failure is an `ApiError`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from contact_sync.simulators.genesys.errors import ApiError, bad_request, not_found
from contact_sync.simulators.genesys.phones import parse_phone
from contact_sync.simulators.genesys.store import Store, external_id_key
from contact_sync.simulators.genesys.validation import (
    Context,
    apply_patch,
    normalize_contact,
    normalize_organization,
    writable,
)

BASE = "/api/v2/externalcontacts"
HOME_DIVISION_ID = "8c2b3a9e-7d1f-4c55-9a61-1f0e6b2d4c3a"
CURSOR_LIFETIME_S = 24 * 3600
SCAN_MIN, SCAN_MAX, SCAN_DEFAULT = 10, 200, 100
REVERSE_LOOKUP_MAX = 25
SORTABLE = {
    "createDate": "created",
    "firstName": "json_extract(data, '$.firstName')",
    "lastName": "json_extract(data, '$.lastName')",
    "modifyDate": "json_extract(data, '$.modifyDate')",
}
ORG_SORTABLE = {f: f"json_extract(data, '$.{f}')" for f in ("name", "companyType", "industry")}


def iso_ms(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds, as the service writes dates: 2026-01-01T00:00:00.000Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Service:
    """Business rules of the external contacts API over a `Store`."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime],
        default_country: str,
        bulk_max: int,
        search_cap: int,
        seed: int,
    ) -> None:
        self.store = store
        self.clock = clock
        self.bulk_max = bulk_max
        self.search_cap = search_cap
        self.seed = seed
        self._shuffle = random.Random(seed)
        self.division = {
            "id": HOME_DIVISION_ID,
            "name": "Home",
            "selfUri": f"/api/v2/authorization/divisions/{HOME_DIVISION_ID}",
        }
        self.ctx = Context(
            default_country=default_country,
            division=self.division,
            source=self.store.get_source,
            org_exists=lambda org_id: self.store.get_organization(org_id) is not None,
            base_uri=BASE,
        )

    def reset_shuffle(self) -> None:
        self._shuffle = random.Random(self.seed)

    def _modify_date(self, previous: str | None) -> str:
        """Now, but always later than the previous modifyDate, so every write is visible by date (even on a frozen
        test clock)."""
        now = self.clock()
        if previous is not None:
            before = _parse_iso(previous)
            if now <= before:
                now = before + timedelta(milliseconds=1)
        return iso_ms(now)

    # --- contacts ----------------------------------------------------------------------------------------------------

    def _new_contact(self, fields: dict[str, Any], now: str, cid: str | None = None) -> dict[str, Any]:
        cid = cid or str(uuid.uuid4())
        return {
            "id": cid,
            **fields,
            "division": self.division,
            "type": "Curated",
            "createDate": now,
            "modifyDate": now,
            "selfUri": f"{BASE}/contacts/{cid}",
        }

    def _replaced(self, stored: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": stored["id"],
            **fields,
            "division": stored.get("division", self.division),
            "type": stored.get("type", "Curated"),
            "createDate": stored["createDate"],
            "modifyDate": self._modify_date(stored.get("modifyDate")),
            "selfUri": stored["selfUri"],
        }

    def create_contact(self, data: Any) -> dict[str, Any]:
        contact = self._new_contact(normalize_contact(data, self.ctx), iso_ms(self.clock()))
        self.store.put_contacts([contact])
        return contact

    def load_contacts(self, rows: list[dict[str, Any]]) -> list[str]:
        """Create many contacts at once (seeding); a bad row raises `ValueError` naming it and nothing is written."""
        now = iso_ms(self.clock())
        org_ids = self.store.organization_ids()
        ctx = dataclasses.replace(self.ctx, org_exists=org_ids.__contains__)
        contacts = []
        ids = new_ids(len(rows))
        for i, row in enumerate(rows):
            try:
                contacts.append(self._new_contact(normalize_contact(row, ctx), now, ids[i]))
            except ApiError as exc:
                raise ValueError(f"contact row {i} is invalid: {exc.message}") from None
        self.store.insert_new_contacts(contacts)
        return [c["id"] for c in contacts]

    def get_contact(self, contact_id: str, expand: str | None = None) -> dict[str, Any]:
        contact = self.store.get_contact(contact_id)
        if contact is None:
            raise not_found("contact", contact_id)
        if expand and "externalOrganization" in expand.split(","):
            self._expand_organizations([contact])
        return contact

    def _expand_organizations(self, contacts: list[dict[str, Any]]) -> None:
        """Each contact's `externalOrganization` reference replaced by the organization (each read once)."""
        orgs: dict[str, dict[str, Any] | None] = {}
        for contact in contacts:
            ref = contact.get("externalOrganization")
            if ref:
                if ref["id"] not in orgs:
                    orgs[ref["id"]] = self.store.get_organization(ref["id"])
                contact["externalOrganization"] = orgs[ref["id"]] or ref

    def replace_contact(self, contact_id: str, data: Any) -> dict[str, Any]:
        stored = self.store.get_contact(contact_id)
        if stored is None:
            raise not_found("contact", contact_id)
        contact = self._replaced(stored, normalize_contact(data, self.ctx, existing=stored))
        self.store.put_contacts([contact])
        return contact

    def patch_contact(self, contact_id: str, body: Any) -> dict[str, Any]:
        stored = self.store.get_contact(contact_id)
        if stored is None:
            raise not_found("contact", contact_id)
        patched = apply_patch(writable(stored), body)
        contact = self._replaced(stored, normalize_contact(patched, self.ctx, existing=stored))
        self.store.put_contacts([contact])
        return contact

    def edit_contact(self, contact_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """An agent's edit in the UI: these fields set (None clears one), the rest kept."""
        stored = self.store.get_contact(contact_id)
        if stored is None:
            raise KeyError(contact_id)
        merged = {**writable(stored), **changes}
        merged = {k: v for k, v in merged.items() if v is not None}
        try:
            contact = self._replaced(stored, normalize_contact(merged, self.ctx, existing=stored))
        except ApiError as exc:
            raise ValueError(exc.message) from None
        self.store.put_contacts([contact])
        return contact

    def delete_contact(self, contact_id: str) -> None:
        if not self.store.delete_contacts([contact_id]):
            raise not_found("contact", contact_id)

    # --- search and scan ---------------------------------------------------------------------------------------------

    def _check_page(self, q: str | None, page_size: int, page_number: int, table: str) -> list[str]:
        """The search terms of `q`, once the paging is within the search cap."""
        if page_size < 1 or page_number < 1:
            raise bad_request("pageSize and pageNumber must be at least 1", "pageSize")
        if page_size * page_number > self.search_cap:
            raise bad_request(
                f"pageSize * pageNumber must not exceed {self.search_cap}; use /scan/{table} to read every record",
                "pageNumber",
                "paging.limit.exceeded",
            )
        if q is not None and len(q) > 256:
            raise bad_request("q must be at most 256 characters", "q", "field.too.long")
        return (q or "").lower().split()

    def search(
        self,
        q: str | None,
        page_size: int,
        page_number: int,
        sort_order: str | None,
        *,
        ids: list[str] | None = None,
        path: str = "/contacts",
    ) -> bytes:
        terms = self._check_page(q, page_size, page_number, "contacts")
        order = self._order(sort_order.split(",") if sort_order else [], SORTABLE, "created, id")
        total, page = self.store.search(terms, (page_number - 1) * page_size, page_size, order, ids)
        return self._listing(page, total, page_size, page_number, path, q, sort_order)

    def search_request(self, body: Any) -> bytes:
        """`POST /contacts/search` (a ContactSearchRequest): `operation.simpleSearch` {query, sortOrder, ids},
        `divisionIds`, `pageSize` (default 20), `pageNumber`; `expand` only `externalOrganization`."""
        if not isinstance(body, dict):
            raise bad_request("The request body must be a ContactSearchRequest object")
        operation = body.get("operation") or {}
        simple = operation.get("simpleSearch") if isinstance(operation, dict) else None
        if not isinstance(simple, dict) or set(operation) - {"simpleSearch"}:
            raise bad_request("operation must be {simpleSearch: {query, sortOrder, ids}}", "operation", "required")
        query, sort_order, ids = simple.get("query"), simple.get("sortOrder") or [], simple.get("ids")
        if query is not None and not isinstance(query, str):
            raise bad_request("query must be a string", "operation.simpleSearch.query")
        if not isinstance(sort_order, list) or not all(isinstance(s, str) for s in sort_order):
            raise bad_request("sortOrder must be a list of field:direction", "operation.simpleSearch.sortOrder")
        if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
            raise bad_request("ids must be a list of contact ids", "operation.simpleSearch.ids")
        divisions = body.get("divisionIds")
        if divisions is not None:
            if not isinstance(divisions, list) or len(divisions) > 50:
                raise bad_request("divisionIds must be a list of at most 50 division ids", "divisionIds")
            if self.division["id"] not in divisions:
                ids = []
        expand = body.get("expand") or []
        if not isinstance(expand, list) or set(expand) - {"externalOrganization"}:
            raise bad_request("expand may only hold externalOrganization", "expand")
        size, number = body.get("pageSize", 20), body.get("pageNumber", 1)
        if type(size) is not int or type(number) is not int:
            raise bad_request("pageSize and pageNumber must be integers", "pageSize")
        page = self.search(query, size, number, ",".join(sort_order) or None, ids=ids, path="/contacts/search")
        if not expand:
            return page
        listing = orjson.loads(page)
        self._expand_organizations(listing["entities"])
        return orjson.dumps(listing)

    def _listing(
        self,
        page: list[bytes],
        total: int,
        page_size: int,
        page_number: int,
        path: str,
        q: str | None,
        sort_order: str | None,
    ) -> bytes:
        page_count = (total + page_size - 1) // page_size

        def uri(n: int) -> str:
            query = f"pageSize={page_size}&pageNumber={n}"
            if q:
                query += "&q=" + q
            if sort_order:
                query += "&sortOrder=" + sort_order
            return f"{BASE}{path}?{query}"

        listing: dict[str, Any] = {
            "pageSize": page_size,
            "pageNumber": page_number,
            "total": total,
            "pageCount": page_count,
            "firstUri": uri(1),
            "selfUri": uri(page_number),
            "lastUri": uri(max(page_count, 1)),
        }
        if page_number < page_count and (page_number + 1) * page_size <= self.search_cap:
            listing["nextUri"] = uri(page_number + 1)
        if page_number > 1:
            listing["previousUri"] = uri(page_number - 1)
        return _with_entities(page, listing)

    @staticmethod
    def _order(sort_order: list[str], sortable: dict[str, str], default: str) -> str:
        """An ORDER BY of `field:direction` terms (a bare `asc`/`desc` sorts by the first sortable field)."""
        if not sort_order:
            return default
        terms = []
        for term in sort_order:
            field, _, direction = term.strip().partition(":")
            if field.lower() in ("asc", "desc") and not direction:
                field, direction = next(iter(sortable)), field
            direction = (direction or "asc").lower()
            if field not in sortable or direction not in ("asc", "desc"):
                raise bad_request(
                    f"Unsupported sortOrder {term!r}: sort by {', '.join(sortable)} with :asc or :desc", "sortOrder"
                )
            terms.append(f"{sortable[field]} {direction.upper()}")
        return ", ".join([*terms, "id"])

    def scan(self, table: str, path: str, limit_raw: str | None, cursor: str | None) -> bytes:
        """One page of a cursor scan in id order: records created or changed mid-scan never repeat or vanish."""
        try:
            limit = int(limit_raw) if limit_raw not in (None, "") else SCAN_DEFAULT
        except ValueError:
            raise bad_request("limit must be a number", "limit") from None
        if not SCAN_MIN <= limit <= SCAN_MAX:
            raise bad_request(f"limit must be between {SCAN_MIN} and {SCAN_MAX}", "limit")
        after = before = None
        if cursor:
            direction, key = self._decode_cursor(cursor)
            after, before = (key, None) if direction == "a" else (None, key)
        rows = self.store.scan(table, after, before, limit + 1)
        if before is not None:
            more_before, rows = len(rows) > limit, rows[-limit:]
            more_after = bool(rows)
        else:
            more_after, rows = len(rows) > limit, rows[:limit]
            more_before = after is not None and bool(rows)
        cursors: dict[str, str] = {}
        listing: dict[str, Any] = {"selfUri": f"{BASE}{path}?limit={limit}" + (f"&cursor={cursor}" if cursor else "")}
        if more_before and rows:
            cursors["before"] = self._encode_cursor("b", rows[0][0])
            listing["previousUri"] = f"{BASE}{path}?limit={limit}&cursor={cursors['before']}"
        if more_after and rows:
            cursors["after"] = self._encode_cursor("a", rows[-1][0])
            listing["nextUri"] = f"{BASE}{path}?limit={limit}&cursor={cursors['after']}"
        listing["cursors"] = cursors
        return _with_entities([r[1] for r in rows], listing)

    def _encode_cursor(self, direction: str, key: str) -> str:
        raw = orjson.dumps({"d": direction, "k": key, "t": int(self.clock().timestamp())})
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode_cursor(self, cursor: str) -> tuple[str, str]:
        try:
            data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            direction, key, issued = data["d"], data["k"], data["t"]
            assert direction in ("a", "b") and isinstance(key, str) and isinstance(issued, int)
        except (binascii.Error, ValueError, KeyError, TypeError, AssertionError):
            raise bad_request("The cursor is not valid", "cursor") from None
        if self.clock().timestamp() - issued > CURSOR_LIFETIME_S:
            raise bad_request("The cursor has expired", "cursor", "cursor.expired")
        return direction, key

    # --- bulk --------------------------------------------------------------------------------------------------------

    def _bulk_entities(self, body: Any) -> list[Any]:
        if not isinstance(body, dict) or not isinstance(body.get("entities"), list):
            raise bad_request("The request body must be {entities: [...]}", "entities")
        entities = body["entities"]
        if len(entities) > self.bulk_max:
            raise ApiError(
                413,
                "request.entity.too.large",
                f"A bulk request holds at most {self.bulk_max} entities; this one had {len(entities)}",
            )
        return entities

    def _bulk_response(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        # The real service does not keep request order; shuffling (seeded) breaks clients that match by position.
        self._shuffle.shuffle(results)
        errors = [i for i, r in enumerate(results) if not r["success"]]
        return {"results": results, "errorCount": len(errors), "errorIndexes": errors}

    @staticmethod
    def _failure(exc: ApiError, entity: Any, entity_id: str | None = None) -> dict[str, Any]:
        """A bulk result that failed, its error in the SDK's `BulkEntityError...` shape (details as
        `BulkErrorDetail`: fieldName, message) with the entity as it was sent."""
        details = [
            {"fieldName": d["fieldName"], "message": str(d.get("errorCode") or exc.message)}
            for d in exc.details or []
            if isinstance(d, dict) and "fieldName" in d
        ]
        error: dict[str, Any] = {
            "code": exc.code,
            "message": exc.message,
            "status": exc.status,
            "retryable": exc.status == 429 or exc.status >= 500,
            "details": details,
            "entity": entity,
        }
        result: dict[str, Any] = {"success": False, "error": error}
        if entity_id:
            result["id"] = entity_id
        return result

    @staticmethod
    def _entity_id(entity: Any) -> str | None:
        ident = entity.get("id") if isinstance(entity, dict) else None
        return ident if isinstance(ident, str) else None

    def bulk_fetch(self, body: Any) -> dict[str, Any]:
        entities = self._bulk_entities(body)
        ids = [self._entity_id(e) for e in entities]
        found = self.store.get_contacts([i for i in ids if i])
        results = []
        for entity, ident in zip(entities, ids, strict=True):
            if ident in found:
                results.append({"id": ident, "success": True, "entity": found[ident]})
            else:
                results.append(self._failure(not_found("contact", str(ident)), entity, ident))
        return self._bulk_response(results)

    def _bulk_create(
        self, body: Any, build: Callable[[Any, str], dict[str, Any]], put: Callable[[list[dict[str, Any]]], None]
    ) -> dict[str, Any]:
        """A bulk add: each entity built (validated) on its own, the good ones stored together."""
        entities = self._bulk_entities(body)
        now = iso_ms(self.clock())
        results, written = [], []
        for entity in entities:
            try:
                record = build(entity, now)
            except ApiError as exc:
                results.append(self._failure(exc, entity))
                continue
            written.append(record)
            results.append({"id": record["id"], "success": True, "entity": record})
        put(written)
        return self._bulk_response(results)

    def bulk_add(self, body: Any) -> dict[str, Any]:
        return self._bulk_create(
            body,
            lambda entity, now: self._new_contact(normalize_contact(entity, self.ctx), now),
            self.store.put_contacts,
        )

    def _bulk_replace(
        self,
        body: Any,
        kind: str,
        stored: Callable[[list[str]], dict[str, dict[str, Any]]],
        build: Callable[[Any, dict[str, Any]], dict[str, Any]],
        put: Callable[[list[dict[str, Any]]], None],
    ) -> dict[str, Any]:
        """A bulk update: each entity (with its `id`) replaces that record, like PUT, or fails on its own."""
        entities = self._bulk_entities(body)
        ids = [self._entity_id(e) for e in entities]
        found = stored([i for i in ids if i])
        results, written = [], {}
        for entity, ident in zip(entities, ids, strict=True):
            try:
                if ident is None:
                    raise bad_request(f"id is required to update {kind}", "id", "required")
                current = written.get(ident) or found.get(ident)
                if current is None:
                    raise not_found(kind.removeprefix("a ").removeprefix("an "), ident)
                record = build(entity, current)
            except ApiError as exc:
                results.append(self._failure(exc, entity, ident))
                continue
            written[ident] = record
            results.append({"id": ident, "success": True, "entity": record})
        put(list(written.values()))
        return self._bulk_response(results)

    def bulk_update(self, body: Any) -> dict[str, Any]:
        return self._bulk_replace(
            body,
            "a contact",
            self.store.get_contacts,
            lambda entity, current: self._replaced(current, normalize_contact(entity, self.ctx, existing=current)),
            self.store.put_contacts,
        )

    def bulk_remove(self, body: Any) -> dict[str, Any]:
        entities = self._bulk_entities(body)
        ids = [self._entity_id(e) for e in entities]
        removed = self.store.delete_contacts([i for i in ids if i])
        results = []
        seen: set[str] = set()
        for entity, ident in zip(entities, ids, strict=True):
            if ident in removed and ident not in seen:
                seen.add(ident)
                results.append({"id": ident, "success": True})
            else:
                results.append(self._failure(not_found("contact", str(ident)), entity, ident))
        return self._bulk_response(results)

    # --- identifier lookup -------------------------------------------------------------------------------------------

    def identifier(self, body: Any, field: str = "") -> tuple[str, str, str]:
        """(type, lookup key, value) of a ContactIdentifier (`{type, value, externalSource}`), or a 400 naming
        `field`. Only the Email, Phone and ExternalId types are simulated; any other is refused, not ignored."""
        at = f"{field}." if field else ""
        if not isinstance(body, dict):
            raise bad_request("An identifier must be {type, value}", field or None)
        kind, value = body.get("type"), body.get("value")
        if kind not in ("Email", "Phone", "ExternalId"):
            raise bad_request("type must be one of Email, Phone, ExternalId", f"{at}type")
        if not isinstance(value, str) or not value.strip():
            raise bad_request("value is required", f"{at}value", "required")
        value = value.strip()
        if kind == "Email":
            key = value.lower()
        elif kind == "Phone":
            parsed = parse_phone(value, self.ctx.default_country)
            key = parsed.e164 if parsed else value
        else:
            source = body.get("externalSource")
            source_id = source.get("id") if isinstance(source, dict) else None
            if not isinstance(source_id, str) or self.store.get_source(source_id) is None:
                raise bad_request(
                    "externalSource {id} of an existing external source is required", f"{at}externalSource"
                )
            key = external_id_key(source_id, value)
        return kind, key, value

    def identifier_lookup(self, body: Any) -> bytes:
        if not isinstance(body, dict):
            raise bad_request("The request body must be {type, value}")
        kind, key, value = self.identifier(body)
        found = self.store.lookup(kind, key)
        if found is None:
            raise ApiError(404, "not.found", f"No contact found with {kind} identifier {value}")
        return found

    def reverse_whitepages_lookup(self, lookup_val: str | None) -> bytes:
        """Contacts (at most 25) with this email address or phone number: `{contacts, externalOrganizations}`."""
        value = (lookup_val or "").strip()
        if not value:
            raise bad_request("lookupVal is required", "lookupVal", "required")
        if "@" in value:
            kind, key = "Email", value.lower()
        else:
            parsed = parse_phone(value, self.ctx.default_country)
            kind, key = "Phone", parsed.e164 if parsed else value
        found = self.store.lookup_all(kind, key, REVERSE_LOOKUP_MAX)
        return b'{"contacts":[' + b",".join(found) + b'],"externalOrganizations":[]}'

    # --- organizations -----------------------------------------------------------------------------------------------

    def _new_organization(self, fields: dict[str, Any], now: str) -> dict[str, Any]:
        oid = str(uuid.uuid4())
        return {
            "id": oid,
            **fields,
            "division": self.division,
            "createDate": now,
            "modifyDate": now,
            "selfUri": f"{BASE}/organizations/{oid}",
        }

    def create_organization(self, data: Any) -> dict[str, Any]:
        org = self._new_organization(normalize_organization(data, self.ctx), iso_ms(self.clock()))
        self.store.put_organizations([org])
        return org

    def bulk_add_organizations(self, body: Any) -> dict[str, Any]:
        """`POST /bulk/organizations/add`: like `/bulk/contacts/add`, each entity created or rejected on its own,
        results in no particular order."""
        return self._bulk_create(
            body,
            lambda entity, now: self._new_organization(normalize_organization(entity, self.ctx), now),
            self.store.put_organizations,
        )

    def bulk_update_organizations(self, body: Any) -> dict[str, Any]:
        """`POST /bulk/organizations/update`: like `/bulk/contacts/update`, results in no particular order."""

        def stored(ids: list[str]) -> dict[str, dict[str, Any]]:
            return {i: org for i in ids if (org := self.store.get_organization(i)) is not None}

        def build(entity: Any, current: dict[str, Any]) -> dict[str, Any]:
            org = self._replaced(current, normalize_organization(entity, self.ctx, existing=current))
            org.pop("type", None)
            return org

        return self._bulk_replace(body, "an external organization", stored, build, self.store.put_organizations)

    def search_organizations(self, q: str | None, page_size: int, page_number: int, sort_order: str | None) -> bytes:
        """`GET /organizations?q=`: organizations whose name, company type or industry holds every word of `q`,
        sorted by `name`, `companyType` or `industry` (`:asc`/`:desc`), at most 1,000 deep."""
        terms = self._check_page(q, page_size, page_number, "organizations")
        order = self._order(sort_order.split(",") if sort_order else [], ORG_SORTABLE, "id")
        offset = (page_number - 1) * page_size
        total, page = self.store.search_organizations(terms, offset, page_size, order)
        return self._listing(page, total, page_size, page_number, "/organizations", q, sort_order)

    def load_organizations(self, rows: list[dict[str, Any]]) -> list[str]:
        now = iso_ms(self.clock())
        orgs = []
        for i, row in enumerate(rows):
            try:
                fields = normalize_organization(row, self.ctx)
            except ApiError as exc:
                raise ValueError(f"organization row {i} is invalid: {exc.message}") from None
            orgs.append(self._new_organization(fields, now))
        self.store.put_organizations(orgs)
        return [o["id"] for o in orgs]

    def get_organization(self, org_id: str) -> dict[str, Any]:
        org = self.store.get_organization(org_id)
        if org is None:
            raise not_found("external organization", org_id)
        return org

    def replace_organization(self, org_id: str, data: Any) -> dict[str, Any]:
        stored = self.get_organization(org_id)
        org = self._replaced(stored, normalize_organization(data, self.ctx, existing=stored))
        org.pop("type", None)
        self.store.put_organizations([org])
        return org

    def delete_organization(self, org_id: str) -> None:
        if not self.store.delete_organization(org_id):
            raise not_found("external organization", org_id)

    # --- external sources --------------------------------------------------------------------------------------------

    def _source_fields(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise bad_request("The request body must be an ExternalSource object")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad_request("name is required", "name", "required")
        if len(name.strip()) > 200:
            raise bad_request("name must be at most 200 characters", "name", "field.too.long")
        active = data.get("active", True)
        if not isinstance(active, bool):
            raise bad_request("active must be a boolean", "active")
        fields: dict[str, Any] = {"name": name.strip(), "active": active}
        link = data.get("linkConfiguration")
        if link is not None:
            if not isinstance(link, dict) or not isinstance(link.get("uriTemplate"), str):
                raise bad_request("linkConfiguration must be {uriTemplate}", "linkConfiguration")
            fields["linkConfiguration"] = {"uriTemplate": link["uriTemplate"]}
        return fields

    def _save_source(self, source: dict[str, Any]) -> dict[str, Any]:
        if not self.store.put_source(source):
            raise ApiError(
                409,
                "duplicate.value",
                f"An external source named {source['name']!r} already exists",
                [{"errorCode": "duplicate.value", "fieldName": "name"}],
            )
        return source

    def create_source(self, data: Any) -> dict[str, Any]:
        sid = str(uuid.uuid4())
        source = {
            "id": sid,
            **self._source_fields(data),
            "selfUri": f"{BASE}/externalsources/{sid}",
        }  # no dates: the SDK's ExternalSource model has none
        return self._save_source(source)

    def get_source(self, source_id: str) -> dict[str, Any]:
        source = self.store.get_source(source_id)
        if source is None:
            raise not_found("external source", source_id)
        return source

    def replace_source(self, source_id: str, data: Any) -> dict[str, Any]:
        stored = self.get_source(source_id)
        source = {
            "id": source_id,
            **self._source_fields(data),
            "selfUri": stored["selfUri"],
        }
        return self._save_source(source)

    def delete_source(self, source_id: str) -> None:
        if not self.store.delete_source(source_id):
            raise not_found("external source", source_id)


def new_ids(n: int) -> list[str]:
    """n random version-4 UUID strings (what `uuid.uuid4` makes, several times faster for a batch)."""
    raw = bytearray(os.urandom(16 * n))
    out = []
    for start in range(0, len(raw), 16):
        b = raw[start : start + 16]
        b[6] = (b[6] & 0x0F) | 0x40
        b[8] = (b[8] & 0x3F) | 0x80
        h = b.hex()
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def _with_entities(entities: list[bytes], rest: dict[str, Any]) -> bytes:
    """A listing body whose entities are already-encoded JSON (no decode/encode round trip for large pages)."""
    return b'{"entities":[' + b",".join(entities) + b"]," + orjson.dumps(rest)[1:]
