"""ISO-8601 timestamps as the services write them (`2026-01-01T00:00:00.000Z` or with an offset), read and written
one way for every connector and mirror that keeps a watermark."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_stamp(value: Any) -> datetime | None:
    """A timestamp (ISO-8601, `Z` or offset) as an aware datetime; None when it is anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def format_stamp(value: datetime) -> str:
    """UTC with milliseconds and `Z`, as HubSpot and Genesys write a timestamp."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
