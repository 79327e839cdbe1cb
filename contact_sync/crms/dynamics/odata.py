"""Pure helpers of the Dynamics 365 connector: the read watermark, OData query text, record ids and service answers.

Nothing here makes a call; the connector (`connectors.dynamics`) does. Kept apart so the rules (what a watermark holds,
how a filter is spelled, which error code means what) are tested without a service.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from contact_sync.sync.record_ids import DYNAMICS_ID_RE

API_PATH = "/api/data/v9.2"
CONTACT_COLUMNS: tuple[str, ...] = (
    "contactid",
    "firstname",
    "lastname",
    "emailaddress1",
    "telephone1",
    "mobilephone",
    "_parentcustomerid_value",
    "createdon",
    "modifiedon",
    "statecode",
)
# Dataverse error codes the connector acts on (`{"error": {"code": ...}}`). The last two are not settled by Microsoft's
# documentation; the messages are matched as well (see `is_tracking_refused`, `is_delta_expired`).
VERSION_MISMATCH = "0x80060882"
DUPLICATE_KEY = "0x80040237"
CHANGE_TRACKING_OFF = "0x80072491"
DELTA_TOKEN_EXPIRED = "0x80044352"

_COLUMN_RE = re.compile(r"^_?[a-z][a-z0-9_]*$")
_ENTITY_ID_RE = re.compile(r"\(([0-9a-fA-F-]{36})\)\s*$")


# --- the watermark ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DynamicsWatermark:
    """Where the last read stopped: the change-tracking delta token (when change tracking was used) and the latest
    `modifiedon` fully read (always, so a read can fall back to `modifiedon` when change tracking is turned off).

    Stored as compact JSON (`{"deltatoken": ..., "modifiedon": ...}`); a bare ISO datetime is read as `modifiedon`.
    """

    deltatoken: str | None = None
    modifiedon: datetime | None = None

    @classmethod
    def parse(cls, text: str | None) -> DynamicsWatermark:
        if text is None or not text.strip():
            return cls()
        text = text.strip()
        if not text.startswith("{"):
            return cls(modifiedon=parse_datetime(text, "watermark"))
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(f"Dynamics watermark is not valid JSON: {text[:80]!r}") from None
        if not isinstance(data, dict) or set(data) - {"deltatoken", "modifiedon"}:
            raise ValueError(f"Dynamics watermark must hold only deltatoken and modifiedon, got {text[:80]!r}")
        token = data.get("deltatoken")
        if token is not None and (not isinstance(token, str) or not token):
            raise ValueError(f"Dynamics watermark deltatoken must be a non-empty string, got {token!r}")
        stamp = data.get("modifiedon")
        if stamp is not None and not isinstance(stamp, str):
            raise ValueError(f"Dynamics watermark modifiedon must be an ISO datetime, got {stamp!r}")
        return cls(deltatoken=token, modifiedon=parse_datetime(stamp, "watermark modifiedon") if stamp else None)

    def encode(self) -> str | None:
        if self.deltatoken is None and self.modifiedon is None:
            return None
        data: dict[str, str] = {}
        if self.deltatoken is not None:
            data["deltatoken"] = self.deltatoken
        if self.modifiedon is not None:
            data["modifiedon"] = format_datetime(self.modifiedon)
        return json.dumps(data, separators=(",", ":"), sort_keys=True)


def parse_datetime(text: str, what: str = "datetime") -> datetime:
    """An ISO-8601 datetime as the Web API writes it (`2026-01-01T00:00:00Z`), in UTC; ValueError naming `what`."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, AttributeError):
        raise ValueError(f"Dynamics {what} is not an ISO datetime: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """A datetime as an OData literal in UTC, whole seconds (the precision `modifiedon` is shown in)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def latest_modifiedon(rows: Iterable[Mapping[str, Any]], start: datetime | None) -> datetime | None:
    """The latest `modifiedon` among `rows` and `start` (rows without a readable one, e.g. deletes, are skipped: the
    converters reject a live row whose stamp cannot be read)."""
    latest = start
    for row in rows:
        stamp = row.get("modifiedon") if isinstance(row, Mapping) else None
        if isinstance(stamp, str) and stamp:
            try:
                value = parse_datetime(stamp, "modifiedon")
            except ValueError:
                continue
            if latest is None or value > latest:
                latest = value
    return latest


# --- query text ---------------------------------------------------------------------------------------------------


def check_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """The `$select` columns, checked (lower-case logical names; `contactid` and `modifiedon` always included)."""
    out = list(dict.fromkeys(["contactid", *columns, "modifiedon"]))
    bad = [c for c in out if not _COLUMN_RE.match(c)]
    if bad:
        raise ValueError(f"not Dataverse column names: {', '.join(map(repr, bad))}")
    return tuple(out)


def modified_since_filter(since: datetime) -> str:
    return f"modifiedon ge {format_datetime(since)}"


def ids_filter(column: str, ids: Sequence[str]) -> str:
    """`column eq <guid> or ...` for ids already checked with `is_guid`."""
    return " or ".join(f"{column} eq {i}" for i in ids)


def prefer(page_size: int, *, track_changes: bool = False) -> str:
    return ("odata.track-changes, " if track_changes else "") + f"odata.maxpagesize={page_size}"


def is_guid(value: object) -> bool:
    return isinstance(value, str) and bool(DYNAMICS_ID_RE.match(value))


def deltatoken_of(link: str) -> str:
    """The `$deltatoken` of an `@odata.deltaLink`; ValueError when it has none."""
    values = parse_qs(urlsplit(link).query).get("$deltatoken")
    if not values or not values[0]:
        raise ValueError(f"@odata.deltaLink carries no $deltatoken: {link[:200]!r}")
    return values[0]


def entity_id(header: str | None) -> str | None:
    """The record id in an `OData-EntityId` header (`{base}/contacts(<guid>)`), lower case."""
    if not header:
        return None
    m = _ENTITY_ID_RE.search(header)
    return m.group(1).lower() if m else None


# --- service answers ----------------------------------------------------------------------------------------------


def error_code(body: Any) -> str:
    """The Dataverse error code of an error body (`{"error": {"code": ...}}`), "" when absent."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("code") or "")
    return ""


def is_tracking_refused(body: Any, message: str) -> bool:
    """The service refused a change-tracking read because the table's "Track changes" is off."""
    text = message.lower()
    return error_code(body) == CHANGE_TRACKING_OFF or ("change tracking" in text and "not enabled" in text)


def is_delta_expired(body: Any, message: str) -> bool:
    """The service refused a delta token as expired (by default after 7 days): a full read is needed."""
    text = message.lower()
    return error_code(body) == DELTA_TOKEN_EXPIRED or ("expired" in text and ("version" in text or "token" in text))


def overlap_start(modifiedon: datetime | None, overlap: timedelta) -> datetime | None:
    return None if modifiedon is None else modifiedon - overlap


def written_matches(row: Mapping[str, Any], columns: Mapping[str, Any]) -> bool:
    """Whether a fetched row already holds every value of a write body (lookup binds compared by target id)."""
    for name, value in columns.items():
        if name.endswith("@odata.bind"):
            lookup = name.split("@", 1)[0].rsplit("_", 1)[0]
            target = entity_id(value) if isinstance(value, str) else None
            current = row.get(f"_{lookup}_value")
            if (target or None) != (str(current).lower() if current else None):
                return False
            continue
        if "@" in name or name == "contactid":
            continue
        current = row.get(name)
        if (value if value != "" else None) != current:
            return False
    return True
