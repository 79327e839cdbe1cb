"""Validation and normalization of external contacts and organizations, as the service applies them on every write.

`normalize_contact` turns what a client sent (create, PUT, bulk add/update) into what the service stores, or raises a
400 `ApiError` whose `details` name every bad field. `apply_patch` applies a PATCH `changes` list to a stored contact.

Choices where the reference says nothing (documented here, the client must not rely on them either way):
- Unknown top-level fields are refused (400); server-set fields a client echoes back (`id`, `createDate`, ...) are
  ignored.
- Strings are trimmed; a string that is empty after trimming clears the field.
- `customFields` are accepted without a schema (the real service needs one): a dict of name -> string, number,
  boolean or list of those.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contact_sync.simulators.genesys.errors import ApiError, bad_request, field_detail
from contact_sync.simulators.genesys.phones import parse_phone

MAX_STRING = 1000
MAX_EMAIL = 256
MAX_EXTERNAL_IDS = 10
MAX_EXTERNAL_ID_VALUE = 255

NAME_FIELDS = ("firstName", "middleName", "lastName", "salutation", "title")
PHONE_FIELDS = ("workPhone", "cellPhone", "homePhone", "otherPhone")
EMAIL_FIELDS = ("workEmail", "personalEmail", "otherEmail")
ADDRESS_FIELDS = ("address1", "address2", "city", "state", "postalCode", "countryCode")
PHONE_KEYS = ("display", "extension", "acceptsSMS", "userInput", "e164", "countryCode", "normalizationCountryCode")
MESSAGING_FIELDS = ("twitterId", "lineId", "whatsAppId", "facebookId")
SERVER_FIELDS = frozenset(
    {
        "id",
        "createDate",
        "modifyDate",
        "type",
        "selfUri",
        "mergeSet",
        "mergedFrom",
        "mergedTo",
        "canonicalContact",
        "externalDataSources",
        "identifiers",
    }
)
ORG_STRING_FIELDS = ("name", "companyType", "industry", "primaryContactId", "twitterId", "externalSystemUrl")
ORG_FIELDS = frozenset(
    {
        *ORG_STRING_FIELDS,
        "address",
        "phoneNumber",
        "faxNumber",
        "websites",
        "revenue",
        "numEmployees",
        "tickers",
        "schema",
        "customFields",
        "externalIds",
        "division",
        "tags",
    }
)

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.\-]+@{_LABEL}(?:\.{_LABEL})+")
_URL = re.compile(r"https?://[^\s]+", re.IGNORECASE)


@dataclass
class Context:
    """What validation needs to know about the rest of the org."""

    default_country: str
    division: dict[str, str]
    source: Callable[[str], dict[str, Any] | None]  # external source by id
    org_exists: Callable[[str], bool]
    base_uri: str = "/api/v2/externalcontacts"


class _Problems:
    """Collects every bad field of one entity, then raises one 400 naming them all."""

    def __init__(self) -> None:
        self.details: list[dict[str, Any]] = []
        self.messages: list[str] = []

    def add(self, field: str, message: str, code: str = "invalid.value") -> None:
        self.details.append(field_detail(field, code))
        self.messages.append(message)

    def raise_if_any(self) -> None:
        if self.details:
            raise ApiError(400, "bad.request", "; ".join(self.messages), self.details)


def writable(stored: dict[str, Any]) -> dict[str, Any]:
    """The client-writable fields of a stored record."""
    return {k: v for k, v in stored.items() if k not in SERVER_FIELDS}


def _string(value: Any, field: str, problems: _Problems, max_len: int = MAX_STRING) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.add(field, f"{field} must be a string")
        return None
    value = value.strip()
    if len(value) > max_len:
        problems.add(field, f"{field} must be at most {max_len} characters", "field.too.long")
        return None
    return value or None


def _email(value: Any, field: str, problems: _Problems) -> str | None:
    text = _string(value, field, problems, MAX_EMAIL)
    if text is not None and not _EMAIL.fullmatch(text):
        problems.add(field, f"{field} is not a valid email address: {text}", "invalid.email")
        return None
    return text


def _extension(value: Any, field: str, problems: _Problems) -> int | None:
    """A PhoneNumber's `extension`: an integer, as the official SDK's model types it. A string of digits is taken
    as the number it spells (as a lenient JSON binder does; unconfirmed), anything else is refused."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        problems.add(field, f"{field} must be an integer")
        return None
    if isinstance(value, str):
        if not value.strip().isdigit():
            problems.add(field, f"{field} must be an integer, got {value!r}")
            return None
        value = int(value.strip())
    if not 0 <= value <= 2**31 - 1:
        problems.add(field, f"{field} must be between 0 and {2**31 - 1}")
        return None
    return value


def normalize_phone(value: Any, field: str, ctx: Context, problems: _Problems) -> dict[str, Any] | None:
    """A PhoneNumber as stored: parsed numbers get `e164` and an international `display`; `userInput` keeps the raw."""
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(field, f"{field} must be a PhoneNumber object")
        return None
    if len(value) == 1 and type(value.get("display")) is str and len(value["display"]) <= MAX_STRING:
        # The common create (seeding): only a display string.
        raw = value["display"].strip()
        if not raw:
            return None
        parsed = parse_phone(raw, ctx.default_country)
        if parsed is None:
            return {"display": raw, "userInput": raw}
        phone = {"display": parsed.display, "userInput": raw, "e164": parsed.e164}
        if parsed.region:
            phone["countryCode"] = parsed.region
        if parsed.extension:
            phone["extension"] = int(parsed.extension)
        return phone
    unknown = set(value) - set(PHONE_KEYS)
    if unknown:
        problems.add(field, f"{field} has unknown field(s): {', '.join(sorted(unknown))}")
        return None
    strings = {
        k: _string(v, f"{field}.{k}", problems) for k, v in value.items() if k not in ("acceptsSMS", "extension")
    }
    get = strings.get
    accepts_sms = value.get("acceptsSMS")
    if accepts_sms is not None and not isinstance(accepts_sms, bool):
        problems.add(f"{field}.acceptsSMS", f"{field}.acceptsSMS must be a boolean")
    raw = get("display") or get("e164") or get("userInput")
    if raw is None:
        return None
    region = get("normalizationCountryCode") or get("countryCode") or ctx.default_country
    parsed = parse_phone(raw, region)
    user_input = raw
    # A client echoing back what it read sends the rewritten display: keep the original input then.
    previous = get("userInput")
    if parsed is not None and previous and previous != raw:
        earlier = parse_phone(previous, region)
        if earlier is not None and earlier.display == parsed.display:
            user_input = previous
    phone: dict[str, Any] = {"display": raw, "userInput": user_input}
    if parsed is not None:
        phone["display"] = parsed.display
        phone["e164"] = parsed.e164
        if parsed.region:
            phone["countryCode"] = parsed.region
    extension = _extension(value.get("extension"), f"{field}.extension", problems)
    if extension is None and parsed is not None and parsed.extension:
        extension = int(parsed.extension)
    if extension is not None:
        phone["extension"] = extension
    if isinstance(accepts_sms, bool):
        phone["acceptsSMS"] = accepts_sms
    if get("normalizationCountryCode"):
        phone["normalizationCountryCode"] = get("normalizationCountryCode")
    return phone


def _address(value: Any, field: str, problems: _Problems) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(field, f"{field} must be an object")
        return None
    unknown = value.keys() - _ADDRESS_KEYS
    if unknown:
        problems.add(field, f"{field} has unknown field(s): {', '.join(sorted(unknown))}")
        return None
    out = {k: _string(v, f"{field}.{k}", problems) for k, v in value.items()}
    cleaned = {k: v for k, v in out.items() if v is not None}
    return cleaned or None


_ADDRESS_KEYS = frozenset(ADDRESS_FIELDS)


def _custom_fields(value: Any, problems: _Problems) -> dict[str, Any] | None:
    if value is None:
        return None
    scalar = (str, int, float, bool)
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        problems.add("customFields", "customFields must be an object of field name -> value")
        return None
    for name, item in value.items():
        ok = isinstance(item, scalar) or (isinstance(item, list) and all(isinstance(x, scalar) for x in item))
        if item is not None and not ok:
            problems.add(f"customFields.{name}", f"customFields.{name} must be a string, number, boolean or list")
    return {k: v for k, v in value.items() if v is not None} or None


def _external_ids(value: Any, ctx: Context, problems: _Problems) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        problems.add("externalIds", "externalIds must be a list")
        return None
    if len(value) > MAX_EXTERNAL_IDS:
        problems.add("externalIds", f"externalIds holds at most {MAX_EXTERNAL_IDS} entries", "too.many.values")
        return None
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(value):
        field = f"externalIds[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("externalSource"), dict):
            problems.add(field, f"{field} must be {{externalSource: {{id}}, value}}")
            continue
        source_id = item["externalSource"].get("id")
        text = _string(item.get("value"), f"{field}.value", problems, MAX_EXTERNAL_ID_VALUE)
        if text is None:
            if item.get("value") is None or item.get("value") == "":
                problems.add(f"{field}.value", f"{field}.value is required", "required")
            continue
        source = ctx.source(source_id) if isinstance(source_id, str) else None
        if source is None:
            problems.add(f"{field}.externalSource", f"Unable to find external source with id {source_id}", "not.found")
            continue
        if (source["id"], text) in seen:
            continue
        seen.add((source["id"], text))
        out.append(
            {
                "externalSource": {"id": source["id"], "name": source["name"], "selfUri": source["selfUri"]},
                "value": text,
            }
        )
    return out or None


def _division(value: Any, ctx: Context, existing: dict[str, Any] | None, problems: _Problems) -> None:
    if value is None:
        return
    div_id = value.get("id") if isinstance(value, dict) else None
    current = (existing or {}).get("division", ctx.division)
    if div_id is not None and div_id != current["id"]:
        if existing is not None:
            problems.add("division", "The division of an existing contact cannot be changed", "division.immutable")
        else:
            problems.add("division", f"Unknown division {div_id}", "not.found")


def _common_unknown(data: dict[str, Any], allowed: frozenset[str], problems: _Problems) -> None:
    unknown = sorted(set(data) - allowed - SERVER_FIELDS)
    for name in unknown:
        problems.add(name, f"Unrecognized field '{name}'", "unrecognized.field")


def normalize_contact(data: Any, ctx: Context, existing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The writable part of an ExternalContact as stored (no server-set fields), or a 400 `ApiError`."""
    if not isinstance(data, dict):
        raise bad_request("The request body must be an ExternalContact object")
    problems = _Problems()
    out: dict[str, Any] = {}
    for name, value in data.items():
        if value is None or name in SERVER_FIELDS:
            continue
        kind = _CONTACT_KINDS.get(name)
        if kind is None:
            problems.add(name, f"Unrecognized field '{name}'", "unrecognized.field")
        elif kind == "string":
            out[name] = _string(value, name, problems)
        elif kind == "phone":
            out[name] = normalize_phone(value, name, ctx, problems)
        elif kind == "email":
            out[name] = _email(value, name, problems)
        elif kind == "address":
            out[name] = _address(value, name, problems)
        elif kind == "messaging":
            if not isinstance(value, dict):
                problems.add(name, f"{name} must be an object")
            elif value:
                out[name] = value
        else:
            out[name] = _CONTACT_OTHER[name](value, ctx, existing, problems)
    problems.raise_if_any()
    return {k: v for k, v in out.items() if v is not None}


def _external_org(value: Any, ctx: Context, existing: dict[str, Any] | None, problems: _Problems) -> Any:
    org_id = value.get("id") if isinstance(value, dict) else None
    if not isinstance(org_id, str) or not ctx.org_exists(org_id):
        problems.add("externalOrganization", f"Unable to find external organization with id {org_id}", "not.found")
        return None
    return {"id": org_id, "selfUri": f"{ctx.base_uri}/organizations/{org_id}"}


def _system_url(value: Any, ctx: Context, existing: dict[str, Any] | None, problems: _Problems) -> Any:
    url = _string(value, "externalSystemUrl", problems)
    if url is not None and not _URL.fullmatch(url):
        problems.add("externalSystemUrl", "externalSystemUrl must be an http(s) URL")
        return None
    return url


def _survey_opt_out(value: Any, ctx: Context, existing: dict[str, Any] | None, problems: _Problems) -> Any:
    if not isinstance(value, bool):
        problems.add("surveyOptOut", "surveyOptOut must be a boolean")
        return None
    return value


def _schema(value: Any, ctx: Context, existing: dict[str, Any] | None, problems: _Problems) -> Any:
    if not (isinstance(value, dict) and isinstance(value.get("id"), str)):
        problems.add("schema", "schema must be {id, version}")
        return None
    return {"id": value["id"], "version": value.get("version")}


def _division_field(value: Any, ctx: Context, existing: dict[str, Any] | None, problems: _Problems) -> Any:
    _division(value, ctx, existing, problems)
    return None  # the division is server-set (from the existing contact, or the home division)


_CONTACT_KINDS: dict[str, str] = {
    **dict.fromkeys(NAME_FIELDS, "string"),
    **dict.fromkeys(PHONE_FIELDS, "phone"),
    **dict.fromkeys(EMAIL_FIELDS, "email"),
    **dict.fromkeys(MESSAGING_FIELDS, "messaging"),
    "address": "address",
    **dict.fromkeys(
        (
            "externalOrganization",
            "externalSystemUrl",
            "surveyOptOut",
            "schema",
            "customFields",
            "externalIds",
            "division",
        ),
        "other",
    ),
}
_CONTACT_OTHER: dict[str, Callable[[Any, Context, dict[str, Any] | None, _Problems], Any]] = {
    "externalOrganization": _external_org,
    "externalSystemUrl": _system_url,
    "surveyOptOut": _survey_opt_out,
    "schema": _schema,
    "customFields": lambda v, ctx, existing, problems: _custom_fields(v, problems),
    "externalIds": lambda v, ctx, existing, problems: _external_ids(v, ctx, problems),
    "division": _division_field,
}


def normalize_organization(data: Any, ctx: Context, existing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The writable part of an ExternalOrganization as stored, or a 400 `ApiError` (`name` is required)."""
    if not isinstance(data, dict):
        raise bad_request("The request body must be an ExternalOrganization object")
    problems = _Problems()
    _common_unknown(data, ORG_FIELDS, problems)
    out: dict[str, Any] = {}
    for name in ORG_STRING_FIELDS:
        out[name] = _string(data.get(name), name, problems)
    if out["name"] is None and not any(d["fieldName"] == "name" for d in problems.details):
        problems.add("name", "name is required", "required")
    out["address"] = _address(data.get("address"), "address", problems)
    for name in ("phoneNumber", "faxNumber"):
        out[name] = normalize_phone(data.get(name), name, ctx, problems)
    for name in ("websites", "tickers", "tags"):
        value = data.get(name)
        if value is not None and not isinstance(value, list):
            problems.add(name, f"{name} must be a list")
        elif value:
            out[name] = value
    for name in ("revenue", "numEmployees"):
        value = data.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.add(name, f"{name} must be a number")
        else:
            out[name] = value
    out["customFields"] = _custom_fields(data.get("customFields"), problems)
    out["externalIds"] = _external_ids(data.get("externalIds"), ctx, problems)
    if data.get("schema") is not None:
        out["schema"] = data["schema"]
    _division(data.get("division"), ctx, existing, problems)
    problems.raise_if_any()
    return {k: v for k, v in out.items() if v is not None}


# --- PATCH -----------------------------------------------------------------------------------------------------------

PATCH_ACTIONS = frozenset(
    {"UpdateIfEmpty", "UpdateIfExists", "Update", "AppendToCollection", "Remove", "RemoveFromCollection"}
)
_PATH = re.compile(r"\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def _parse_path(raw: Any, index: int) -> tuple[str, ...]:
    match = _PATH.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise bad_request(f"changes[{index}].field must be a path like $.firstName, got {raw!r}", f"changes[{index}]")
    return tuple(match.group(1)[1:].split("."))


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def apply_patch(current: dict[str, Any], body: Any) -> dict[str, Any]:
    """A copy of `current` (writable fields) with a PATCH `{"changes": [...]}` applied; 400/409 `ApiError` if bad."""
    if not isinstance(body, dict) or not isinstance(body.get("changes"), list) or not body["changes"]:
        raise bad_request("The request body must be {changes: [{field, value, action}]}", "changes")
    changes: list[tuple[tuple[str, ...], str, Any, bool]] = []
    for i, change in enumerate(body["changes"]):
        if not isinstance(change, dict):
            raise bad_request(f"changes[{i}] must be an object", f"changes[{i}]")
        path = _parse_path(change.get("field"), i)
        action = change.get("action", "Update")
        if action not in PATCH_ACTIONS:
            raise bad_request(f"changes[{i}].action must be one of {', '.join(sorted(PATCH_ACTIONS))}", "action")
        if path[0] in SERVER_FIELDS:
            raise bad_request(f"{path[0]} cannot be changed", path[0], "read.only")
        changes.append((path, action, change.get("value"), "value" in change))
    paths = [c[0] for c in changes]
    for i, a in enumerate(paths):
        for b in paths[i + 1 :]:
            short, long = (a, b) if len(a) <= len(b) else (b, a)
            if long[: len(short)] == short:
                raise ApiError(
                    409,
                    "conflict",
                    f"Cannot patch $.{'.'.join(short)} and $.{'.'.join(long)} in the same request",
                    [field_detail("$." + ".".join(long), "conflict")],
                )
    doc = copy.deepcopy(current)
    for path, action, value, has_value in changes:
        parent = doc
        for key in path[:-1]:
            nxt = parent.get(key)
            if not isinstance(nxt, dict):
                if action in ("Remove", "RemoveFromCollection", "UpdateIfExists"):
                    nxt = None
                    break
                nxt = parent[key] = {}
            parent = nxt
        else:
            _apply_one(parent, path, action, value, has_value)
    return doc


def _apply_one(parent: dict[str, Any], path: tuple[str, ...], action: str, value: Any, has_value: bool) -> None:
    key = path[-1]
    field = "$." + ".".join(path)
    present = parent.get(key)
    if action != "Remove" and not has_value:
        raise bad_request(f"A value is required to {action} {field}", field, "required")
    if action == "Update":
        parent[key] = value
    elif action == "UpdateIfEmpty":
        if _is_empty(present):
            parent[key] = value
    elif action == "UpdateIfExists":
        if not _is_empty(present):
            parent[key] = value
    elif action == "Remove":
        parent.pop(key, None)
    else:
        if present is not None and not isinstance(present, list):
            raise bad_request(f"{field} is not a collection", field, "not.a.collection")
        items = list(present or [])
        values = value if isinstance(value, list) else [value]
        if action == "AppendToCollection":
            parent[key] = items + [v for v in values if v not in items]
        else:
            parent[key] = [item for item in items if not any(_same_item(item, v) for v in values)]


def _same_item(item: Any, wanted: Any) -> bool:
    """Collection items match by value; external ids by (source id, value) whatever else the client sent."""
    if isinstance(item, dict) and isinstance(wanted, dict) and "externalSource" in item:
        source = wanted.get("externalSource")
        return (
            isinstance(source, dict)
            and source.get("id") == item["externalSource"].get("id")
            and wanted.get("value") == item.get("value")
        )
    return item == wanted
