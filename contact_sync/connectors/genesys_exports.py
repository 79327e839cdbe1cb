"""Reading a Genesys contacts export file: the one place that knows its format.

Genesys does not document the file behind an export's `downloadUrl`. contact-sync reads JSON lines of ExternalContact
objects (one per line, as the API returns them), gzipped or not (told apart by the gzip magic bytes, not by a header),
which is what the project's simulator serves (`export_format`). A file that is cut off, not JSON lines, or has
another row count than the export reported is refused whole with `ExportFailed`: the caller falls back to a full read
rather than trust part of it. A line that is JSON but not a contact object is one odd record, not a broken file: it is
passed on, as the scan passes such an entity, for the converter to reject and report alone.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from contact_sync.connectors.http import ConnectorError

GZIP_MAGIC = b"\x1f\x8b"


class ExportFailed(ConnectorError):
    """An export did not give a usable file: it FAILED, did not finish in time, or its file was unreadable."""


@dataclass
class ExportRead:
    """The contacts of one finished export and the server's time when it selected them (its `dateCreated`): every
    change made after that instant is in the next export filtered on `ModifyDate >= started_at`."""

    export_id: str
    started_at: str
    contacts: list[Any] = field(default_factory=list)
    """ExternalContact objects (an odd record as it came, for the converter to reject)."""
    api_calls: int = 0
    polls: int = 0


def parse_export_file(data: bytes, expected_rows: int | None = None) -> list[Any]:
    """The records of an export file (ExternalContact objects, and any odd JSON value as it came); `ExportFailed`
    (naming the line) for a file that is not whole JSON lines."""
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:
            raise ExportFailed(f"the export file is not a complete gzip file ({exc})") from None
    contacts: list[Any] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise ExportFailed(f"line {number} of the export file is not JSON (cut off or not JSON lines)") from None
        contacts.append(record)
    if expected_rows is not None and len(contacts) != expected_rows:
        raise ExportFailed(
            f"the export file holds {len(contacts)} contacts but the export reported {expected_rows} (cut off?)"
        )
    return contacts
