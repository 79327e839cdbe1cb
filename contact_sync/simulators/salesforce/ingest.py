"""Bulk API 2.0 ingest jobs: create, one CSV upload, `UploadComplete`, processing, and the three result sets.

A job takes one upload (a second is refused, as by the service: a resent upload cannot write records twice). It is
processed when first polled after `UploadComplete` (state `JobComplete`, or `Failed` when the CSV itself is unusable:
no data, an unknown column). CSV cells follow the service's rules: an empty cell leaves the field as it is, `#N/A`
sets it to null. Results are CSV: successful rows as `sf__Id,sf__Created,<the uploaded columns>`, failed rows as
`sf__Id,sf__Error,<columns>` with the error as `CODE:message:fields --`, unprocessed rows as the uploaded columns.
Jobs live in memory in the serving process, like query jobs.
"""

from __future__ import annotations

import csv
import io
import threading
from dataclasses import dataclass, field
from typing import Any

from contact_sync.simulators.salesforce.errors import record_error
from contact_sync.simulators.salesforce.schema import SObject
from contact_sync.simulators.salesforce.store import Store

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
NULL_CELL = "#N/A"
MAX_UPLOAD_BYTES = 150 * 1024 * 1024
MAX_JOBS = 50
CHUNK = 200  # the service processes a job in chunks of records; each chunk is written as one batch here too


class IngestError(ValueError):
    """A job that cannot be processed at all (its `errorMessage`; the job ends `Failed`)."""


@dataclass
class IngestJob:
    """One Bulk API 2.0 ingest job: its settings, the uploaded CSV and, once processed, the per-row results."""

    id: str
    obj: SObject
    operation: str
    created: str
    api_version: str
    external_id_field: str | None = None
    line_ending: str = "LF"
    column_delimiter: str = "COMMA"
    state: str = "Open"
    content: bytes | None = None
    error_message: str | None = None
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.obj.name,
            "createdById": "0055g000000SimUAAS",
            "createdDate": self.created,
            "systemModstamp": self.created,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "jobType": "V2Ingest",
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
            "numberRecordsProcessed": len(self.successful) + len(self.failed),
            "numberRecordsFailed": len(self.failed),
            "retries": 0,
            "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
        }
        if self.state == "Open":
            info["contentUrl"] = f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches"
        if self.external_id_field:
            info["externalIdFieldName"] = self.external_id_field
        if self.error_message:
            info["errorMessage"] = self.error_message
        return info

    def results_csv(self, kind: str) -> bytes:
        """One result set as CSV text in the job's delimiter and line ending."""
        buf = io.StringIO()
        writer = csv.writer(
            buf,
            delimiter=DELIMITERS[self.column_delimiter],
            lineterminator=LINE_ENDINGS[self.line_ending],
            quoting=csv.QUOTE_MINIMAL,
        )
        if kind == "successfulResults":
            writer.writerow(["sf__Id", "sf__Created", *self.header])
            writer.writerows(self.successful)
        elif kind == "failedResults":
            writer.writerow(["sf__Id", "sf__Error", *self.header])
            writer.writerows(self.failed)
        else:
            writer.writerow(self.header)
            writer.writerows(self.unprocessed)
        return buf.getvalue().encode()


class IngestJobs:
    """The ingest jobs of one simulator process, by id."""

    def __init__(self) -> None:
        self._jobs: dict[str, IngestJob] = {}
        self._lock = threading.Lock()

    def add(self, job: IngestJob) -> None:
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS:
                del self._jobs[next(iter(self._jobs))]

    def get(self, job_id: str) -> IngestJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def delete(self, job_id: str) -> bool:
        with self._lock:
            return self._jobs.pop(job_id, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()

    def all(self) -> list[IngestJob]:
        with self._lock:
            return list(self._jobs.values())


def error_cell(errors: list[dict[str, Any]]) -> str:
    """`sf__Error` of a failed row: `CODE:message:field,field --` for each error, as the service writes it."""
    return " ".join(f"{e['statusCode']}:{e['message']}:{','.join(e.get('fields') or [])} --" for e in errors)


def _table(job: IngestJob) -> tuple[list[str], list[list[str]]]:
    """The uploaded header and rows, parsed but not checked."""
    if not job.content or not job.content.strip():
        raise IngestError("InvalidBatch : No content found")
    try:
        text = job.content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise IngestError("InvalidBatch : Failed to parse CSV: the data is not UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[job.column_delimiter])
    try:
        table = [row for row in reader if row]
    except csv.Error as exc:
        raise IngestError(f"InvalidBatch : Failed to parse CSV: {exc}") from None
    return table[0], table[1:]


def abort(job: IngestJob) -> None:
    """Abort the job: nothing of it is processed, every uploaded row is reported unprocessed."""
    job.state = "Aborted"
    try:
        job.header, job.unprocessed = _table(job)
    except IngestError:
        job.header, job.unprocessed = [], []


def _rows(job: IngestJob) -> tuple[list[str], list[list[str]]]:
    header, rows = _table(job)
    for name in header:
        if job.obj.field(name) is None:
            raise IngestError(f"InvalidBatch : Field name not found : {name}")
    if job.operation in ("delete", "hardDelete") and [h.lower() for h in header] != ["id"]:
        raise IngestError("InvalidBatch : The 'delete' batch must contain only 'Id' column")
    if job.operation == "update" and "id" not in {h.lower() for h in header}:
        raise IngestError("InvalidBatch : Field name not found : Id")
    if job.operation == "upsert" and (job.external_id_field or "").lower() not in {h.lower() for h in header}:
        raise IngestError(f"InvalidBatch : Field name not found : {job.external_id_field}")
    return header, rows


def _payload(header: list[str], row: list[str]) -> dict[str, Any] | None:
    """The record of one CSV row: empty cells left out, `#N/A` as null; None when the row has the wrong width."""
    if len(row) != len(header):
        return None
    return {name: (None if cell == NULL_CELL else cell) for name, cell in zip(header, row, strict=True) if cell != ""}


def process(job: IngestJob, store: Store, duplicate_rule: bool) -> None:
    """Run the job against the store: fill its result sets and set its final state."""
    try:
        header, rows = _rows(job)
    except IngestError as exc:
        abort(job)
        job.state, job.error_message = "Failed", str(exc)
        return
    job.header = header
    for start in range(0, len(rows), CHUNK):
        _process_chunk(job, store, duplicate_rule, header, rows[start : start + CHUNK])
    job.state = "JobComplete"


def _process_chunk(
    job: IngestJob, store: Store, duplicate_rule: bool, header: list[str], rows: list[list[str]]
) -> None:
    payloads = [_payload(header, row) for row in rows]
    width_error = [record_error("INVALID_FIELD", "Incorrect number of columns in the row", [])]
    results: list[dict[str, Any] | None] = [None] * len(rows)
    for i, p in enumerate(payloads):
        if p is None:
            results[i] = {"success": False, "errors": width_error}
    good = [i for i, p in enumerate(payloads) if p is not None]
    id_key = next((h for h in header if h.lower() == "id"), None)
    obj = job.obj
    if job.operation == "insert":
        for i, r in zip(good, store.create(obj, [payloads[i] for i in good], False, duplicate_rule), strict=True):  # type: ignore[misc]
            results[i] = {**r, "created": True}
    elif job.operation == "update":
        items = [(payloads[i].pop(id_key, None), payloads[i]) for i in good]  # type: ignore[union-attr,arg-type]
        for i, r in zip(good, store.update(obj, items, check_duplicates=duplicate_rule), strict=True):
            results[i] = {**r, "created": False}
    elif job.operation == "upsert":
        _upsert(job, store, duplicate_rule, payloads, good, results)
    else:
        ids = [str(payloads[i].get(id_key, "")) for i in good]  # type: ignore[union-attr,arg-type]
        for i, r in zip(good, store.delete(obj, ids), strict=True):
            results[i] = {**r, "created": False}
    for row, result in zip(rows, results, strict=True):
        assert result is not None
        if result["success"]:
            job.successful.append([str(result.get("id") or ""), "true" if result["created"] else "false", *row])
        else:
            record_id = result.get("id") if job.operation != "insert" else ""
            job.failed.append([str(record_id or ""), error_cell(result["errors"]), *row])


def _upsert(
    job: IngestJob,
    store: Store,
    duplicate_rule: bool,
    payloads: list[dict[str, Any] | None],
    good: list[int],
    results: list[dict[str, Any] | None],
) -> None:
    """Upsert by the job's external id field: a new value creates, one match updates, more matches fail."""
    ext_field = job.obj.field(job.external_id_field or "")
    assert ext_field is not None
    ext = ext_field.name
    creates: list[int] = []
    updates: list[tuple[int, str]] = []
    seen: set[str] = set()
    for i in good:
        payload = payloads[i]
        assert payload is not None
        key = next((k for k in payload if k.lower() == ext.lower()), None)
        value = payload.get(key) if key else None
        if not value:
            results[i] = {"success": False, "errors": [record_error("MISSING_ARGUMENT", f"{ext} not specified", [])]}
            continue
        if str(value).lower() in seen:
            message = f"Duplicate external id specified: {value}"
            results[i] = {"success": False, "errors": [record_error("DUPLICATE_EXTERNAL_ID", message, [ext])]}
            continue
        seen.add(str(value).lower())
        found = store.find_by(job.obj, ext, str(value))
        if len(found) > 1:
            message = f"{ext}: more than one record found for external id field: {found}"
            results[i] = {"success": False, "errors": [record_error("DUPLICATE_EXTERNAL_ID", message, [ext])]}
        elif found:
            updates.append((i, found[0]))
        else:
            creates.append(i)
    if creates:
        created = store.create(job.obj, [payloads[i] for i in creates], False, duplicate_rule)  # type: ignore[misc]
        for i, r in zip(creates, created, strict=True):
            results[i] = {**r, "created": True}
    if updates:
        items = [(rid, dict(payloads[i] or {})) for i, rid in updates]
        for (i, _), r in zip(updates, store.update(job.obj, items, check_duplicates=duplicate_rule), strict=True):
            results[i] = {**r, "created": False}
