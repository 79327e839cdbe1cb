"""External contact exports (`/api/v2/externalcontacts/contacts/exports`): an asynchronous job that selects contacts by
`queryConditions` and serves them as one file, in the shapes of the official SDK's models (`ContactsExport`,
`ContactsExportQueryConditions`, `ContactsExportFilter` and its field filters, `ContactsExportListing`).

A job selects its contacts when it is created (a point-in-time copy) and reports `RUNNING` until `delay_s` of the
simulator's clock has passed, then `SUCCEEDED` with `downloadUrl` and `resultRowCount`, or `FAILED` when a fault rule
of kind `failed` matched its creation. Jobs live in memory (a restarted simulator forgets them).

Not documented publicly, so chosen here (unconfirmed): the file is JSON lines of ExternalContact objects as the API
returns them, gzipped (`file_format="jsonl.gz"`, `Content-Type: application/gzip`) or plain (`"jsonl"`); the download
is served by the simulator at `<exportId>/download` and needs the same bearer token; `ContactClassification` compares
with the contact's `type`; a filter object must hold exactly one operator; the listing is oldest first, paged with
`after` (the last export id of the previous page) and `pageSize` (1..100, default 25).
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import orjson

from contact_sync.simulators.genesys.errors import ApiError

EXPORTS_PATH: Final = "/api/v2/externalcontacts/contacts/exports"
FILE_FORMATS: Final = ("jsonl.gz", "jsonl")
FIELD_PATHS: Final[dict[str, Callable[[dict[str, Any]], set[str]]]] = {
    "DivisionId": lambda c: _ids(c.get("division")),
    "ExternalOrganizationId": lambda c: _ids(c.get("externalOrganization")),
    "ExternalSourceId": lambda c: {
        str(link["externalSource"]["id"])
        for link in c.get("externalIds") or []
        if isinstance(link, dict) and isinstance(link.get("externalSource"), dict) and link["externalSource"].get("id")
    },
    "ContactClassification": lambda c: {str(c["type"])} if c.get("type") else set(),
    "SchemaId": lambda c: _ids(c.get("schema")),
    "SchemaVersion": lambda c: (
        {str(c["schema"]["version"])}
        if isinstance(c.get("schema"), dict) and c["schema"].get("version") is not None
        else set()
    ),
}
DATE_FIELDS: Final = {"CreateDate": "createDate", "ModifyDate": "modifyDate"}
OPERATORS: Final = ("eq", "in", "lte", "gte", "and", "or", "not")


def _ids(ref: Any) -> set[str]:
    return {str(ref["id"])} if isinstance(ref, dict) and ref.get("id") else set()


def _bad(message: str) -> ApiError:
    return ApiError(400, "bad.request", message)


def _parse_time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise _bad(f"{where}.value must be an ISO-8601 date-time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"{where}.value must be an ISO-8601 date-time, got {value!r}") from None
    if moment.tzinfo is None:
        raise _bad(f"{where}.value must carry a time zone, got {value!r}")
    return moment


Predicate = Callable[[dict[str, Any]], bool]


def compile_filter(node: Any, where: str = "queryConditions.filters") -> Predicate:
    """A predicate over stored contacts from a ContactsExportFilter; 400 for anything the model does not allow."""
    if not isinstance(node, dict) or len(node) != 1:
        raise _bad(f"{where} must be an object with exactly one of {', '.join(OPERATORS)}")
    ((operator, operand),) = node.items()
    here = f"{where}.{operator}"
    if operator in ("and", "or"):
        if not isinstance(operand, list) or not operand:
            raise _bad(f"{here} must be a non-empty list of filters")
        parts = [compile_filter(item, f"{here}[{i}]") for i, item in enumerate(operand)]
        if operator == "and":
            return lambda c: all(p(c) for p in parts)
        return lambda c: any(p(c) for p in parts)
    if operator == "not":
        inner = compile_filter(operand, here)
        return lambda c: not inner(c)
    if not isinstance(operand, dict):
        raise _bad(f"{here} must be an object")
    name = operand.get("field")
    if operator in ("lte", "gte"):
        if name not in DATE_FIELDS:
            raise _bad(f"{here}.field must be one of {', '.join(DATE_FIELDS)}, got {name!r}")
        bound, key = _parse_time(operand.get("value"), here), DATE_FIELDS[name]

        def compare(contact: dict[str, Any]) -> bool:
            stamp = contact.get(key)
            if not isinstance(stamp, str):
                return False
            moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            return moment >= bound if operator == "gte" else moment <= bound

        return compare
    if operator not in ("eq", "in"):
        raise _bad(f"{where}: unknown operator {operator!r}; expected one of {', '.join(OPERATORS)}")
    if name not in FIELD_PATHS:
        raise _bad(f"{here}.field must be one of {', '.join(FIELD_PATHS)}, got {name!r}")
    values_of = FIELD_PATHS[name]
    if operator == "eq":
        value = operand.get("value")
        if not isinstance(value, str):
            raise _bad(f"{here}.value must be a string")
        return lambda c: value in values_of(c)
    wanted = operand.get("values")
    if not isinstance(wanted, list) or not all(isinstance(v, str) for v in wanted):
        raise _bad(f"{here}.values must be a list of strings")
    chosen = set(wanted)
    return lambda c: bool(values_of(c) & chosen)


@dataclass
class ExportJob:
    id: str
    created: datetime
    query_conditions: dict[str, Any]
    division_ids: list[str]
    created_by: str
    rows: list[bytes] = field(default_factory=list)
    failed: bool = False


class Exports:
    """The export jobs of one simulator."""

    def __init__(self, clock: Callable[[], datetime], iso: Callable[[datetime], str], home_division: str) -> None:
        self.clock = clock
        self.iso = iso
        self.home_division = home_division
        self.delay_s = 1.0
        self.file_format = "jsonl.gz"
        self._jobs: dict[str, ExportJob] = {}

    def reset(self) -> None:
        self._jobs.clear()

    def create(self, body: Any, contacts: Iterable[bytes], created_by: str, fails: bool) -> ExportJob:
        """A new job over `contacts` (stored ExternalContact JSON, in id order)."""
        if not isinstance(body, dict):
            raise _bad("The request body must be a ContactsExport object")
        conditions = body.get("queryConditions")
        if conditions is None:
            conditions = {}
        if not isinstance(conditions, dict):
            raise _bad("queryConditions must be an object")
        unknown = set(conditions) - {"filters", "limit"}
        if unknown:
            raise _bad(f"queryConditions has unknown fields: {', '.join(sorted(unknown))}")
        limit = conditions.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise _bad("queryConditions.limit must be a positive integer")
        keep = compile_filter(conditions["filters"]) if conditions.get("filters") is not None else None
        divisions = body.get("divisionIds")
        if divisions is not None and (
            not isinstance(divisions, list) or not all(isinstance(d, str) for d in divisions)
        ):
            raise _bad("divisionIds must be a list of strings")
        rows: list[bytes] = []
        for raw in contacts:
            if limit is not None and len(rows) >= limit:
                break
            if keep is None or keep(orjson.loads(raw)):
                rows.append(raw)
        job = ExportJob(
            id=str(uuid.uuid4()),
            created=self.clock(),
            query_conditions=conditions,
            division_ids=list(divisions) if divisions else [self.home_division],
            created_by=created_by,
            rows=rows,
            failed=fails,
        )
        self._jobs[job.id] = job
        return job

    def get(self, export_id: str) -> ExportJob:
        job = self._jobs.get(export_id)
        if job is None:
            raise ApiError(404, "not.found", f"Unable to find export with id {export_id}")
        return job

    def status(self, job: ExportJob) -> str:
        if self.clock() < job.created + timedelta(seconds=self.delay_s):
            return "RUNNING"
        return "FAILED" if job.failed else "SUCCEEDED"

    def render(self, job: ExportJob, base_url: str) -> dict[str, Any]:
        """The job as a ContactsExport."""
        status = self.status(job)
        out: dict[str, Any] = {
            "id": job.id,
            "divisionIds": job.division_ids,
            "createdBy": {"id": job.created_by, "selfUri": f"/api/v2/oauth/clients/{job.created_by}"},
            "dateCreated": self.iso(job.created),
            "status": status,
            "queryConditions": job.query_conditions,
            "selfUri": f"{EXPORTS_PATH}/{job.id}",
        }
        if status != "RUNNING":
            out["dateCompletion"] = self.iso(job.created + timedelta(seconds=self.delay_s))
        if status == "SUCCEEDED":
            out["downloadUrl"] = f"{base_url}{EXPORTS_PATH}/{job.id}/download"
            out["resultRowCount"] = len(job.rows)
        return out

    def listing(self, base_url: str, after: str | None, page_size: int) -> dict[str, Any]:
        """One page of every job, oldest first, as a ContactsExportListing."""
        if not 1 <= page_size <= 100:
            raise _bad("pageSize must be between 1 and 100")
        jobs = list(self._jobs.values())
        start = 0
        if after:
            ids = [j.id for j in jobs]
            if after not in ids:
                raise _bad("after is not a valid cursor")
            start = ids.index(after) + 1
        page = jobs[start : start + page_size]
        out: dict[str, Any] = {
            "entities": [self.render(j, base_url) for j in page],
            "selfUri": f"{EXPORTS_PATH}?pageSize={page_size}" + (f"&after={after}" if after else ""),
        }
        if start + page_size < len(jobs) and page:
            out["nextUri"] = f"{EXPORTS_PATH}?pageSize={page_size}&after={page[-1].id}"
        return out

    def download(self, job: ExportJob) -> tuple[bytes, str]:
        """The file of a finished job and its media type; 400 while it runs or when it failed."""
        status = self.status(job)
        if status != "SUCCEEDED":
            raise _bad(f"Export {job.id} has no file: it is {status}")
        text = b"".join(row + b"\n" for row in job.rows)
        if self.file_format == "jsonl.gz":
            return gzip.compress(text), "application/gzip"
        return text, "application/x-ndjson"
