"""Reads and writes HubSpot contacts through the CRM v3 objects API (httpx), with the project's retry and error rules.

Reading:
- A first read (no watermark) lists every live contact, 100 a page.
- Later reads search on `lastmodifieddate >= watermark - overlap`, sorted ascending. One search query reaches at most
  10,000 results (paging past that is refused), so a query that fills it is narrowed: the next one starts at the last
  modify stamp it saw (records on that stamp are read twice and kept once). Only when more than 10,000 contacts share
  one millisecond does the read fall back to listing every contact.
- Deletes are not in a search: archived contacts are listed (`archived=true`) and those archived since the watermark
  are returned as deleted rows. A merge leaves the secondary id in the survivor's `hs_merged_object_ids`; each such id
  is returned as a deleted row with `merged_into` set.
- Rows are flat: the contact's properties plus `id`, `archived` and `archivedAt` (see `crms.hubspot.convert`).

Writing: batch create/update/archive, 100 a call, one outcome per record. A batch the service refuses as a whole
(HubSpot refuses a batch for one bad input) is retried record by record so only the bad one fails. A create whose
email another contact already has (HubSpot keeps emails unique, 409 CONFLICT "Existing ID: n") is no error: it is
reported `unconfirmed` with that contact's id, and the next run's read and matching decide whether it is the same
person (it is never linked blindly). Updates are guarded like the other CRMs': the live `lastmodifieddate` is read
first and a record changed since the snapshot is skipped as `changed_since_read`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx

from contact_sync.connectors.http import (
    CallCounter,
    ConnectorError,
    OutcomeUnknown,
    RateLimiter,
    RequestRejected,
    ResilientClient,
    RetryPolicy,
    tls_verify,
)
from contact_sync.connectors.oauth import TokenCache
from contact_sync.connectors.results import ReadResult, RecordOutcome, WriteReport
from contact_sync.connectors.stamps import format_stamp, parse_stamp
from contact_sync.crms.hubspot.settings import HubSpotSettings

CONTACTS: Final = "/crm/v3/objects/contacts"
COMPANIES: Final = "/crm/v3/objects/companies"
BATCH_SIZE: Final = 100
SEARCH_RESULT_CAP: Final = 10_000
CONTACT_PROPERTIES: Final = (
    "hs_object_id",
    "firstname",
    "lastname",
    "email",
    "phone",
    "mobilephone",
    "associatedcompanyid",
    "hubspotscore",
    "createdate",
    "lastmodifieddate",
    "hs_merged_object_ids",
)
STAMP: Final = "lastmodifieddate"
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")
_FUTURE_SLACK: Final = timedelta(hours=1)


class _PrivateAppToken:
    """A private app's token: the same every call (HubSpot issues no other)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self, *, refresh: bool = False) -> str:
        return self._token

    def __repr__(self) -> str:
        return "_PrivateAppToken('**********')"


def _chunks(items: Sequence[Any], size: int = BATCH_SIZE) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def flat_row(result: Any, properties_read: Sequence[str] = ()) -> Any:
    """One API result as a flat row: its properties (each of `properties_read`, None when absent) plus `id`,
    `archived`, `archivedAt`; anything that is not an object is passed on as it is, for the converter to reject."""
    if not isinstance(result, Mapping):
        return result
    properties = result.get("properties")
    row: dict[str, Any] = dict(properties) if isinstance(properties, Mapping) else {}
    row["id"] = result.get("id")
    row.setdefault("hs_object_id", result.get("id"))
    for name in properties_read:
        row.setdefault(name, None)  # HubSpot may leave out a property that has no value
    row["archived"] = result.get("archived", False)
    row["archivedAt"] = result.get("archivedAt")
    return row


class HubSpotConnector:
    """Reads and writes HubSpot contacts.

    - `overlap`: how far before the watermark an incremental search starts (search is eventually consistent: a
      record written just before a read may be indexed a few seconds later).
    - `search_cap`: the results one search query may page through (HubSpot: 10,000).
    - `properties`: the contact properties read (custom ones by internal name).
    - `rate_limit=False` turns the client-side limiters off (benchmarks on the simulator).
    """

    last_read_full = False
    """Archived contacts are listed on every incremental read, so no read needs a full re-read to find deletes."""
    write_batch_size = None
    """Batch endpoints of 100 records a call at every size: the pipeline's batches are right."""

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        overlap: timedelta = timedelta(minutes=5),
        search_cap: int = SEARCH_RESULT_CAP,
        properties: Sequence[str] = CONTACT_PROPERTIES,
        retry: RetryPolicy | None = None,
        rate_limit: bool = True,
        timeout: float = 60.0,
        sleep: Callable[[float], None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if search_cap < BATCH_SIZE:
            raise ValueError(f"search_cap must be at least {BATCH_SIZE}")
        self.settings = settings
        self.overlap = overlap
        self.search_cap = search_cap
        self.properties = list(dict.fromkeys([*properties, STAMP, "hs_object_id"]))
        self.counter = CallCounter()
        self._now = now
        policy = retry or RetryPolicy()
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.limiter = RateLimiter(settings.rate_limit_per_10s if rate_limit else None, window=10.0, **extra)
        self.search_limiter = RateLimiter(settings.search_rate_limit_per_s if rate_limit else None, window=1.0, **extra)
        self._http = httpx.Client(
            base_url=settings.api_url,
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json"},
            verify=tls_verify(settings.ca_bundle),
        )
        secrets = [*settings.secrets]
        if settings.uses_oauth:
            assert settings.refresh_token is not None and settings.client_secret is not None
            form = {
                "grant_type": "refresh_token",
                "client_id": settings.client_id or "",
                "client_secret": settings.client_secret.reveal(),
                "refresh_token": settings.refresh_token.reveal(),
            }
            tokens: Any = TokenCache(
                lambda: self._http.post("/oauth/v1/token", data=form),
                service="HubSpot",
                endpoint="POST /oauth/v1/token",
                default_lifetime=1800.0,
                counter=self.counter,
                policy=policy,
                secrets=secrets,
                **extra,
            )
        else:
            assert settings.access_token is not None
            tokens = _PrivateAppToken(settings.access_token.reveal())
        self._client = ResilientClient(
            self._http, policy=policy, limiter=self.limiter, counter=self.counter, tokens=tokens, secrets=secrets
        )
        if sleep is not None:
            self._client.sleep = sleep

    def __enter__(self) -> HubSpotConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HubSpotConnector(api_url={self.settings.api_url!r}, calls={self.counter.total})"

    @property
    def api_calls(self) -> dict[str, int]:
        return self.counter.as_dict()

    def close(self) -> None:
        self._client.close()

    # --- reads ----------------------------------------------------------------------------------------------------

    def read_contacts(self, watermark: str | None) -> ReadResult:
        """Contacts changed since the watermark (every live one when None), archived and merged ones as deleted
        rows, and the next watermark (the latest plausible modify stamp seen)."""
        before = self.counter.total
        since = parse_stamp(watermark) if watermark else None
        if since is None:
            rows = self._list(archived=False)
        else:
            start = since - self.overlap
            rows = self._search_since(start)
            rows += [r for r in self._list(archived=True) if _archived_since(r, start)]
        rows += _merged_rows(rows)
        return ReadResult(
            records=rows, watermark=self._next_watermark(watermark, rows), api_calls=self.counter.total - before
        )

    def has_changes(self, watermark: str | None) -> bool:
        """Whether a live contact was modified after `watermark`: one search for `lastmodifieddate` after it,
        `limit` 1. Archiving is not in a search (HubSpot's search holds live contacts only), so a delete alone waits
        for the next scheduled run."""
        since = parse_stamp(watermark) if watermark else None
        if since is None:
            return True
        self.search_limiter.acquire()
        body = self._client.post(
            f"{CONTACTS}/search",
            json={
                "filterGroups": [
                    {
                        "filters": [
                            {"propertyName": STAMP, "operator": "GT", "value": str(int(since.timestamp() * 1000))}
                        ]
                    }
                ],
                "properties": [STAMP],
                "limit": 1,
            },
        ).json()
        return bool(_results(body))

    def _list(self, *, archived: bool) -> list[Any]:
        rows: list[Any] = []
        params: dict[str, Any] = {
            "limit": BATCH_SIZE,
            "properties": ",".join(self.properties),
            "archived": "true" if archived else "false",
        }
        while True:
            body = self._client.get(CONTACTS, params=params).json()
            rows += [flat_row(r, self.properties) for r in _results(body)]
            after = _next_after(body)
            if after is None:
                return rows
            params["after"] = after

    def _search_since(self, start: datetime) -> list[Any]:
        """Every contact with `lastmodifieddate >= start`, through as many capped queries as it takes."""
        found: dict[Any, Any] = {}
        unnamed: list[Any] = []
        cursor = start
        while True:
            offset, last_stamp, complete = 0, None, False
            while offset < self.search_cap:
                self.search_limiter.acquire()
                body = self._client.post(
                    f"{CONTACTS}/search",
                    json={
                        "filterGroups": [
                            {
                                "filters": [
                                    {
                                        "propertyName": STAMP,
                                        "operator": "GTE",
                                        "value": str(int(cursor.timestamp() * 1000)),
                                    }
                                ]
                            }
                        ],
                        "sorts": [{"propertyName": STAMP, "direction": "ASCENDING"}],
                        "properties": self.properties,
                        "limit": BATCH_SIZE,
                        **({"after": str(offset)} if offset else {}),
                    },
                ).json()
                results = _results(body)
                for result in results:
                    row = flat_row(result, self.properties)
                    key = row.get("id") if isinstance(row, Mapping) else None
                    if isinstance(key, str):
                        found[key] = row
                    else:
                        unnamed.append(row)
                    stamp = parse_stamp(row.get(STAMP)) if isinstance(row, Mapping) else None
                    if stamp is not None and (last_stamp is None or stamp > last_stamp):
                        last_stamp = stamp
                offset += len(results)
                if not results or _next_after(body) is None:
                    complete = True
                    break
            if complete:
                return [*found.values(), *unnamed]
            if last_stamp is None or last_stamp <= cursor:
                # More contacts than one query may page through share a single millisecond: read them all.
                return self._list(archived=False)
            cursor = last_stamp

    def _next_watermark(self, watermark: str | None, rows: Sequence[Any]) -> str | None:
        latest = parse_stamp(watermark) if watermark else None
        horizon = self._now() + _FUTURE_SLACK  # a stamp from the future must not make later reads skip changes
        for row in rows:
            if isinstance(row, Mapping) and row.get("archived") is not True:
                stamp = parse_stamp(row.get(STAMP))
                if stamp is not None and stamp <= horizon and (latest is None or stamp > latest):
                    latest = stamp
        return format_stamp(latest) if latest is not None else watermark

    def read_accounts(self, ids: Sequence[str]) -> dict[str, str]:
        """Company names by id (ids that are not HubSpot ids are left out)."""
        wanted = sorted({i for i in ids if isinstance(i, str) and i.isdigit()})
        names: dict[str, str] = {}
        for chunk in _chunks(wanted):
            body = self._client.post(
                f"{COMPANIES}/batch/read",
                json={"inputs": [{"id": i} for i in chunk], "properties": ["name"]},
            ).json()
            for result in _results(body):
                row = flat_row(result)
                if isinstance(row, Mapping) and isinstance(row.get("id"), str) and isinstance(row.get("name"), str):
                    names[row["id"]] = row["name"]
        return names

    # --- writes ---------------------------------------------------------------------------------------------------

    def create_contacts(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> WriteReport:
        """Create contacts from (caller key, properties); see the module docstring for emails that exist."""
        before = self.counter.total
        report = WriteReport()
        for chunk in _chunks(list(items)):
            inputs = [{"properties": dict(props), "objectWriteTraceId": key} for key, props in chunk]
            try:
                body = self._client.post(f"{CONTACTS}/batch/create", json={"inputs": inputs}, idempotent=False).json()
            except OutcomeUnknown as exc:
                for key, _ in chunk:
                    report.add(RecordOutcome(key, "unconfirmed", message=f"answer lost: {exc.message}"))
                continue
            except RequestRejected:
                for key, props in chunk:
                    report.add(self._create_one(key, props))
                continue
            made, refused = _by_trace_id(body), _refused_by_trace_id(body)
            for key, props in chunk:
                if key in made:
                    report.add(RecordOutcome(key, "created", record_id=made[key], fields=dict(props)))
                elif key in refused:
                    report.add(_refused_create(key, *refused[key]))
                else:
                    report.add(RecordOutcome(key, "unconfirmed", message="not in the batch answer"))
        report.api_calls = self.counter.total - before
        return report

    def _create_one(self, key: str, props: Mapping[str, Any]) -> RecordOutcome:
        try:
            body = self._client.post(CONTACTS, json={"properties": dict(props)}, idempotent=False).json()
        except OutcomeUnknown as exc:
            return RecordOutcome(key, "unconfirmed", message=f"answer lost: {exc.message}")
        except RequestRejected as exc:
            return _refused_create(key, "CONFLICT" if exc.status == 409 else str(exc.status), exc.message)
        record_id = body.get("id") if isinstance(body, Mapping) else None
        if not isinstance(record_id, str):
            return RecordOutcome(key, "unconfirmed", message="the answer names no id")
        return RecordOutcome(key, "created", record_id=record_id, fields=dict(props))

    def update_contacts(self, changes: Mapping[str, Mapping[str, Any]], stamps: Mapping[str, str]) -> WriteReport:
        """Update contacts by id, skipping (`changed_since_read`) those modified since their snapshot stamp."""
        before = self.counter.total
        report = WriteReport()
        for chunk in _chunks(sorted(changes)):
            live = self._live_stamps(chunk)
            ready: list[str] = []
            for crm_id in chunk:
                if crm_id not in live:
                    report.add(RecordOutcome(crm_id, "failed", message="no such live contact (deleted since read?)"))
                elif stamps.get(crm_id) and not _same_instant(live[crm_id], stamps[crm_id]):
                    report.add(RecordOutcome(crm_id, "changed_since_read", message=f"modified at {live[crm_id]}"))
                else:
                    ready.append(crm_id)
            if ready:
                self._update_batch(ready, changes, report)
        report.api_calls = self.counter.total - before
        return report

    def _live_stamps(self, ids: Sequence[str]) -> dict[str, str]:
        wanted = [i for i in ids if i.isdigit()]
        if not wanted:
            return {}
        body = self._client.post(
            f"{CONTACTS}/batch/read", json={"inputs": [{"id": i} for i in wanted], "properties": [STAMP]}
        ).json()
        live: dict[str, str] = {}
        for result in _results(body):
            row = flat_row(result)
            if isinstance(row, Mapping) and isinstance(row.get("id"), str) and row.get("archived") is not True:
                live[row["id"]] = str(row.get(STAMP) or "")
        return live

    def _update_batch(self, ids: Sequence[str], changes: Mapping[str, Mapping[str, Any]], report: WriteReport) -> None:
        inputs = [{"id": i, "properties": dict(changes[i])} for i in ids]
        try:
            response = self._client.post(f"{CONTACTS}/batch/update", json={"inputs": inputs})
        except RequestRejected:
            for crm_id in ids:
                report.add(self._update_one(crm_id, changes[crm_id]))
            return
        failed = _failed_ids(response.json()) if response.status_code == 207 else {}
        for crm_id in ids:
            if crm_id in failed:
                report.add(RecordOutcome(crm_id, "failed", message=failed[crm_id]))
            else:
                report.add(RecordOutcome(crm_id, "updated", record_id=crm_id, fields=dict(changes[crm_id])))

    def _update_one(self, crm_id: str, props: Mapping[str, Any]) -> RecordOutcome:
        try:
            self._client.request("PATCH", f"{CONTACTS}/{crm_id}", json={"properties": dict(props)})
        except RequestRejected as exc:
            return RecordOutcome(crm_id, "failed", message=f"{exc.status}: {exc.message}")
        return RecordOutcome(crm_id, "updated", record_id=crm_id, fields=dict(props))

    def delete_contacts(self, ids: Sequence[str]) -> WriteReport:
        """Archive contacts (HubSpot's delete; restorable from the recycle bin for 90 days)."""
        before = self.counter.total
        report = WriteReport()
        for chunk in _chunks(list(ids)):
            wanted = [i for i in chunk if isinstance(i, str) and i.isdigit()]
            for crm_id in chunk:
                if crm_id not in wanted:
                    report.add(RecordOutcome(str(crm_id), "failed", message="not a HubSpot record id"))
            if not wanted:
                continue
            try:
                self._client.post(f"{CONTACTS}/batch/archive", json={"inputs": [{"id": i} for i in wanted]})
            except ConnectorError as exc:
                for crm_id in wanted:
                    report.add(RecordOutcome(crm_id, "failed", message=exc.message))
                continue
            for crm_id in wanted:
                report.add(RecordOutcome(crm_id, "deleted", record_id=crm_id))
        report.api_calls = self.counter.total - before
        return report


def _results(body: Any) -> list[Any]:
    results = body.get("results") if isinstance(body, Mapping) else None
    return results if isinstance(results, list) else []


def _next_after(body: Any) -> str | None:
    paging = body.get("paging") if isinstance(body, Mapping) else None
    after = paging.get("next", {}).get("after") if isinstance(paging, Mapping) else None
    return str(after) if isinstance(after, str | int) and str(after) else None


def _by_trace_id(body: Any) -> dict[str, str]:
    made: dict[str, str] = {}
    for result in _results(body):
        if isinstance(result, Mapping) and isinstance(result.get("id"), str):
            trace = result.get("objectWriteTraceId")
            if isinstance(trace, str):
                made[trace] = result["id"]
    return made


def _refused_by_trace_id(body: Any) -> dict[str, tuple[str, str]]:
    """objectWriteTraceId -> (category, message) for the inputs a multi-status batch create refused."""
    refused: dict[str, tuple[str, str]] = {}
    errors = body.get("errors") if isinstance(body, Mapping) else None
    for error in errors if isinstance(errors, list) else []:
        context = error.get("context") if isinstance(error, Mapping) else None
        traces = context.get("objectWriteTraceId") if isinstance(context, Mapping) else None
        for trace in traces if isinstance(traces, list) else []:
            refused[str(trace)] = (str(error.get("category") or ""), str(error.get("message") or "refused"))
    return refused


def _refused_create(key: str, category: str, message: str) -> RecordOutcome:
    """A create HubSpot refused: one whose email (or other unique value) a contact already has is left to matching
    as `unconfirmed` with that contact's id (never linked blindly); any other refusal fails the record."""
    existing = _EXISTING_ID.search(message) if category == "CONFLICT" else None
    if existing:
        return RecordOutcome(
            key,
            "unconfirmed",
            record_id=existing.group(1),
            message=f"HubSpot contact {existing.group(1)} already has this email: left to matching",
        )
    return RecordOutcome(key, "failed", message=f"{category}: {message}" if category else message)


def _failed_ids(body: Any) -> dict[str, str]:
    """Record id -> message for the errors of a multi-status (207) answer."""
    failed: dict[str, str] = {}
    errors = body.get("errors") if isinstance(body, Mapping) else None
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, Mapping):
            continue
        context = error.get("context")
        ids = context.get("ids") if isinstance(context, Mapping) else None
        for crm_id in ids if isinstance(ids, list) else []:
            failed[str(crm_id)] = str(error.get("message") or error.get("category") or "failed")
    return failed


def _same_instant(a: str, b: str) -> bool:
    pa, pb = parse_stamp(a), parse_stamp(b)
    return pa == pb if pa is not None and pb is not None else a == b


def _archived_since(row: Any, start: datetime) -> bool:
    """Whether an archived row was archived at or after `start` (an unreadable time counts: a delete must get
    through, and seeing one twice is harmless)."""
    if not isinstance(row, Mapping):
        return True
    stamp = parse_stamp(row.get("archivedAt"))
    return stamp is None or stamp >= start


def _merged_rows(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """A deleted row per id a live contact absorbed in a merge (`hs_merged_object_ids`, ids separated by `;`)."""
    merged: list[dict[str, Any]] = []
    for row in rows:
        if not isinstance(row, Mapping) or row.get("archived") is True:
            continue
        ids = row.get("hs_merged_object_ids")
        if not isinstance(ids, str) or not isinstance(row.get("id"), str):
            continue
        for merged_id in (part.strip() for part in ids.split(";")):
            if merged_id.isdigit() and merged_id != row["id"]:
                merged.append(
                    {
                        "id": merged_id,
                        "hs_object_id": merged_id,
                        "archived": True,
                        "archivedAt": row.get(STAMP),
                        STAMP: row.get(STAMP),
                        "merged_into": row["id"],
                    }
                )
    return merged
