"""Contact merge (`POST contacts/merge`) and contact identifiers (`GET`/`PATCH contacts/{id}/identifiers`), in the
official SDK's shapes (`MergeContactsRequest`, `ContactIdentifierListing`, `IdentifierClaimRequest`).

What the simulator does (the SDK's description of merge, the rest its choices, said in the README):
- A merge of 2 to 25 contacts makes a **new** contact: each field from the most recently modified contact that has
  it, then `valueOverride` on top. Emails and phones the winner does not carry move to the free email and phone
  slots; every contact's `externalIds` are kept (at most 10). What does not fit is a 400 and nothing is merged, so a
  merge never drops an identifier. The new contact's `mergedFrom` lists the merged contacts, its `mergeSet` them and
  their own merge sets (at most 52); the merged contacts are gone (404).
- A contact's identifiers are its emails (lower case), phones (E.164) and external ids. `Claim` gives one to the
  contact (an email or phone into its first free slot, an external id into `externalIds`) and takes it from every
  other contact that has it; `Release` takes it from the contact (404 when it does not have it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import orjson

from contact_sync.simulators.genesys.errors import ApiError, bad_request, not_found
from contact_sync.simulators.genesys.store import identifier_key, identifiers_of
from contact_sync.simulators.genesys.validation import (
    EMAIL_FIELDS,
    MAX_EXTERNAL_IDS,
    PHONE_FIELDS,
    normalize_contact,
    writable,
)

if TYPE_CHECKING:
    from contact_sync.simulators.genesys.service import Service

MERGE_MIN, MERGE_MAX, MERGE_SET_MAX = 2, 25, 52
CLAIM_OPERATIONS: Final = ("Claim", "Release")


def _email_key(contact: dict[str, Any], field: str) -> str | None:
    value = contact.get(field)
    return value.lower() if isinstance(value, str) and value else None


def _phone_key(contact: dict[str, Any], field: str) -> str | None:
    phone = contact.get(field)
    return phone.get("e164") or phone.get("display") if isinstance(phone, dict) else None


def _external_key(entry: dict[str, Any]) -> tuple[str, str]:
    return (entry.get("externalSource") or {}).get("id", ""), entry.get("value", "")


class Merger:
    """Merges and identifier claims over the service's store (see the module docstring)."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def _ref(self, contact_id: str) -> dict[str, str]:
        return {"id": contact_id, "selfUri": f"{self.service.ctx.base_uri}/contacts/{contact_id}"}

    # --- merge -------------------------------------------------------------------------------------------------------

    def merge(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("The request body must be a MergeContactsRequest object")
        ids = body.get("contactIds")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise bad_request("contactIds must be a list of contact ids", "contactIds", "required")
        if len(set(ids)) != len(ids) or not MERGE_MIN <= len(ids) <= MERGE_MAX:
            raise bad_request(
                f"contactIds must hold {MERGE_MIN} to {MERGE_MAX} distinct contact ids", "contactIds", "invalid.value"
            )
        override = body.get("valueOverride") or {}
        if not isinstance(override, dict):
            raise bad_request("valueOverride must be an ExternalContact object", "valueOverride")
        store = self.service.store
        found = store.get_contacts(ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise not_found("contact", missing[0])
        sources = sorted(found.values(), key=lambda c: c.get("modifyDate", ""), reverse=True)
        merge_set = {c["id"] for c in sources}
        for contact in sources:
            merge_set |= {ref["id"] for ref in contact.get("mergeSet") or ()}
        if len(merge_set) > MERGE_SET_MAX:
            raise bad_request(
                f"The merge set would hold {len(merge_set)} contacts; at most {MERGE_SET_MAX}", "contactIds"
            )
        fields = self._combined(sources, {k: v for k, v in override.items() if v is not None})
        contact = self.service._new_contact(
            normalize_contact(fields, self.service.ctx), self.service._modify_date(sources[0].get("modifyDate"))
        )
        contact["mergedFrom"] = [self._ref(c["id"]) for c in sources]
        contact["mergeSet"] = [self._ref(i) for i in sorted(merge_set)]
        with store.transaction():
            store.delete_contacts(ids)
            store.put_contacts([contact])
        return contact

    @staticmethod
    def _combined(sources: list[dict[str, Any]], override: dict[str, Any]) -> dict[str, Any]:
        """The merged contact's writable fields: most recent first, then the others' emails and phones in free slots
        and every external id; a 400 when they do not fit."""
        out: dict[str, Any] = {}
        for contact in reversed(sources):  # the most recently modified last, so its values win
            out.update(writable(contact))
        out.update(override)
        for fields, key_of in ((EMAIL_FIELDS, _email_key), (PHONE_FIELDS, _phone_key)):
            kept = {key_of(out, f) for f in fields} - {None}
            for contact in sources:
                for field in fields:
                    key = key_of(contact, field)
                    if key is None or key in kept:
                        continue
                    free = next((f for f in fields if out.get(f) in (None, "", {})), None)
                    if free is None:
                        raise bad_request(
                            f"The merged contact has no free {fields[0][4:].lower()} slot for {key} of {contact['id']}",
                            "contactIds",
                            "merge.conflict",
                        )
                    out[free] = contact[field]
                    kept.add(key)
        external: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in [*(override.get("externalIds") or ()), *(e for c in sources for e in c.get("externalIds") or ())]:
            external.setdefault(_external_key(entry), entry)
        if len(external) > MAX_EXTERNAL_IDS:
            raise bad_request(
                f"The merged contact would carry {len(external)} external ids; at most {MAX_EXTERNAL_IDS}",
                "contactIds",
                "merge.conflict",
            )
        if external:
            out["externalIds"] = list(external.values())
        return out

    # --- identifiers -------------------------------------------------------------------------------------------------

    def _identifier(self, contact: dict[str, Any], kind: str, value: str, source: Any = None) -> dict[str, Any]:
        identifier: dict[str, Any] = {
            "type": kind,
            "value": value,
            "dateCreated": contact["createDate"],
            "division": contact.get("division", self.service.division),
        }
        if source is not None:
            identifier["externalSource"] = source
        return identifier

    def identifiers(self, contact_id: str) -> dict[str, Any]:
        contact = self.service.store.get_contact(contact_id)
        if contact is None:
            raise not_found("contact", contact_id)
        entities = [self._identifier(contact, "Email", k) for f in EMAIL_FIELDS if (k := _email_key(contact, f))]
        entities += [self._identifier(contact, "Phone", k) for f in PHONE_FIELDS if (k := _phone_key(contact, f))]
        for entry in contact.get("externalIds") or ():
            source = self.service.store.get_source(entry["externalSource"]["id"]) or entry["externalSource"]
            ref = {"id": source["id"], "name": source.get("name"), "selfUri": source.get("selfUri")}
            entities.append(self._identifier(contact, "ExternalId", entry["value"], ref))
        return {"entities": entities}

    def claim(self, contact_id: str, body: Any) -> dict[str, Any]:
        service, store = self.service, self.service.store
        if not isinstance(body, dict):
            raise bad_request("The request body must be an IdentifierClaimRequest object")
        operation = body.get("operation")
        if operation not in CLAIM_OPERATIONS:
            raise bad_request("operation must be Claim or Release", "operation", "required")
        kind, key, value = service.identifier(body.get("identifier"), "identifier")
        contact = store.get_contact(contact_id)
        if contact is None:
            raise not_found("contact", contact_id)
        carries = identifier_key(kind, key) in identifiers_of(contact)
        changed: list[dict[str, Any]] = []
        if operation == "Release":
            if not carries:
                raise ApiError(404, "not.found", f"Contact {contact_id} has no {kind} identifier {value}")
            changed.append(self._without(contact, kind, key))
        else:
            if not carries:
                changed.append(self._with(contact, kind, value, body["identifier"]))
            for data in store.lookup_all(kind, key, MERGE_SET_MAX):
                other = orjson.loads(data)
                if other["id"] != contact_id:
                    changed.append(self._without(other, kind, key))
        store.put_contacts(changed)
        final = next((c for c in changed if c["id"] == contact_id), contact)
        source = {"id": key.split("\x1f")[0]} if kind == "ExternalId" else None
        return self._identifier(final, kind, key if kind != "ExternalId" else value, source)

    def _with(self, contact: dict[str, Any], kind: str, value: str, identifier: dict[str, Any]) -> dict[str, Any]:
        fields = writable(contact)
        if kind == "ExternalId":
            entries = list(fields.get("externalIds") or ())
            if len(entries) >= MAX_EXTERNAL_IDS:
                raise bad_request(f"The contact already carries {MAX_EXTERNAL_IDS} external ids", "identifier")
            entries.append({"externalSource": {"id": identifier["externalSource"]["id"]}, "value": value})
            fields["externalIds"] = entries
        else:
            slots = EMAIL_FIELDS if kind == "Email" else PHONE_FIELDS
            free = next((f for f in slots if fields.get(f) in (None, "", {})), None)
            if free is None:
                raise bad_request(f"The contact has no free {kind.lower()} field for {value}", "identifier")
            fields[free] = value if kind == "Email" else {"display": value}
        return self._saved(contact, fields)

    def _without(self, contact: dict[str, Any], kind: str, key: str) -> dict[str, Any]:
        fields = writable(contact)
        if kind == "ExternalId":
            fields["externalIds"] = [
                e for e in fields.get("externalIds") or () if "\x1f".join(_external_key(e)) != key
            ] or None
        else:
            slots, key_of = (EMAIL_FIELDS, _email_key) if kind == "Email" else (PHONE_FIELDS, _phone_key)
            for field in slots:
                if key_of(fields, field) == key:
                    fields[field] = None
        return self._saved(contact, {k: v for k, v in fields.items() if v is not None})

    def _saved(self, contact: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        service = self.service
        return service._replaced(contact, normalize_contact(fields, service.ctx, existing=contact))
