"""The Dynamics 365 (Dataverse Web API) connector on httpx: incremental contact reads through change tracking (or
`modifiedon` when change tracking is off), account names, and contact creates, updates and deletes.

- Auth: OAuth client credentials against the Microsoft identity endpoint (`DYNAMICS_TOKEN_URL`), a form body with the
  `{org}/.default` scope; the token is cached until shortly before it expires and renewed once on a 401.
- Reads: `Prefer: odata.track-changes` reads every contact once and ends with an `@odata.deltaLink`; its
  `$deltatoken` (with the latest `modifiedon` read) is the watermark. Following it returns the rows changed since and
  `$deletedEntity` rows for deletes (-> `ReadResult.deleted_ids`). When the table's change tracking is off the read
  falls back to `modifiedon ge <watermark - overlap>` ordered by `modifiedon` (hard deletes are then not seen; rows
  made inactive, `statecode` 1, still are). An expired delta token (7 days by default) means one full re-read:
  `last_read_full` is then True and a record missing from that read was deleted in the meantime.
- Writes: one request per record (creates with a client-chosen `contactid`, so a create whose answer was lost is
  checked and never applied twice); updates with `If-Match: <etag of the snapshot>` so an edit made since the
  snapshot is never overwritten (412 -> "changed_since_read").
- Every call goes through `connectors.http` (client-side rate limit, retries, 429 `Retry-After`, per-endpoint counts,
  typed errors with secrets redacted).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx

from contact_sync.connectors.http import (
    AuthError,
    CallCounter,
    ConnectorError,
    OutcomeUnknown,
    RateLimiter,
    RequestRejected,
    ResilientClient,
    RetriesExhausted,
    RetryPolicy,
    tls_verify,
)
from contact_sync.connectors.oauth import TokenCache
from contact_sync.connectors.results import ReadResult, RecordOutcome, WriteReport
from contact_sync.crms.dynamics.batch import (
    MAX_BATCH_REQUESTS,
    BatchAnswerError,
    BatchRequest,
    PartAnswer,
    batch_body,
    parse_batch_answer,
)
from contact_sync.crms.dynamics.odata import (
    API_PATH,
    CONTACT_COLUMNS,
    DUPLICATE_KEY,
    DynamicsWatermark,
    check_columns,
    deltatoken_of,
    entity_id,
    error_code,
    format_datetime,
    ids_filter,
    is_delta_expired,
    is_guid,
    is_tracking_refused,
    latest_modifiedon,
    modified_since_filter,
    overlap_start,
    prefer,
    written_matches,
)
from contact_sync.crms.dynamics.settings import DynamicsSettings

__all__ = ["DynamicsConnector", "DynamicsWatermark"]

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 5000
ACCOUNT_CHUNK = 50  # ids per `accountid eq ... or ...` filter: keeps the URL far below the service's limit
# Default client-side pace: Dataverse allows 6000 requests per 300 s sliding window per user (1200 a minute).
DEFAULT_RATE_LIMIT_PER_MINUTE = 1200
# A create or update whose outcome was unknown is checked and sent again at most this many times.
MAX_RESENDS = 2
CREATE_MULTIPLE_SIZE = 100
UPDATE_BATCH_SIZE = 100  # updates a $batch (the service takes up to 1000; 100 keeps one batch well under its timeout)
MAX_CREATE_MULTIPLE = 1000
CONTACT_TYPE = "Microsoft.Dynamics.CRM.contact"
MAX_WORKERS = 32
TOKEN_ENDPOINT = "POST /oauth2/v2.0/token"

Row = dict[str, Any]


class DynamicsConnector:
    """Reads and writes Dynamics 365 contacts through one httpx client (see the module docstring).

    - `page_size`: `Prefer: odata.maxpagesize` of reads (1..5000).
    - `overlap`: how far before the watermark a `modifiedon` read starts (late commits, clock skew).
    - `columns`: the contact columns read (`$select`); `contactid` and `modifiedon` are always added.
    - `rate_limit_per_minute`: the client-side pace (None: off); below the service protection limit by default.
    - `workers`: how many record writes are in flight at once (the service allows 52 concurrent requests per user).
    - `clock` and `sleep` time the token and the limiter and wait between retries (tests pass fakes).
    """

    write_batch_size = None
    """CreateMultiple and $batch pay off at every size (100 a call): the pipeline's batches are right."""

    def __init__(
        self,
        settings: DynamicsSettings,
        *,
        page_size: int = MAX_PAGE_SIZE,
        overlap: timedelta = timedelta(minutes=5),
        columns: Sequence[str] = CONTACT_COLUMNS,
        retry: RetryPolicy | None = None,
        rate_limit_per_minute: int | None = DEFAULT_RATE_LIMIT_PER_MINUTE,
        workers: int = 4,
        create_batch_size: int = CREATE_MULTIPLE_SIZE,
        update_batch_size: int = UPDATE_BATCH_SIZE,
        timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        if overlap < timedelta(0):
            raise ValueError("overlap must not be negative")
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be between 1 and {MAX_WORKERS}, got {workers}")
        self.workers = workers
        if not 0 <= create_batch_size <= MAX_CREATE_MULTIPLE:
            raise ValueError(f"create_batch_size must be between 0 and {MAX_CREATE_MULTIPLE}, got {create_batch_size}")
        self.create_batch_size = create_batch_size
        if not 0 <= update_batch_size <= MAX_BATCH_REQUESTS:
            raise ValueError(f"update_batch_size must be between 0 and {MAX_BATCH_REQUESTS}, got {update_batch_size}")
        self.update_batch_size = update_batch_size
        self.batch_offered: bool | None = None  # None: not tried yet
        self.create_multiple_offered: bool | None = None  # None: not tried yet
        self.settings = settings
        self.page_size = page_size
        self.overlap = overlap
        self.columns = check_columns(columns)
        self.counter = CallCounter()
        self.limiter = RateLimiter(rate_limit_per_minute, clock=clock, sleep=sleep)
        self.last_read_full = False
        self.last_read_mode: str | None = None
        self._api = settings.url + API_PATH
        policy = retry or RetryPolicy()
        verify = tls_verify(settings.ca_bundle)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"},
            verify=verify,
        )
        # The identity endpoint is another host in production (login.microsoftonline.com): its own client.
        self._login_http = httpx.Client(
            timeout=httpx.Timeout(timeout), headers={"Accept": "application/json"}, verify=verify
        )
        self._tokens = TokenCache(
            lambda: self._login_http.post(
                settings.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": settings.client_id,
                    "client_secret": settings.client_secret.reveal(),
                    "scope": settings.scope,
                },
            ),
            service="Dynamics",
            endpoint=TOKEN_ENDPOINT,
            default_lifetime=3599,
            counter=self.counter,
            policy=policy,
            secrets=settings.secrets,
            clock=clock,
            sleep=sleep,
        )
        self._client = ResilientClient(
            self._http,
            policy=policy,
            limiter=self.limiter,
            counter=self.counter,
            tokens=self._tokens,
            secrets=[*settings.secrets],
            sleep=sleep,
        )

    # --- lifecycle ---------------------------------------------------------------------------------------------------

    @property
    def api_calls(self) -> dict[str, int]:
        """Calls made so far, per endpoint (`METHOD /route({id})`), every attempt counted (token requests too)."""
        return self.counter.as_dict()

    @property
    def tokens_issued(self) -> int:
        return self._tokens.issued

    def close(self) -> None:
        self._http.close()
        self._login_http.close()

    def __enter__(self) -> DynamicsConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"DynamicsConnector(url={self.settings.url!r}, client_id={self.settings.client_id!r}, "
            f"page_size={self.page_size}, calls={self.counter.total})"
        )

    def _request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = True,
        content: bytes | None = None,
    ) -> httpx.Response:
        # Absolute URLs throughout, so a first page and its nextLinks are counted as the same endpoint.
        if url.startswith("/"):
            url = self._api + url
        return self._client.request(
            method, url, json=json, params=params, headers=headers, idempotent=idempotent, content=content
        )

    # --- reads -------------------------------------------------------------------------------------------------------

    def read_contacts(self, watermark: str | None) -> ReadResult:
        """Contacts changed since `watermark` (every contact when None), with deletes, and the next watermark.

        Records are Web API rows (`@odata.etag` included: the ETag a later update sends as `If-Match`), one per
        `contactid` (the last copy seen); `$deletedEntity` rows of a delta are kept in `records` as the service sent
        them and their ids listed in `deleted_ids`. If the read fails part-way an error is raised and the caller's
        watermark stays where it was. `last_read_mode` says how it read: "full" (change tracking, initial read),
        "delta", or "modifiedon".
        """
        mark = DynamicsWatermark.parse(watermark)
        before = self.counter.total
        self.last_read_full = False
        rows: list[Row]
        token: str | None = None
        try:
            if mark.deltatoken is not None:
                try:
                    rows, token = self._read_delta(mark.deltatoken)
                    self.last_read_mode = "delta"
                except RequestRejected as exc:
                    if not is_delta_expired(exc.body, exc.message):
                        raise
                    log.warning("Dynamics delta token expired (%s); reading every contact again", exc.message)
                    rows, token = self._read_tracked()
            else:
                rows, token = self._read_tracked()
        except RequestRejected as exc:
            if not is_tracking_refused(exc.body, exc.message):
                raise
            log.warning("Dynamics change tracking is off for contacts (%s); reading by modifiedon", exc.message)
            rows, token = self._read_modified(mark), None
        latest: dict[str, Row] = {}
        deleted: dict[str, None] = {}
        unreadable: list[Row] = []  # no usable id: passed on for the converter to reject and report
        for row in rows:
            record_id = _row_id(row)
            if record_id is None:
                unreadable.append(row)
                continue
            latest.pop(record_id, None)
            latest[record_id] = row
            if _is_deleted_entity(row):
                deleted[record_id] = None
            else:
                deleted.pop(record_id, None)
        records = [*latest.values(), *unreadable]
        next_mark = DynamicsWatermark(deltatoken=token, modifiedon=latest_modifiedon(records, mark.modifiedon))
        return ReadResult(
            records=records,
            watermark=next_mark.encode(),
            api_calls=self.counter.total - before,
            deleted_ids=list(deleted),
        )

    def has_changes(self, watermark: str | None) -> bool:
        """Whether a contact changed or was deleted after `watermark`, in one call: its delta token followed for one
        row (a Dataverse delta token stays valid after use, and the new one is not kept), or, with change tracking
        off, one row with `modifiedon` after it. An expired token is a change: the next run reads everything."""
        mark = DynamicsWatermark.parse(watermark)
        select = {"$select": "contactid"}
        if mark.deltatoken is not None:
            try:
                body = self._request(
                    "GET",
                    "/contacts",
                    params={**select, "$deltatoken": mark.deltatoken},
                    headers={"Prefer": prefer(1, track_changes=True)},
                ).json()
            except RequestRejected as exc:
                if is_delta_expired(exc.body, exc.message):
                    return True
                if not is_tracking_refused(exc.body, exc.message):
                    raise
            else:
                return bool(body.get("value"))
        if mark.modifiedon is None:
            return True
        params = {**select, "$filter": f"modifiedon gt {format_datetime(mark.modifiedon)}"}
        return bool(self._request("GET", "/contacts", params=params, headers={"Prefer": prefer(1)}).json().get("value"))

    def _read_tracked(self) -> tuple[list[Row], str]:
        """The initial change-tracking read: every contact, then the delta token."""
        rows, token = self._pages(
            "/contacts", {"$select": ",".join(self.columns)}, prefer(self.page_size, track_changes=True)
        )
        if token is None:
            raise ConnectorError("Dynamics answered a change-tracking read without an @odata.deltaLink")
        self.last_read_full = True
        self.last_read_mode = "full"
        return rows, token

    def _read_delta(self, deltatoken: str) -> tuple[list[Row], str]:
        params = {"$select": ",".join(self.columns), "$deltatoken": deltatoken}
        rows, token = self._pages("/contacts", params, prefer(self.page_size, track_changes=True))
        if token is None:
            raise ConnectorError("Dynamics answered a delta read without a new @odata.deltaLink")
        return rows, token

    def _read_modified(self, mark: DynamicsWatermark) -> list[Row]:
        params = {"$select": ",".join(self.columns), "$orderby": "modifiedon asc,contactid asc"}
        start = overlap_start(mark.modifiedon, self.overlap)
        if start is not None:
            params["$filter"] = modified_since_filter(start)
        rows, _ = self._pages("/contacts", params, prefer(self.page_size))
        self.last_read_mode = "modifiedon"
        return rows

    def _pages(self, path: str, params: Mapping[str, str], prefer_header: str) -> tuple[list[Row], str | None]:
        """Every row of a read, following `@odata.nextLink` to the end; (rows, the final delta token or None).

        A failed page is retried with the same link (its `$skiptoken` is stable), so none is skipped or read twice.
        """
        rows: list[Row] = []
        url: str = path
        query: Mapping[str, str] | None = params
        seen: set[str] = set()
        headers = {"Prefer": prefer_header}
        while True:
            body = self._request("GET", url, params=query, headers=headers).json()
            rows.extend(body.get("value") or [])
            next_link = body.get("@odata.nextLink")
            if next_link:
                if next_link in seen:
                    raise ConnectorError(f"Dynamics returned the same @odata.nextLink twice: {next_link[:200]}")
                seen.add(next_link)
                url, query = next_link, None
                continue
            delta_link = body.get("@odata.deltaLink")
            return rows, deltatoken_of(delta_link) if delta_link else None

    def read_accounts(self, ids: Sequence[str]) -> dict[str, str]:
        """Account names by id for the given account ids (unknown ids are left out); `accountid eq` filters, 50 ids
        a call. Raises ValueError for an id that is not a GUID."""
        wanted = sorted({i.lower() for i in ids if i})
        bad = [i for i in wanted if not is_guid(i)]
        if bad:
            raise ValueError(f"not Dynamics record ids (GUIDs): {', '.join(map(repr, bad[:5]))}")
        names: dict[str, str] = {}
        for start in range(0, len(wanted), ACCOUNT_CHUNK):
            chunk = wanted[start : start + ACCOUNT_CHUNK]
            params = {"$select": "accountid,name", "$filter": ids_filter("accountid", chunk)}
            rows, _ = self._pages("/accounts", params, prefer(MAX_PAGE_SIZE))
            for row in rows:
                if row.get("accountid"):
                    names[str(row["accountid"]).lower()] = row.get("name") or ""
        return names

    def get_contact(self, contact_id: str) -> Row | None:
        """One contact (the read columns and `@odata.etag`), or None when it does not exist."""
        if not is_guid(contact_id):
            raise ValueError(f"not a Dynamics record id (GUID): {contact_id!r}")
        try:
            return self._request(
                "GET", f"/contacts({contact_id.lower()})", params={"$select": ",".join(self.columns)}
            ).json()
        except RequestRejected as exc:
            if exc.status == 404:
                return None
            raise

    # --- writes ------------------------------------------------------------------------------------------------------

    def create_contacts(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> WriteReport:
        """Create contacts from (caller key, columns); each outcome carries the key and the new `contactid`.

        Each record gets a `contactid` chosen here (unless the columns give one): when a create's answer is lost
        (timeout, dropped connection, 500), the record is looked up by that id and sent again only if absent, and a
        repeat that finds it already there (412 duplicate key) counts as created; nothing is created twice.
        A rejected record is reported with the service's message; the rest are written.

        Batches of `create_batch_size` go through `CreateMultiple` (Microsoft's bulk path: one call a batch). On a
        standard table that action is all or nothing, so a batch it refuses is sent again record by record, where
        only the bad record fails; a batch whose answer was lost is checked by one query for its ids and only the
        missing records are sent again. An environment without the action (404/405/501) is written record by record
        from then on, as with `create_batch_size=0`.
        """
        prepared: list[tuple[str, Row]] = []
        failed: dict[int, RecordOutcome] = {}
        for position, (key, columns) in enumerate(items):
            record_id = str(columns.get("contactid") or uuid.uuid4()).lower()
            if not is_guid(record_id):
                failed[position] = RecordOutcome(
                    key, "failed", message=f"contactid is not a GUID: {record_id!r}", fields=dict(columns)
                )
            prepared.append((key, {**columns, "contactid": record_id}))
        if self.create_batch_size == 0 or self.create_multiple_offered is False or len(items) < 2:
            return self._create_each(prepared, failed)
        before = self.counter.total
        outcomes: list[RecordOutcome] = []
        sendable = [(n, item) for n, item in enumerate(prepared) if n not in failed]
        for start in range(0, len(sendable), self.create_batch_size):
            chunk = [item for _, item in sendable[start : start + self.create_batch_size]]
            try:
                outcomes += self._create_multiple(chunk)
            except RetriesExhausted as exc:
                done = {o.key for o in outcomes}
                outcomes += [
                    RecordOutcome(key, "failed", message=f"not sent: the service stayed unavailable ({exc.message})",
                                  fields=row)
                    for _, (key, row) in sendable if key not in done
                ]  # fmt: skip
                break
            except AuthError as exc:
                done = {o.key for o in outcomes}
                outcomes += [
                    RecordOutcome(key, "failed", message=f"not sent: credentials refused ({exc.message})", fields=row)
                    for _, (key, row) in sendable
                    if key not in done
                ]
                exc.report = WriteReport(outcomes=[*failed.values(), *outcomes], api_calls=self.counter.total - before)  # type: ignore[attr-defined]
                raise
            except ConnectorError as exc:
                outcomes += [RecordOutcome(key, "failed", message=exc.message, fields=row) for key, row in chunk]
        by_key = {o.key: o for o in outcomes}
        ordered = [failed[n] if n in failed else by_key[key] for n, (key, _) in enumerate(prepared)]
        return WriteReport(outcomes=ordered, api_calls=self.counter.total - before)

    def _create_each(
        self, prepared: Sequence[tuple[str, Row]], failed: Mapping[int, RecordOutcome], *, resend: bool = False
    ) -> WriteReport:
        """One create request per record (`workers` at a time); records already `failed` are not sent."""
        jobs = [
            (
                key,
                row,
                (lambda n=n: failed[n])
                if n in failed
                else (lambda key=key, row=row: self._create_one(key, row, resend=resend)),
            )
            for n, (key, row) in enumerate(prepared)
        ]
        return self._write_each(jobs)

    def _create_multiple(self, chunk: Sequence[tuple[str, Row]]) -> list[RecordOutcome]:
        """One `CreateMultiple` of `chunk` (see `create_contacts`); outcomes in the order of `chunk`."""
        targets = [{"@odata.type": CONTACT_TYPE, **row} for _, row in chunk]
        try:
            self._request(
                "POST", "/contacts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets}, idempotent=False
            )
        except OutcomeUnknown as exc:
            ids = [str(row["contactid"]) for _, row in chunk]
            log.info("CreateMultiple of %d: outcome unknown (%s); checking which exist", len(ids), exc.message)
            params = {"$select": "contactid", "$filter": ids_filter("contactid", ids)}
            rows, _ = self._pages("/contacts", params, prefer(self.page_size))
            existing = {str(r.get("contactid")).lower() for r in rows}
            missing = [(key, row) for key, row in chunk if str(row["contactid"]) not in existing]
            sent = {o.key: o for o in self._create_each(missing, {}, resend=True).outcomes} if missing else {}
            return [
                sent.get(key) or RecordOutcome(key, "created", record_id=str(row["contactid"]), fields=row)
                for key, row in chunk
            ]
        except RequestRejected as exc:
            if exc.status in (404, 405, 501):
                log.warning("Dynamics offers no CreateMultiple here (%s): creating record by record", exc.message)
                self.create_multiple_offered = False
            # All or nothing: nothing of the batch was written. Record by record, only the bad one fails.
            return self._create_each(chunk, {}).outcomes
        self.create_multiple_offered = True
        return [RecordOutcome(key, "created", record_id=str(row["contactid"]), fields=row) for key, row in chunk]

    def _write_each(self, jobs: Sequence[tuple[str, Row, Callable[[], RecordOutcome]]]) -> WriteReport:
        """Run one write per record (`workers` at a time), each outcome in the order of `jobs`.

        A record whose write fails with a connector error is reported failed and the rest proceed. After the service
        stayed unavailable the records not yet sent are reported "not sent"; after it refused our credentials the
        same, and then the `AuthError` is raised with the report attached as `report`.
        """
        before = self.counter.total
        stop = _Stop()

        def run(job: tuple[str, Row, Callable[[], RecordOutcome]]) -> RecordOutcome:
            key, fields, write = job
            if stop.reason is not None:
                return RecordOutcome(key, "failed", message=f"not sent: {stop.reason}", fields=fields)
            try:
                return write()
            except AuthError as exc:
                stop.set(f"credentials refused ({exc.message})", exc)
                return RecordOutcome(key, "failed", message=exc.message, fields=fields)
            except RetriesExhausted as exc:
                stop.set(f"the service stayed unavailable ({exc.message})")
                return RecordOutcome(key, "failed", message=exc.message, fields=fields)
            except ConnectorError as exc:
                return RecordOutcome(key, "failed", message=exc.message, fields=fields)

        if self.workers == 1 or len(jobs) <= 1:
            outcomes = [run(job) for job in jobs]
        else:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(jobs)), thread_name_prefix="dynamics") as pool:
                outcomes = list(pool.map(run, jobs))
        report = WriteReport(outcomes=outcomes, api_calls=self.counter.total - before)
        if stop.auth_error is not None:
            stop.auth_error.report = report  # type: ignore[attr-defined]
            raise stop.auth_error
        return report

    def _create_one(self, key: str, columns: Row, *, resend: bool = False) -> RecordOutcome:
        """One create; `resend`: an earlier request (a lost `CreateMultiple`) may have created it already."""
        record_id = str(columns.get("contactid") or uuid.uuid4()).lower()
        if not is_guid(record_id):
            return RecordOutcome(key, "failed", message=f"contactid is not a GUID: {record_id!r}", fields=columns)
        body = {**columns, "contactid": record_id}
        reason = ""
        for attempt in range(MAX_RESENDS + 1):
            try:
                response = self._request("POST", "/contacts", json=body, idempotent=False)
            except OutcomeUnknown as exc:
                reason = exc.message
                if self.get_contact(record_id) is not None:
                    return RecordOutcome(key, "created", record_id=record_id, fields=columns)
                log.info("create of %s: outcome unknown (%s); not there, sending again", record_id, reason)
                continue
            except RequestRejected as exc:
                earlier = attempt > 0 or resend
                if earlier and error_code(exc.body) == DUPLICATE_KEY and self.get_contact(record_id) is not None:
                    # Our earlier attempt landed after all (its answer was lost): created once, not twice.
                    return RecordOutcome(key, "created", record_id=record_id, fields=columns)
                return RecordOutcome(key, "failed", message=exc.message, fields=columns)
            created = entity_id(response.headers.get("OData-EntityId")) or record_id
            return RecordOutcome(key, "created", record_id=created, fields=columns)
        return RecordOutcome(
            key, "failed", message=f"outcome unknown after {MAX_RESENDS + 1} attempts: {reason}", fields=columns
        )

    def update_contacts(
        self, changes: Mapping[str, Mapping[str, Any]], snapshot_etags: Mapping[str, str]
    ) -> WriteReport:
        """Update contacts (id -> columns) with `If-Match: <the snapshot's @odata.etag>`.

        A contact edited (or deleted) since the snapshot is not written: the service answers 412 (404) and it is
        reported "changed_since_read"; it comes back in the next read. When an update's answer is lost, the contact
        is fetched: still at the snapshot's ETag -> sent again; holding the values sent -> updated; else changed.

        Updates go `update_batch_size` at a time in one `$batch` of independent PATCHes (`continue-on-error`, each
        with its own If-Match: `UpdateMultiple` would take no per-record ETag, so it could overwrite an edit made
        since the read). A part answered 429 is sent again on its own, one answered 5xx or a batch whose answer is
        lost or unreadable is settled record by record as above; an environment without `$batch` (404/405/501), or
        `update_batch_size` 0, is written one request a record.
        """
        if self.update_batch_size == 0 or self.batch_offered is False or len(changes) < 2:
            return self._write_each(
                [
                    (i, dict(c), lambda i=i, c=c: self._update_one(i, dict(c), snapshot_etags.get(i)))
                    for i, c in changes.items()
                ]
            )
        before = self.counter.total
        outcomes: dict[str, RecordOutcome] = {}
        ready: list[tuple[str, Row, str]] = []
        for record_id, columns in changes.items():
            refused = self._unsendable_update(record_id, dict(columns), snapshot_etags.get(record_id))
            if refused is not None:
                outcomes[record_id] = refused
            else:
                ready.append((record_id, dict(columns), snapshot_etags[record_id]))
        chunks = [ready[n : n + self.update_batch_size] for n in range(0, len(ready), self.update_batch_size)]
        for number, chunk in enumerate(chunks):
            try:
                outcomes.update((o.key, o) for o in self._update_batch(chunk))
            except (RetriesExhausted, AuthError) as exc:
                why = "the service stayed unavailable" if isinstance(exc, RetriesExhausted) else "credentials refused"
                for rest in chunks[number:]:
                    outcomes.update(
                        (i, RecordOutcome(i, "failed", i, f"not sent: {why} ({exc.message})", c)) for i, c, _ in rest
                    )
                if isinstance(exc, AuthError):
                    exc.report = WriteReport(  # type: ignore[attr-defined]
                        outcomes=[outcomes[i] for i in changes if i in outcomes], api_calls=self.counter.total - before
                    )
                    raise
                break
        return WriteReport(outcomes=[outcomes[i] for i in changes], api_calls=self.counter.total - before)

    @staticmethod
    def _unsendable_update(record_id: str, columns: Row, etag: str | None) -> RecordOutcome | None:
        """The outcome of an update that is not sent at all, or None when it can be sent."""
        if not is_guid(record_id):
            return RecordOutcome(record_id, "failed", message="not a Dynamics record id (GUID)", fields=columns)
        if not etag:
            return RecordOutcome(record_id, "failed", record_id, "no snapshot ETag given for this contact", columns)
        if not columns:
            return RecordOutcome(record_id, "skipped", record_id, "nothing to write", columns)
        return None

    def _update_batch(self, chunk: Sequence[tuple[str, Row, str]]) -> list[RecordOutcome]:
        """One `$batch` of updates (see `update_contacts`); an outcome per record."""
        requests = [
            BatchRequest("PATCH", f"{self._api}/contacts({i.lower()})", {"If-Match": etag}, columns)
            for i, columns, etag in chunk
        ]
        content_type, body = batch_body(requests)
        headers = {"Content-Type": content_type, "Prefer": "odata.continue-on-error"}
        try:
            response = self._request("POST", "/$batch", content=body, headers=headers, idempotent=False)
            answers = parse_batch_answer(response.headers.get("content-type", ""), response.content, len(requests))
        except (OutcomeUnknown, BatchAnswerError) as exc:
            reason = exc.message if isinstance(exc, OutcomeUnknown) else str(exc)
            log.info("$batch of %d updates: outcome unknown (%s); settling each", len(chunk), reason)
            return [self._update_one(i, columns, etag, unknown=reason) for i, columns, etag in chunk]
        except RequestRejected as exc:
            if exc.status in (404, 405, 501):
                log.warning("Dynamics offers no $batch here (%s): updating record by record", exc.message)
                self.batch_offered = False
            return [self._update_one(i, columns, etag) for i, columns, etag in chunk]
        self.batch_offered = True
        outcomes = []
        for (record_id, columns, etag), answer in zip(chunk, answers, strict=True):
            outcomes.append(self._batch_outcome(record_id, columns, etag, answer))
        return outcomes

    def _batch_outcome(self, record_id: str, columns: Row, etag: str, answer: PartAnswer) -> RecordOutcome:
        if answer.status < 300:
            return RecordOutcome(record_id, "updated", record_id, None, columns)
        error = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else None
        message = ((error or {}).get("error") or {}).get("message") or f"HTTP {answer.status}"
        if answer.status == 412:
            return RecordOutcome(
                record_id, "changed_since_read", record_id, f"changed since read (ETag {etag}): {message}", columns
            )
        if answer.status == 404:
            return RecordOutcome(record_id, "changed_since_read", record_id, "deleted since read", columns)
        if answer.status == 429:
            return self._update_one(record_id, columns, etag)
        if answer.status >= 500:
            return self._update_one(record_id, columns, etag, unknown=f"HTTP {answer.status} in a $batch: {message}")
        return RecordOutcome(record_id, "failed", record_id, message, columns)

    def _settle_unknown(self, record_id: str, columns: Row, etag: str, reason: str) -> RecordOutcome | None:
        """After an update whose outcome is unknown: its outcome, or None when it was not applied (send it again)."""
        current = self.get_contact(record_id)
        if current is None:
            return RecordOutcome(record_id, "changed_since_read", record_id, "deleted since read", columns)
        if current.get("@odata.etag") == etag:
            log.info("update of %s: outcome unknown (%s); not applied, sending again", record_id, reason)
            return None
        if written_matches(current, columns):
            return RecordOutcome(record_id, "updated", record_id, None, columns)
        return RecordOutcome(
            record_id, "changed_since_read", record_id, f"changed since read ({current.get('@odata.etag')})"
        )

    def _update_one(self, record_id: str, columns: Row, etag: str | None, *, unknown: str = "") -> RecordOutcome:
        """One update; `unknown`: an earlier request of it (a lost `$batch`) may have been applied already."""
        refused = self._unsendable_update(record_id, columns, etag)
        if refused is not None:
            return refused
        assert etag is not None  # checked by _unsendable_update
        if unknown:
            settled = self._settle_unknown(record_id, columns, etag, unknown)
            if settled is not None:
                return settled
        path = f"/contacts({record_id.lower()})"
        reason = unknown
        for _ in range(MAX_RESENDS + 1):
            try:
                self._request("PATCH", path, json=columns, headers={"If-Match": etag}, idempotent=False)
                return RecordOutcome(record_id, "updated", record_id, None, columns)
            except OutcomeUnknown as exc:
                reason = exc.message
                settled = self._settle_unknown(record_id, columns, etag, reason)
                if settled is None:
                    continue
                return settled
            except RequestRejected as exc:
                if exc.status == 412 and reason:
                    # After an attempt whose answer was lost, a 412 may be our own earlier write having landed.
                    current = self.get_contact(record_id)
                    if current is not None and written_matches(current, columns):
                        return RecordOutcome(record_id, "updated", record_id, None, columns)
                if exc.status == 412:
                    message = f"changed since read (ETag {etag} is no longer current): {exc.message}"
                    return RecordOutcome(record_id, "changed_since_read", record_id, message, columns)
                if exc.status == 404:
                    return RecordOutcome(record_id, "changed_since_read", record_id, "deleted since read", columns)
                return RecordOutcome(record_id, "failed", record_id, exc.message, columns)
        return RecordOutcome(
            record_id, "failed", record_id, f"outcome unknown after {MAX_RESENDS + 1} attempts: {reason}", columns
        )

    def delete_contacts(self, ids: Sequence[str]) -> WriteReport:
        """Delete contacts; one already gone (404) counts as deleted, so a repeated call is harmless."""
        unique: dict[str, str] = {}  # one request per id whatever its case; the first spelling is the key reported
        for record_id in ids:
            unique.setdefault(record_id.lower(), record_id)
        return self._write_each([(i, {}, lambda i=i: self._delete_one(i)) for i in unique.values()])

    def _delete_one(self, record_id: str) -> RecordOutcome:
        if not is_guid(record_id):
            return RecordOutcome(record_id, "failed", message="not a Dynamics record id (GUID)")
        try:
            self._request("DELETE", f"/contacts({record_id.lower()})")
        except RequestRejected as exc:
            if exc.status == 404:
                return RecordOutcome(record_id, "deleted", record_id, "already gone")
            return RecordOutcome(record_id, "failed", record_id, exc.message)
        return RecordOutcome(record_id, "deleted", record_id)


class _Stop:
    """Shared by the writes of one call: once the service stayed unavailable (retries exhausted) or refused our
    credentials, the records not yet sent are reported failed instead of each waiting out the retry policy again."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.auth_error: AuthError | None = None
        self._lock = threading.Lock()

    def set(self, reason: str, auth_error: AuthError | None = None) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
            if auth_error is not None and self.auth_error is None:
                self.auth_error = auth_error


def _row_id(row: Any) -> str | None:
    if not isinstance(row, Mapping):
        return None
    value = row.get("id") if _is_deleted_entity(row) else row.get("contactid")
    return value.lower() if isinstance(value, str) and value else None


def _is_deleted_entity(row: Mapping[str, Any]) -> bool:
    context = row.get("@odata.context")
    return isinstance(context, str) and context.endswith("$deletedEntity")
