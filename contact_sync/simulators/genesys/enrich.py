"""Contact enrich (`POST contacts/enrich`, `POST bulk/contacts/enrich`): create or update a contact found by its
identifiers, in the official SDK's shapes (`ContactEnrichRequest`, `BulkContactsEnrichRequest`/`Response`).

What the simulator does (Genesys documents the shapes, not every rule; these are its choices, said in the README):
- The contact is found by `id` when given, else by `matchingIdentifiers` (Email, Phone, ExternalId; other types are
  refused, never ignored). Several distinct contacts found is a 409 `identifier.conflict`.
- `action`: `Insert` creates (409 when one is found), `Update` updates (404 when none is), `Upsert` does whichever
  applies. `Merge` is refused with 400 (not simulated).
- Fields given replace the stored ones under `fieldRules.defaultAction` `AlwaysUseProvided` (the default);
  `PreferExisting` only fills fields the contact lacks; `PreferProvided` takes a given non-empty value. Per-field
  `rules` override it. Lists (`externalIds`, ...) follow `defaultArrayAction`: `Replace` (default), `Extend` (add what
  is missing), `Fill` (only when the contact has none). Fields not given are kept.
- An ExternalId matching identifier the contact does not carry yet is added to its `externalIds`, so the next enrich
  with the same identifier finds it: sending one again after a lost answer updates, it never creates twice.
- `dryRun=true` answers what would be stored and stores nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import orjson

from contact_sync.simulators.genesys.errors import ApiError, bad_request, not_found
from contact_sync.simulators.genesys.validation import normalize_contact, writable

if TYPE_CHECKING:
    from contact_sync.simulators.genesys.service import Service

ACTIONS: Final = ("Insert", "Update", "Upsert")
FIELD_ACTIONS: Final = ("AlwaysUseProvided", "PreferExisting", "PreferProvided")
ARRAY_ACTIONS: Final = ("Replace", "Extend", "Fill")
MAX_MATCHING_IDENTIFIERS: Final = 10


def _choice(value: Any, allowed: tuple[str, ...], field: str, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    match = next((a for a in allowed if isinstance(value, str) and a.lower() == value.lower()), None)
    if match is None:
        raise bad_request(f"{field} must be one of {', '.join(allowed)}", field)
    return match


class Enricher:
    """Enrich requests over the service's store (see the module docstring)."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def _target(self, request: dict[str, Any], at: str) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
        """(action, contacts found, ExternalId identifiers as externalIds entries) of one request."""
        raw_action = request.get("action")
        if isinstance(raw_action, str) and raw_action.lower() == "merge":
            raise bad_request("action Merge is not simulated: use contacts/merge", f"{at}action")
        action = _choice(raw_action, ACTIONS, f"{at}action")
        store = self.service.store
        found: dict[str, dict[str, Any]] = {}
        claims: list[dict[str, Any]] = []
        target_id = request.get("id")
        if target_id is not None:
            if not isinstance(target_id, str):
                raise bad_request("id must be a string", f"{at}id")
            stored = store.get_contacts([target_id]).get(target_id)
            if stored is None:
                if action != "Insert":
                    raise not_found("contact", target_id)
            else:
                found[target_id] = stored
        identifiers = request.get("matchingIdentifiers") or []
        if not isinstance(identifiers, list) or len(identifiers) > MAX_MATCHING_IDENTIFIERS:
            raise bad_request(
                f"matchingIdentifiers must be a list of at most {MAX_MATCHING_IDENTIFIERS}", f"{at}matchingIdentifiers"
            )
        if target_id is None and not identifiers:
            raise bad_request("id or matchingIdentifiers is required", f"{at}matchingIdentifiers", "required")
        for n, identifier in enumerate(identifiers):
            kind, key, value = self.service.identifier(identifier, f"{at}matchingIdentifiers[{n}]")
            for data in store.lookup_all(kind, key, 10):
                contact = orjson.loads(data)
                found.setdefault(contact["id"], contact)
            if kind == "ExternalId":
                claims.append({"externalSource": {"id": identifier["externalSource"]["id"]}, "value": value})
        if len(found) > 1:
            raise ApiError(
                409,
                "identifier.conflict",
                f"The identifiers match {len(found)} contacts ({', '.join(sorted(found))}): merge them first",
            )
        return action, list(found.values()), claims

    @staticmethod
    def _rules(request: dict[str, Any], at: str) -> tuple[str, dict[str, str], str]:
        rules = request.get("fieldRules") or {}
        if not isinstance(rules, dict):
            raise bad_request("fieldRules must be an object", f"{at}fieldRules")
        default = _choice(
            rules.get("defaultAction"), FIELD_ACTIONS, f"{at}fieldRules.defaultAction", "AlwaysUseProvided"
        )
        arrays = _choice(
            rules.get("defaultArrayAction"), ARRAY_ACTIONS, f"{at}fieldRules.defaultArrayAction", "Replace"
        )
        per_field: dict[str, str] = {}
        for n, rule in enumerate(rules.get("rules") or []):
            where = f"{at}fieldRules.rules[{n}]"
            if not isinstance(rule, dict) or not isinstance(rule.get("field"), str):
                raise bad_request("a rule must be {field, action}", where)
            per_field[rule["field"]] = _choice(rule.get("action"), FIELD_ACTIONS, f"{where}.action", default)
        return default, per_field, arrays

    def _combined(
        self, current: dict[str, Any], given: dict[str, Any], request: dict[str, Any], at: str
    ) -> dict[str, Any]:
        default, per_field, arrays = self._rules(request, at)
        out = {k: v for k, v in current.items()}
        for name, value in given.items():
            existing = out.get(name)
            if isinstance(value, list):
                if arrays == "Extend":
                    value = [*(existing or []), *(v for v in value if v not in (existing or []))]
                elif arrays == "Fill" and existing:
                    continue
            else:
                rule = per_field.get(name, default)
                if rule == "PreferExisting" and existing not in (None, "", {}, []):
                    continue
                if rule == "PreferProvided" and value in (None, "", {}, []):
                    continue
            out[name] = value
        return out

    def _one(self, request: Any, at: str) -> tuple[int, dict[str, Any]]:
        """(HTTP status, the contact as stored) of one enrich request; nothing is written here."""
        from contact_sync.simulators.genesys.service import iso_ms

        if not isinstance(request, dict):
            raise bad_request("The request body must be a ContactEnrichRequest object", at.rstrip(".") or None)
        action, found, claims = self._target(request, at)
        service = self.service
        contact_body = request.get("contact")
        if contact_body is None:
            contact_body = {}
        if not isinstance(contact_body, dict):
            raise bad_request("contact must be an ExternalContact object", f"{at}contact")
        if found and action == "Insert":
            raise ApiError(409, "identifier.conflict", f"A contact with these identifiers exists: {found[0]['id']}")
        if not found and action == "Update":
            raise ApiError(404, "not.found", "No contact matches the identifiers of an Update")
        current = writable(found[0]) if found else {}
        merged = self._combined(current, contact_body, request, at)
        external_ids = list(merged.get("externalIds") or [])
        for claim in claims:
            if not any(
                (e.get("externalSource") or {}).get("id") == claim["externalSource"]["id"]
                and e.get("value") == claim["value"]
                for e in external_ids
            ):
                external_ids.append(claim)
        if external_ids:
            merged["externalIds"] = external_ids
        fields = normalize_contact(merged, service.ctx, existing=found[0] if found else None)
        if found:
            return 200, service._replaced(found[0], fields)
        return 201, service._new_contact(fields, iso_ms(service.clock()))

    def enrich(self, body: Any, dry_run: bool) -> tuple[int, dict[str, Any]]:
        status, contact = self._one(body, "")
        if not dry_run:
            self.service.store.put_contacts([contact])
        return status, contact

    def bulk_enrich(self, body: Any, dry_run: bool) -> dict[str, Any]:
        """Each entity on its own (one failing does not stop the others; a later one sees what an earlier one
        wrote); the results in no particular order, as every bulk answer (a failure carries its request in
        `error.entity`)."""
        service = self.service
        entities = service._bulk_entities(body)
        results: list[dict[str, Any]] = []
        for n, entity in enumerate(entities):
            try:
                status, contact = self._one(entity, f"entities[{n}].")
            except ApiError as exc:
                failure = service._failure(exc, entity)
                failure["status"] = exc.status
                results.append(failure)
                continue
            if not dry_run:  # written at once, so a later entity with the same identifiers finds it
                service.store.put_contacts([contact])
            results.append({"id": contact["id"], "success": True, "entity": contact, "status": status})
        return service._bulk_response(results)
