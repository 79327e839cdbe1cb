"""The simulated account's objects (contacts, companies) and their property definitions, and the validation of
property values an API write sends.

Every property value is a string on the wire (HubSpot's `properties: {name: string}`); datetimes are ISO-8601 UTC with
milliseconds (`2026-01-01T00:00:00.000Z`). The record's id, creation date and last-modified date are not stored as
properties but as columns (`hs_object_id`, `createdate`, `lastmodifieddate` / `hs_lastmodifieddate` are computed from
them on every read), so search and paging on them use SQL indexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from contact_sync.simulators.hubspot.errors import property_errors, unknown_property

PROPERTY_TYPES = ("string", "number", "datetime", "bool")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
EMAIL_RE = re.compile(r"^[^\s@\"]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


@dataclass(frozen=True)
class Property:
    """One property definition: `unique` ones (hasUniqueValue) can be an `idProperty`; `read_only` ones are computed."""

    name: str
    type: str = "string"
    unique: bool = False
    read_only: bool = False
    custom: bool = False


@dataclass(frozen=True)
class ObjectType:
    """What differs between contacts and companies."""

    name: str  # the path segment: contacts | companies
    singular: str  # contact | company
    label: str  # CONTACT | COMPANY (HubSpot's wording in batch error messages)
    id_start: int  # the first id the account hands out
    defaults: tuple[Property, ...]
    default_read: tuple[str, ...]  # properties a read returns when none are requested
    always_read: tuple[str, ...]  # properties every read returns besides the requested ones
    modified_props: tuple[str, ...]  # the names of the last-modified date
    searchable: tuple[str, ...]  # the properties a search `query` looks in
    other: str  # the object it associates with
    assoc_type: str  # the v3 association type name (contact_to_company)
    assoc_type_ids: frozenset[int]  # association type ids accepted on create (primary and unlabeled)
    default_type_id: int  # the default (unlabeled) association type id, v4
    reverse_type_id: int  # the default association type id of the reverse direction


_COMPUTED = (
    Property("hs_object_id", "number", unique=True, read_only=True),
    Property("createdate", "datetime", read_only=True),
    Property("hs_lastmodifieddate", "datetime", read_only=True),
    Property("hs_merged_object_ids", read_only=True),
)

CONTACTS = ObjectType(
    name="contacts",
    singular="contact",
    label="CONTACT",
    id_start=101,
    defaults=(
        *_COMPUTED,
        Property("lastmodifieddate", "datetime", read_only=True),
        Property("hs_additional_emails", read_only=True),
        Property("email", unique=True),
        Property("firstname"),
        Property("lastname"),
        Property("phone"),
        Property("mobilephone"),
        Property("company"),
        # The primary company's id. HubSpot derives it from the primary association (and a write of it sets that);
        # the simulator stores it as a plain number property and does not tie it to associations (unconfirmed).
        Property("associatedcompanyid", "number"),
        # HubSpot computes its score from the account's scoring rules; here it is a plain, writable number.
        Property("hubspotscore", "number"),
        Property("jobtitle"),
        Property("lifecyclestage"),
        Property("city"),
        Property("country"),
        Property("genesys_id", unique=True, custom=True),
    ),
    default_read=("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    always_read=("createdate", "hs_object_id", "lastmodifieddate"),
    modified_props=("lastmodifieddate", "hs_lastmodifieddate"),
    searchable=("firstname", "lastname", "email", "phone", "mobilephone", "company", "hs_additional_emails"),
    other="companies",
    assoc_type="contact_to_company",
    assoc_type_ids=frozenset({1, 279}),
    default_type_id=279,
    reverse_type_id=280,
)

COMPANIES = ObjectType(
    name="companies",
    singular="company",
    label="COMPANY",
    id_start=10_000_001,
    defaults=(
        *_COMPUTED,
        Property("name"),
        Property("domain"),
        Property("phone"),
        Property("city"),
        Property("country"),
        Property("industry"),
    ),
    default_read=("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    always_read=("createdate", "hs_lastmodifieddate", "hs_object_id"),
    modified_props=("hs_lastmodifieddate",),
    searchable=("name", "domain", "phone"),
    other="contacts",
    assoc_type="company_to_contact",
    assoc_type_ids=frozenset({2, 280}),
    default_type_id=280,
    reverse_type_id=279,
)

OBJECTS: dict[str, ObjectType] = {"contacts": CONTACTS, "companies": COMPANIES}

# Properties whose values live in columns, not in the stored property map.
COLUMN_PROPERTIES = {"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"}


def object_type(name: str) -> ObjectType:
    try:
        return OBJECTS[name]
    except KeyError:
        raise ValueError(f"unknown object type {name!r}; expected contacts or companies") from None


# --- time ----------------------------------------------------------------------------------------------------------

_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$",
    re.IGNORECASE,
)


def iso_ms(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds, as HubSpot writes datetimes: 2026-01-01T00:00:00.000Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_timestamp(value: Any) -> datetime | None:
    """A datetime HubSpot accepts: epoch milliseconds (number or digits) or ISO-8601 (a date alone is midnight UTC);
    None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_ms(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if re.fullmatch(r"-?\d{1,16}", text):
        return _from_ms(int(text))
    m = _ISO_RE.match(text)
    if not m:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro, tzinfo=UTC
        )
    except ValueError:
        return None
    if zone and zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment


def _from_ms(ms: float) -> datetime | None:
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    except OverflowError:
        return None


# --- property values -----------------------------------------------------------------------------------------------


def clean_properties(
    obj: ObjectType,
    registry: dict[str, Property],
    properties: Any,
    *,
    lowercase_emails: bool,
) -> dict[str, str | None]:
    """The normalized values of an API write's `properties` (None clears a value), or a 400 naming every bad one.

    Unknown names answer PROPERTY_DOESNT_EXIST, computed ones READ_ONLY_VALUE; values are strings (numbers and
    booleans are accepted and written as text); an empty string clears the value.
    """
    if not isinstance(properties, dict):
        raise property_errors([{"name": "properties", "error": "INVALID_INPUT", "message": "properties is required"}])
    failures: list[dict[str, str]] = []
    out: dict[str, str | None] = {}
    for name, raw in properties.items():
        prop = registry.get(name)
        if prop is None:
            failures.append(unknown_property(name))
            continue
        if prop.read_only:
            failures.append(
                {
                    "name": name,
                    "error": "READ_ONLY_VALUE",
                    "message": f'"{name}" is a read only property; its value cannot be set.',
                }
            )
            continue
        value, failure = _clean_value(prop, raw, lowercase_emails)
        if failure is not None:
            failures.append(failure)
        else:
            out[name] = value
    if failures:
        raise property_errors(failures)
    return out


def _clean_value(prop: Property, raw: Any, lowercase_emails: bool) -> tuple[str | None, dict[str, str] | None]:
    if raw is None:
        return None, None
    if isinstance(raw, bool):
        text = "true" if raw else "false"
    elif isinstance(raw, int | float | str):
        text = str(raw)
    else:
        return None, {"name": prop.name, "error": "INVALID_INPUT", "message": f"{raw!r} is not a valid value"}
    if text == "":
        return None, None
    if prop.name == "email":
        text = text.strip()
        if not EMAIL_RE.match(text):
            return None, {"name": "email", "error": "INVALID_EMAIL", "message": f"Email address {text} is invalid"}
        return (text.lower() if lowercase_emails else text), None
    if prop.type == "number":
        try:
            float(text)
        except ValueError:
            return None, {"name": prop.name, "error": "INVALID_DECIMAL", "message": f"{text} is not a valid number"}
    elif prop.type == "datetime":
        moment = parse_timestamp(text)
        if moment is None:
            return None, {"name": prop.name, "error": "INVALID_DATE", "message": f"{text} is not a valid datetime"}
        text = iso_ms(moment)
    elif prop.type == "bool" and text not in ("true", "false"):
        return None, {
            "name": prop.name,
            "error": "INVALID_OPTION",
            "message": f"{text} was not one of the allowed options: [true, false]",
        }
    return text, None
