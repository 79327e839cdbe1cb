"""Validation of a record written through the API, with the error codes and messages the real service uses.

`validate` checks one payload against an sObject's fields and returns the clean values plus per-record errors in the
sObject Collections shape. Whether referenced records exist needs the database and is checked by the store.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from contact_sync.simulators.salesforce.errors import record_error
from contact_sync.simulators.salesforce.ids import normalize_id
from contact_sync.simulators.salesforce.schema import OBJECTS, SObject

EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
# Keys a payload may carry besides fields: the sObject Collections type marker, and (checked by callers) Id.
_IGNORED = {"attributes"}
# Field lookup by exact and lower-case name (payload keys are matched case-insensitively, like the real API).
_FIELDS = {o.name: {**{f.name.lower(): f for f in o.fields}, **{f.name: f for f in o.fields}} for o in OBJECTS.values()}
_PREFIXES = {o.name: o.prefix for o in OBJECTS.values()}


def validate(obj: SObject, payload: dict[str, Any], *, creating: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Clean values by canonical field name, and the errors (empty when the record is valid).

    An empty string clears a field (stored as null), as in the real API. `Id` is left to the caller.
    """
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    read_only: list[str] = []
    lookup = _FIELDS[obj.name]
    for key, raw in payload.items():
        field = lookup.get(key) or lookup.get(key.lower())
        if field is None:
            if key in _IGNORED or key.lower() == "id":
                continue
            errors.append(record_error("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}"))
            continue
        if not field.writable:
            if field.name != "Id":
                read_only.append(field.name)
            continue
        if type(raw) is str and raw:
            text = raw
        elif isinstance(raw, dict | list):
            errors.append(
                record_error(
                    "JSON_PARSER_ERROR",
                    f"Cannot deserialize instance of {_java_type(field.type)} from START_OBJECT value for field "
                    f"{field.name}",
                    [field.name],
                )
            )
            continue
        elif raw is None or raw == "":
            values[field.name] = None
            continue
        else:
            text = _to_text(raw)
        if field.type == "double":
            number = _to_number(raw)
            if number is None:
                errors.append(
                    record_error(
                        "JSON_PARSER_ERROR",
                        f"Cannot deserialize instance of double from VALUE_STRING value {raw} or request may be "
                        "missing a required field",
                        [field.name],
                    )
                )
            else:
                values[field.name] = number
            continue
        if field.type == "reference":
            ref = normalize_id(text)
            if ref is None or not ref.startswith(_PREFIXES.get(field.reference_to or "", "")):
                errors.append(
                    record_error("MALFORMED_ID", f"{field.label}: id value of incorrect type: {text}", [field.name])
                )
            else:
                values[field.name] = ref
            continue
        if field.length and len(text) > field.length:
            errors.append(
                record_error(
                    "STRING_TOO_LONG",
                    f"{field.label}: data value too large: {text} (max length={field.length})",
                    [field.name],
                )
            )
            continue
        if field.type == "email" and not EMAIL_RE.match(text):
            errors.append(
                record_error("INVALID_EMAIL_ADDRESS", f"{field.label}: invalid email address: {text}", [field.name])
            )
            continue
        values[field.name] = text
    if read_only:
        errors.append(
            record_error(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(read_only)}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.",
                read_only,
            )
        )
    required = [f.name for f in obj.fields if f.required]
    missing = [
        name
        for name in required
        if (creating and values.get(name) is None and not _has_error(errors, name))
        or (not creating and name in values and values[name] is None)
    ]
    if missing:
        errors.append(
            record_error("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        )
    return values, errors


def _has_error(errors: list[dict[str, Any]], name: str) -> bool:
    return any(name in e["fields"] for e in errors)


def _java_type(kind: str) -> str:
    return "double" if kind == "double" else "java.lang.String"


def _to_number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        value = float(raw)
    else:
        try:
            value = float(str(raw))
        except ValueError:
            return None
    return value if math.isfinite(value) else None


def _to_text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def validate_many(
    obj: SObject, payloads: Sequence[dict[str, Any]], *, creating: bool
) -> tuple[list[dict[str, Any] | None], list[list[dict[str, Any]]]]:
    """`validate` for many payloads at once: (clean values or None, errors) per payload, in order.

    Checks run column by column over the whole batch (large seed loads stay fast); a payload that needs anything
    beyond "already clean" (conversion, an error, an unusual key) goes through `validate` for the exact answer.
    """
    n = len(payloads)
    lookup = _FIELDS[obj.name]
    slow: set[int] = set()
    keys: set[str] = set().union(*payloads) if payloads else set()
    fast_keys = []
    for key in keys:
        field = lookup.get(key)
        if field is None or field.name != key or not field.writable:
            slow.update(i for i, p in enumerate(payloads) if key in p)
        else:
            fast_keys.append(field)
    for field in fast_keys:
        name = field.name
        col = [p.get(name) for p in payloads]
        if field.type == "double":
            bad = [i for i, v in enumerate(col) if v is not None and type(v) not in (int, float)]
            bad += [i for i, v in enumerate(col) if type(v) is float and not math.isfinite(v)]
        elif field.type == "reference":
            prefix = _PREFIXES.get(field.reference_to or "", "")
            bad = [
                i
                for i, v in enumerate(col)
                if v is not None and (type(v) is not str or normalize_id(v) != v or not v.startswith(prefix))
            ]
        else:
            limit = field.length
            bad = [i for i, v in enumerate(col) if v is not None and (type(v) is not str or not v or len(v) > limit)]
            if field.type == "email":
                bad += [i for i, v in enumerate(col) if type(v) is str and v and not EMAIL_RE.match(v)]
        slow.update(bad)
    for field in obj.fields:
        if field.required and creating:
            slow.update(i for i, p in enumerate(payloads) if p.get(field.name) is None)
    cleaned: list[dict[str, Any] | None] = list(payloads)
    errors: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for i in slow:
        values, errs = validate(obj, payloads[i], creating=creating)
        cleaned[i] = None if errs else values
        errors[i] = errs
    return cleaned, errors
