"""Large Salesforce write-backs through one Bulk API 2.0 ingest job: records to CSV, the job's calls, and each
record's outcome read back from the job's result sets.

Every step can be sent again after a lost answer without writing twice: a job takes one upload (a resent upload is
refused and means ours arrived), closing twice is refused (the job's state then says it is closed), and polls and
result reads change nothing. Only the job's creation is not repeatable, and a lost one leaves an empty open job that
Salesforce removes by itself. Values follow the service's CSV rules: an empty cell leaves a field as it is, so a
cleared value is sent as `#N/A`.
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from simple_salesforce import Salesforce

from contact_sync.connectors.http import ConnectorError, RequestRejected

NULL_CELL = "#N/A"
FINAL_STATES = ("JobComplete", "Failed", "Aborted")
RESULT_SETS = ("successfulResults", "failedResults", "unprocessedrecords")


def to_cell(value: Any) -> str:
    """One value as a Bulk API 2.0 CSV cell (null and the empty string clear the field)."""
    if value is None or value == "":
        return NULL_CELL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def to_csv(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]], bytes]:
    """The header (every field any row has, sorted), the cells per row, and the CSV upload. A field a row lacks is
    an empty cell: left as it is."""
    header = sorted({name for row in rows for name in row})
    cells = [[to_cell(row[name]) if name in row else "" for name in header] for row in rows]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(cells)
    return header, cells, buf.getvalue().encode()


def parse_error(cell: str) -> str:
    """`sf__Error` (`CODE:message:fields --`, one per error) as the connector's `CODE: message (fields)` text."""
    out = []
    for part in (p.strip() for p in cell.split(" --") if p.strip()):
        code, colon, rest = part.partition(":")
        if not colon:
            out.append(part)
            continue
        message, _, fields = rest.rpartition(":") if rest.count(":") else (rest, "", "")
        out.append(f"{code}: {message}" + (f" ({fields.replace(',', ', ')})" if fields else ""))
    return "; ".join(out) or cell


class JobUnsettled(ConnectorError):
    """The job was closed (Salesforce may be writing its records) but its results could not be read."""

    def __init__(self, job_id: str, message: str) -> None:
        super().__init__(message)
        self.job_id = job_id


@dataclass
class RowResult:
    """One uploaded row's result: `ok`, the record id (when known), created or not, the error text."""

    ok: bool
    record_id: str | None = None
    created: bool = False
    message: str | None = None


@dataclass
class JobOutcome:
    """A finished (or given up) job: its id, final state, and one result per uploaded row, in upload order."""

    job_id: str
    state: str
    rows: list[RowResult] = field(default_factory=list)


def match_results(
    header: list[str], cells: list[list[str]], result_sets: Mapping[str, str], state: str
) -> list[RowResult]:
    """Each uploaded row's result, found by its cells in the result sets (rows with the same cells are told apart
    by order); a row in none of them is reported not processed."""
    waiting: dict[tuple[str, ...], deque[int]] = defaultdict(deque)
    for i, row in enumerate(cells):
        waiting[tuple(row)].append(i)
    out: list[RowResult | None] = [None] * len(cells)
    for kind, text in result_sets.items():
        for record in csv.DictReader(io.StringIO(text, newline="")):
            key = tuple(record.get(name) or "" for name in header)
            queue = waiting.get(key)
            if not queue:
                continue
            i = queue.popleft()
            record_id = record.get("sf__Id") or None
            if kind == "successfulResults":
                out[i] = RowResult(True, record_id, record.get("sf__Created", "").lower() == "true")
            elif kind == "failedResults":
                out[i] = RowResult(False, record_id, message=parse_error(record.get("sf__Error") or ""))
            else:
                out[i] = RowResult(False, message=f"not processed: the Bulk API job ended {state}")
    missing = f"not in the Bulk API job's results (job {state})"
    return [r or RowResult(False, message=missing) for r in out]


class IngestRunner:
    """Runs ingest jobs on one logged-in simple-salesforce client (whose session does the retries and counting)."""

    def __init__(
        self,
        sf: Salesforce,
        *,
        poll_seconds: float,
        timeout_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sf = sf
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep
        self.clock = clock

    def run(
        self, operation: str, rows: Sequence[Mapping[str, Any]], external_id_field: str | None = None
    ) -> JobOutcome:
        """Create, upload, close, wait, and read the results of one job on Contact. Raises `JobUnsettled` when the
        job was closed but its results could not be read, `ConnectorError` when it could not be started (nothing
        was written then)."""
        header, cells, content = to_csv(rows)
        spec: dict[str, Any] = {"object": "Contact", "operation": operation, "contentType": "CSV", "lineEnding": "LF",
                                "columnDelimiter": "COMMA"}  # fmt: skip
        if external_id_field:
            spec["externalIdFieldName"] = external_id_field
        job = self.sf.restful("jobs/ingest", method="POST", json=spec)
        if not isinstance(job, dict) or not job.get("id"):
            raise ConnectorError(f"Salesforce answered the creation of a Bulk API job with {job!r:.200}")
        job_id = str(job["id"])
        self._upload(job_id, content)
        self._close(job_id)
        try:
            state = self._wait(job_id)
            if state.partition(":")[0] not in FINAL_STATES:
                raise ConnectorError(f"the job was still {state} after {self.timeout_seconds:.0f} s")
            results = {kind: self._result_set(job_id, kind) for kind in RESULT_SETS}
        except ConnectorError as exc:
            raise JobUnsettled(job_id, f"Bulk API job {job_id} was started but its outcome is unknown: {exc}") from None
        return JobOutcome(job_id, state, match_results(header, cells, results, state))

    def _url(self, job_id: str, tail: str = "") -> str:
        return f"{self.sf.base_url}jobs/ingest/{job_id}{tail}"

    def _upload(self, job_id: str, content: bytes) -> None:
        headers = {**self.sf.headers, "Content-Type": "text/csv", "Accept": "application/json"}
        try:
            self.sf.session.put(self._url(job_id, "/batches"), data=content, headers=headers)
        except RequestRejected as exc:
            # A resent upload after a lost answer: the first one arrived (this job is ours alone).
            if "multiple contents" not in str(exc).lower():
                raise

    def _close(self, job_id: str) -> None:
        try:
            self.sf.restful(f"jobs/ingest/{job_id}", method="PATCH", json={"state": "UploadComplete"})
        except RequestRejected as exc:
            if exc.status != 409 or self._state(job_id) == "Open":
                raise

    def _info(self, job_id: str) -> dict[str, Any]:
        info = self.sf.restful(f"jobs/ingest/{job_id}")
        return info if isinstance(info, dict) else {}

    def _state(self, job_id: str) -> str:
        return str(self._info(job_id).get("state", ""))

    def _wait(self, job_id: str) -> str:
        """The job's final state, with the service's reason when it failed (`Failed: InvalidBatch : ...`)."""
        deadline = self.clock() + self.timeout_seconds
        while True:
            info = self._info(job_id)
            state = str(info.get("state", ""))
            if state in FINAL_STATES:
                return f"{state}: {info['errorMessage']}" if info.get("errorMessage") else state
            if self.clock() >= deadline:
                return state
            self.sleep(self.poll_seconds)

    def _result_set(self, job_id: str, kind: str) -> str:
        headers = {**self.sf.headers, "Accept": "text/csv"}
        response = self.sf.session.get(self._url(job_id, f"/{kind}"), headers=headers)
        return response.content.decode("utf-8-sig")
