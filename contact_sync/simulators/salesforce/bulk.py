"""Bulk API 2.0 query jobs: a job runs its SOQL when created and serves the result as CSV pages with a locator.

Jobs live in memory in the serving process (like query locators); a restarted simulator forgets them and answers
404 for their ids. The state is `UploadComplete` in the create reply and `JobComplete` from the first poll on.
"""

from __future__ import annotations

import csv
import io
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from contact_sync.simulators.salesforce.soql import Compiled

_LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
MAX_RECORDS_DEFAULT = 50_000
MAX_JOBS = 20


@dataclass
class QueryJob:
    """One Bulk API 2.0 query job and its (already computed) rows."""

    id: str
    operation: str
    query: Compiled
    rows: list[tuple[Any, ...]]
    created: str
    api_version: str
    line_ending: str = "LF"
    column_delimiter: str = "COMMA"
    state: str = "UploadComplete"
    polled: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "object": self.query.obj.name,
            "createdById": "0055g000000SimUAAS",
            "createdDate": self.created,
            "systemModstamp": self.created,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
            "numberRecordsProcessed": len(self.rows) if self.state == "JobComplete" else 0,
            "retries": 0,
            "totalProcessingTime": 0,
        }

    def page(self, locator: str | None, max_records: int) -> tuple[bytes, str, int]:
        """CSV text of one page, the next locator (`null` at the end) and the number of records in the page."""
        start = int(locator) if locator else 0
        chunk = self.rows[start : start + max_records]
        buf = io.StringIO()
        writer = csv.writer(
            buf,
            delimiter=_DELIMITERS[self.column_delimiter],
            lineterminator=_LINE_ENDINGS[self.line_ending],
            quoting=csv.QUOTE_ALL,
        )
        writer.writerow(self.query.fields)
        for row in chunk:
            writer.writerow(
                [
                    ("true" if v else "false") if isinstance(v, bool) else ("" if v is None else str(v))
                    for v in self.query.values(row)
                ]
            )
        end = start + len(chunk)
        next_locator = str(end) if end < len(self.rows) else "null"
        return buf.getvalue().encode(), next_locator, len(chunk)


class BulkJobs:
    """The query jobs of one simulator process, by id."""

    def __init__(self) -> None:
        self._jobs: dict[str, QueryJob] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    def next_id(self) -> str:
        from contact_sync.simulators.salesforce.ids import make_id

        with self._lock:
            return make_id("750", next(self._counter))

    def add(self, job: QueryJob) -> None:
        """Keep a job; beyond `MAX_JOBS` the oldest is forgotten (its rows can be large)."""
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS:
                del self._jobs[next(iter(self._jobs))]

    def get(self, job_id: str) -> QueryJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def delete(self, job_id: str) -> bool:
        with self._lock:
            return self._jobs.pop(job_id, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()

    def all(self) -> list[QueryJob]:
        with self._lock:
            return list(self._jobs.values())
