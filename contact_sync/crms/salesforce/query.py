"""SOQL text and record handling for the Salesforce connector: pure functions, no HTTP.

Builds the incremental `SystemModstamp` query with its overlap window, keeps the latest version of each record,
computes the watermark a completed read may store, and parses Bulk API 2.0 CSV into the REST records' shape.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from contact_sync.sync.record_ids import SALESFORCE_ID_RE

CONTACT_FIELDS: tuple[str, ...] = (
    "Id",
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "MobilePhone",
    "AccountId",
    "LeadScore__c",
    "Tags__c",
    "CreatedDate",
    "LastModifiedDate",
    "SystemModstamp",
    "IsDeleted",
    "MasterRecordId",
)

# Bulk API 2.0 gives every value as CSV text; these say which ones are not strings.
BOOLEAN_FIELDS: frozenset[str] = frozenset({"IsDeleted"})
NUMBER_FIELDS: frozenset[str] = frozenset({"LeadScore__c"})

_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


def parse_datetime(value: str) -> datetime:
    """A Salesforce datetime (`2026-01-01T00:00:00.000+0000`, `...Z`, `...+00:00`) as an aware UTC datetime."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"not a Salesforce datetime: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"Salesforce datetime without a time zone: {value!r}")
    return parsed.astimezone(UTC)


def format_watermark(moment: datetime) -> str:
    """The stored form of a watermark: UTC, milliseconds, `Z` (e.g. `2026-01-01T00:00:00.123Z`)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def soql_datetime(moment: datetime) -> str:
    """A SOQL datetime literal (unquoted, whole seconds, UTC), rounded down so nothing at `moment` is excluded."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_field_name(name: str) -> str:
    """`name`, checked to be a SOQL field name (letters, digits, underscores; dotted for relationships)."""
    if not _FIELD_NAME.match(name):
        raise ValueError(f"not a SOQL field name: {name!r}")
    return name


def check_field_names(fields: Sequence[str]) -> list[str]:
    """The field list, checked: SOQL names only, `Id` and `SystemModstamp` present, no duplicates."""
    names = list(fields)
    bad = [f for f in names if not _FIELD_NAME.match(f)]
    if bad:
        raise ValueError(f"not a SOQL field name: {', '.join(map(repr, bad))}")
    missing = [f for f in ("Id", "SystemModstamp") if f not in names]
    if missing:
        raise ValueError(f"the field list must include {', '.join(missing)}")
    if len(set(names)) != len(names):
        raise ValueError("the field list names a field twice")
    return names


def incremental_soql(
    fields: Sequence[str], watermark: str | None, overlap: timedelta, sobject: str = "Contact", ordered: bool = True
) -> str:
    """`SELECT fields FROM sobject [WHERE SystemModstamp >= watermark - overlap] [ORDER BY SystemModstamp, Id]`."""
    where = ""
    if watermark is not None:
        since = parse_datetime(watermark) - overlap
        where = f" WHERE SystemModstamp >= {soql_datetime(since)}"
    order = " ORDER BY SystemModstamp, Id" if ordered else ""
    return f"SELECT {', '.join(fields)} FROM {sobject}{where}{order}"


def soql_string(value: str) -> str:
    """A quoted SOQL string literal."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def check_ids(ids: Iterable[str]) -> list[str]:
    """The ids, checked to be Salesforce ids (15 or 18 letters and digits); a bad one is a clear error."""
    checked = list(ids)
    bad = [i for i in checked if not isinstance(i, str) or not SALESFORCE_ID_RE.match(i)]
    if bad:
        raise ValueError(f"not a Salesforce id: {', '.join(map(repr, bad[:5]))}")
    return checked


def ids_soql(fields: Sequence[str], ids: Sequence[str], sobject: str = "Contact") -> str:
    """`SELECT fields FROM sobject WHERE Id IN (...)` for ids already checked with `check_ids`."""
    return f"SELECT {', '.join(fields)} FROM {sobject} WHERE Id IN ({', '.join(soql_string(i) for i in ids)})"


def strip_attributes(record: dict[str, Any]) -> dict[str, Any]:
    """A REST record without its `attributes` (type and url), so REST and Bulk records look alike (in place)."""
    if isinstance(record, dict):
        record.pop("attributes", None)
    return record


def keep_latest(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One record per Id, the version with the latest `SystemModstamp` (on a tie the later one read), ordered by
    (`SystemModstamp`, Id) like the query; then, in the order read, the records whose Id or stamp cannot be read,
    for the converter to reject and report."""
    latest: dict[str, tuple[datetime, Mapping[str, Any]]] = {}
    unreadable: list[Any] = []
    for record in records:
        stamp = _readable_stamp(record)
        if stamp is None:
            unreadable.append(record)
            continue
        record_id = record["Id"]
        seen = latest.get(record_id)
        if seen is None or stamp >= seen[0]:
            latest[record_id] = (stamp, record)
    ordered = sorted(latest.items(), key=lambda item: (item[1][0], item[0]))
    return [*(dict(record) for _, (_, record) in ordered), *unreadable]


def _readable_stamp(record: Any) -> datetime | None:
    """The record's `SystemModstamp` when it has a text Id and a readable stamp, else None."""
    if not isinstance(record, Mapping) or not isinstance(record.get("Id"), str) or not record["Id"]:
        return None
    stamp = record.get("SystemModstamp")
    try:
        return parse_datetime(stamp) if isinstance(stamp, str) else None
    except ValueError:
        return None


def next_watermark(previous: str | None, records: Iterable[Mapping[str, Any]]) -> str | None:
    """The watermark after a completed read: the latest `SystemModstamp` read, never earlier than `previous`."""
    best = parse_datetime(previous) if previous is not None else None
    for record in records:
        stamp = _readable_stamp(record)
        if stamp is None:
            continue
        if best is None or stamp > best:
            best = stamp
    return format_watermark(best) if best is not None else None


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"not a boolean: {text!r}")
    return lowered == "true"


def parse_bulk_csv(
    text: str,
    boolean_fields: frozenset[str] = BOOLEAN_FIELDS,
    number_fields: frozenset[str] = NUMBER_FIELDS,
) -> list[dict[str, Any]]:
    """Bulk API 2.0 query results (CSV with a header row) as records: empty -> None, booleans and numbers typed."""
    records: list[dict[str, Any]] = []
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        record: dict[str, Any] = {}
        for name, value in row.items():
            if name is None:
                raise ValueError("a Bulk API CSV row has more values than the header has columns")
            if value is None or value == "":
                record[name] = None
            elif name in boolean_fields:
                record[name] = _boolean(value)
            elif name in number_fields:
                record[name] = _number(value)
            else:
                record[name] = value
        records.append(record)
    return records
