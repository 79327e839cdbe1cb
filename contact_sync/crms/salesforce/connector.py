"""The Salesforce connector: incremental contact reads, account names, and batched contact writes, on simple-salesforce.

Reads use `queryAll` on `SystemModstamp` from the watermark minus an overlap window (deletes and merges included),
or Bulk API 2.0 for a large first load. Writes use sObject Collections (200 records a call, `allOrNone=false`), or
one Bulk API 2.0 ingest job from `bulk_write_threshold` records up (`ingest.py`); updates first re-read each
record's `SystemModstamp` and skip those changed since the caller's snapshot. Every HTTP
call goes through `SalesforceSession` (retries, renewal, counting); errors leave as `connectors.http` errors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceOperationError

from contact_sync.connectors.http import (
    AuthError,
    CallCounter,
    ConnectorError,
    OutcomeUnknown,
    RequestRejected,
    RetryPolicy,
)
from contact_sync.connectors.results import ReadResult, RecordOutcome, WriteReport
from contact_sync.crms.salesforce.auth import AuthMethod, auth_method, login
from contact_sync.crms.salesforce.ingest import IngestRunner, JobOutcome, JobUnsettled
from contact_sync.crms.salesforce.query import (
    CONTACT_FIELDS,
    check_field_name,
    check_field_names,
    check_ids,
    ids_soql,
    incremental_soql,
    keep_latest,
    next_watermark,
    parse_bulk_csv,
    parse_datetime,
    soql_datetime,
    soql_string,
    strip_attributes,
)
from contact_sync.crms.salesforce.session import ApiLimitExceeded, ApiUsage, SalesforceSession
from contact_sync.crms.salesforce.settings import SalesforceSettings
from contact_sync.settings import Secret, redact

__all__ = ["ApiLimitExceeded", "ApiUsage", "SalesforceConnector"]

log = logging.getLogger(__name__)

COLLECTION_SIZE = 200
BULK_STAMP_CHUNK = 500
"""Ids per SystemModstamp re-read before a Bulk update: the query goes in a GET URL, which Salesforce caps at 16 KB."""
T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SalesforceConnector:
    """Reads and writes Salesforce contacts through simple-salesforce, with the project's retry and error rules.

    - `overlap`: how far before the watermark an incremental read starts (catches late commits and clock skew).
    - `page_size`: `Sforce-Query-Options: batchSize` of REST queries (200..2000).
    - `bulk_threshold`: a first load (no watermark) of more contacts than this uses Bulk API 2.0.
    - `external_id_field`: a unique external id field set on creates (e.g. `Genesys_Id__c`); when a create call's
      outcome is unknown (connection dropped, timeout, 500), the records already created are found by it and only
      the rest are sent again. Without it such records are reported failed, never sent twice. (A timed-out call
      still running inside Salesforce when we look could land after the re-send; an sObject Collections upsert on
      the external id field would close that gap, but the simulator does not serve it yet.)
    - `bulk_write_threshold`: a create or update call with this many records or more runs as one Bulk API 2.0
      ingest job (default from the settings, 10,000; 0: never). Creates go as an upsert on `external_id_field` when
      every record has it, so a job sent again cannot duplicate; `bulk_write_timeout` bounds the wait for a job.
    - `http`: the `requests.Session` simple-salesforce runs on (retries, renewal, counting); requests hooks may be
      added to it.
    """

    last_read_full = False
    """queryAll returns deleted rows itself, for as long as the recycle bin keeps them: no read needs a full re-read
    to find deletes."""

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        overlap: timedelta = timedelta(minutes=5),
        page_size: int = 2000,
        bulk_threshold: int = 50_000,
        retry: RetryPolicy | None = None,
        fields: Sequence[str] = CONTACT_FIELDS,
        external_id_field: str | None = None,
        bulk_poll_seconds: float = 0.5,
        bulk_write_threshold: int | None = None,
        bulk_write_timeout: float = 600.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not 200 <= page_size <= 2000:
            raise ValueError(f"page_size must be between 200 and 2000, got {page_size}")
        if overlap < timedelta(0):
            raise ValueError("overlap must not be negative")
        if bulk_threshold < 0:
            raise ValueError("bulk_threshold must not be negative")
        self.settings = settings
        self.overlap = overlap
        self.page_size = page_size
        self.bulk_threshold = bulk_threshold
        self.fields = check_field_names(fields)
        self.external_id_field = check_field_name(external_id_field) if external_id_field else None
        self.bulk_poll_seconds = bulk_poll_seconds
        threshold = settings.bulk_write_threshold if bulk_write_threshold is None else bulk_write_threshold
        if threshold < 0:
            raise ValueError("bulk_write_threshold must not be negative")
        self.bulk_write_threshold = threshold
        self.bulk_write_timeout = bulk_write_timeout
        self._sleep = sleep
        self.counter = CallCounter()
        self.method: AuthMethod = auth_method(settings)
        self.http = SalesforceSession(
            ca_bundle=settings.ca_bundle,
            retry=retry or RetryPolicy(),
            counter=self.counter,
            renew=self._renew,
            secrets=list(settings.secrets),
            timeout=timeout,
            sleep=sleep,
        )
        self._sf: Salesforce | None = None

    # --- session -----------------------------------------------------------------------------------------------

    def connect(self) -> None:
        """Log in now (otherwise the first call does)."""
        self._client()

    def _client(self) -> Salesforce:
        if self._sf is None:
            session = self._guard(lambda: login(self.settings, self.http, self.method))
            self._install(session.session_id, session.instance_url)
        assert self._sf is not None
        return self._sf

    def _install(self, session_id: Secret, instance_url: str) -> None:
        self.http.session_id = session_id
        self._sf = Salesforce(
            session_id=session_id.reveal(),
            instance_url=instance_url,
            session=self.http,
            version=self.settings.api_version,
            object_pairs_hook=dict,
        )

    def _renew(self) -> Secret | None:
        """Log in again after the session expired; None when only a (now dead) session id was given."""
        if self.method == "session_id":
            return None
        log.info("Salesforce session expired; logging in again (%s)", self.method)
        session = login(self.settings, self.http, self.method)
        self.http.session_id = session.session_id
        if self._sf is not None:
            self._sf.session_id = session.session_id.reveal()
            self._sf._generate_headers()
        return session.session_id

    def _guard(self, call: Callable[[], T]) -> T:
        """Run `call`, turning simple-salesforce's exceptions into the connector's typed errors (secrets redacted)."""
        try:
            return call()
        except ConnectorError:
            raise
        except SalesforceOperationError as exc:
            raise ConnectorError(f"Salesforce Bulk API job failed: {self._redact(str(exc))}") from None
        except SalesforceError as exc:
            status = getattr(exc, "status", None)
            message = self._redact(str(exc))
            if status == 401:
                raise AuthError(message, status=401) from None
            raise RequestRejected(message, status=status) from None

    def _redact(self, text: str) -> str:
        return redact(text, self.http.secrets())

    @property
    def api_calls(self) -> dict[str, int]:
        """Calls made so far, per endpoint (`METHOD /route/{id}`), every attempt counted."""
        return self.counter.as_dict()

    @property
    def api_usage(self) -> ApiUsage | None:
        """The org's daily API usage as last reported by Salesforce (`Sforce-Limit-Info`), if seen yet."""
        return self.http.api_usage

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SalesforceConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"SalesforceConnector(instance_url={self.settings.instance_url!r}, auth={self.method!r}, "
            f"calls={self.counter.total})"
        )

    # --- reads -------------------------------------------------------------------------------------------------

    def count_contacts(self) -> int:
        """How many (live) contacts there are: `SELECT COUNT() FROM Contact`."""
        sf = self._client()
        result = self._guard(lambda: sf.query("SELECT COUNT() FROM Contact"))
        return int(result["totalSize"])

    def read_contacts(self, watermark: str | None) -> ReadResult:
        """Every contact changed since `watermark` minus the overlap (all of them when None), deletes and merges too.

        Records come in the REST shape without `attributes`, one per Id (the latest `SystemModstamp`). The returned
        watermark is the latest `SystemModstamp` read; if the read fails part-way an error is raised and the caller's
        watermark stays where it was.
        """
        if watermark is not None:
            parse_datetime(watermark)
        calls_before = self.counter.total
        if watermark is None and self.count_contacts() > self.bulk_threshold:
            records = self._read_bulk()
        else:
            records = self._read_rest(watermark)
        ordered = keep_latest(records)
        deleted = [
            r["Id"]
            for r in ordered
            if isinstance(r, dict) and isinstance(r.get("Id"), str) and r.get("IsDeleted") is True
        ]
        return ReadResult(
            records=ordered,
            watermark=next_watermark(watermark, ordered),
            api_calls=self.counter.total - calls_before,
            deleted_ids=deleted,
        )

    def has_changes(self, watermark: str | None) -> bool:
        """Whether a contact changed (or was deleted or merged) after `watermark`: the newest `SystemModstamp` from
        the watermark's second on, through `queryAll` with `LIMIT 1`. One call. SOQL literals have whole seconds, so
        the stamp is compared here to the millisecond: the record the watermark came from is no change."""
        if watermark is None:
            return True
        since = parse_datetime(watermark)
        soql = (
            f"SELECT Id, SystemModstamp FROM Contact WHERE SystemModstamp >= {soql_datetime(since)} "
            "ORDER BY SystemModstamp DESC LIMIT 1"
        )
        sf = self._client()
        newest = self._guard(lambda: list(sf.query_all_iter(soql, include_deleted=True)))
        return any(parse_datetime(str(r.get("SystemModstamp"))) > since for r in newest)

    def _read_rest(self, watermark: str | None) -> list[dict[str, Any]]:
        sf = self._client()
        soql = incremental_soql(self.fields, watermark, self.overlap)
        headers = {"Sforce-Query-Options": f"batchSize={self.page_size}"}
        log.info("Salesforce incremental read: %s", soql)
        return self._guard(
            lambda: [strip_attributes(r) for r in sf.query_all_iter(soql, include_deleted=True, headers=headers)]
        )

    def _read_bulk(self) -> list[dict[str, Any]]:
        sf = self._client()
        # No ORDER BY: a Bulk job need not honour it and is slower with it; the records are sorted here instead.
        soql = incremental_soql(self.fields, None, self.overlap, ordered=False)
        log.info("Salesforce first load through Bulk API 2.0: %s", soql)

        def run() -> list[dict[str, Any]]:
            records: list[dict[str, Any]] = []
            for chunk in sf.bulk2.Contact.query_all(soql, wait=self.bulk_poll_seconds):  # type: ignore[union-attr]
                records.extend(parse_bulk_csv(str(chunk)))
            return records

        return self._guard(run)

    def read_accounts(self, ids: Sequence[str]) -> dict[str, str]:
        """Account names by id for the given account ids (unknown or deleted ids are left out)."""
        wanted = sorted(set(check_ids(i for i in ids if i)))
        sf = self._client()
        names: dict[str, str] = {}
        for chunk in _chunks(wanted, COLLECTION_SIZE):
            soql = ids_soql(["Id", "Name"], chunk, sobject="Account")
            for record in self._guard(lambda soql=soql: list(sf.query_all_iter(soql))):
                names[record["Id"]] = record["Name"]
        return names

    def _modstamps(self, ids: Sequence[str]) -> dict[str, str]:
        sf = self._client()
        soql = ids_soql(["Id", "SystemModstamp"], ids)
        return {r["Id"]: r["SystemModstamp"] for r in self._guard(lambda: list(sf.query_all_iter(soql)))}

    # --- writes ------------------------------------------------------------------------------------------------

    def _collection(self, method: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        sf = self._client()
        body = {"allOrNone": False, "records": records}
        results = self._guard(lambda: sf.restful("composite/sobjects", method=method, json=body))
        if not isinstance(results, list) or len(results) != len(records):
            raise ConnectorError(
                f"Salesforce answered {method} composite/sobjects with {len(results or [])} results for "
                f"{len(records)} records"
            )
        return results

    @contextmanager
    def _writing(self, report: WriteReport) -> Iterator[None]:
        """Around one write call: its API calls go into `report`; on `ApiLimitExceeded` the outcomes so far are
        attached to the error, so the caller knows what was written."""
        calls_before = self.counter.total
        try:
            yield
        except ApiLimitExceeded as exc:
            exc.report = report
            raise
        report.api_calls = self.counter.total - calls_before

    @property
    def write_batch_size(self) -> int | None:
        """The Bulk write threshold: a batch smaller than it would never take the Bulk path."""
        return self.bulk_write_threshold or None

    def _use_bulk(self, count: int) -> bool:
        return 0 < self.bulk_write_threshold <= count

    def _ingest(self, operation: str, rows: list[dict[str, Any]], external_id_field: str | None = None) -> JobOutcome:
        runner = IngestRunner(
            self._client(),
            poll_seconds=self.bulk_poll_seconds,
            timeout_seconds=self.bulk_write_timeout,
            **({"sleep": self._sleep} if self._sleep is not None else {}),
        )
        log.info("Salesforce %s of %d contacts through one Bulk API 2.0 ingest job", operation, len(rows))
        return self._guard(lambda: runner.run(operation, rows, external_id_field))

    def create_contacts(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> WriteReport:
        """Create contacts, 200 a call (or one Bulk job); each outcome carries the caller's key and the new Id or
        the service's error."""
        report = WriteReport()
        with self._writing(report):
            if self._use_bulk(len(items)):
                self._create_bulk(list(items), report)
            else:
                for chunk in _chunks(list(items), COLLECTION_SIZE):
                    self._create_chunk(list(chunk), report)
        return report

    def _create_bulk(self, items: list[tuple[str, Mapping[str, Any]]], report: WriteReport) -> None:
        ext = self.external_id_field
        upsert = ext is not None and all(fields.get(ext) for _, fields in items)
        rows = [dict(fields) for _, fields in items]
        try:
            job = self._ingest("upsert" if upsert else "insert", rows, ext if upsert else None)
        except ApiLimitExceeded:
            raise
        except JobUnsettled as exc:
            # Salesforce may have created them: the next read and matching settle each one, never a blind resend.
            for (key, _), row in zip(items, rows, strict=True):
                report.add(RecordOutcome(key, "unconfirmed", message=str(exc), fields=row))
            return
        except ConnectorError as exc:
            for (key, _), row in zip(items, rows, strict=True):
                report.add(RecordOutcome(key, "failed", message=str(exc), fields=row))
            return
        for (key, _), row, result in zip(items, rows, job.rows, strict=True):
            status = "created" if result.ok else "failed"
            report.add(RecordOutcome(key, status, result.record_id if result.ok else None, result.message, row))

    def _create_chunk(self, chunk: list[tuple[str, Mapping[str, Any]]], report: WriteReport) -> None:
        pending = chunk
        for _ in range(self.http.retry.max_attempts):
            records = [{"attributes": {"type": "Contact"}, **dict(fields)} for _, fields in pending]
            try:
                results = self._collection("POST", records)
            except OutcomeUnknown as exc:
                pending = self._after_unknown_create(pending, report, str(exc))
                if not pending:
                    return
                continue
            except ApiLimitExceeded:
                raise
            except ConnectorError as exc:
                for key, fields in pending:
                    report.add(RecordOutcome(key, "failed", message=str(exc), fields=dict(fields)))
                return
            for (key, fields), result in zip(pending, results, strict=True):
                report.add(_outcome(key, "created", result, fields))
            return
        for key, fields in pending:
            report.add(
                RecordOutcome(key, "failed", message="create failed repeatedly with an unknown outcome", fields=fields)
            )

    def _after_unknown_create(
        self, pending: list[tuple[str, Mapping[str, Any]]], report: WriteReport, reason: str
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """After a create call of unknown outcome: report those found created by external id, return the rest."""
        ext = self.external_id_field
        if ext is None or any(not fields.get(ext) for _, fields in pending):
            for key, fields in pending:
                report.add(
                    RecordOutcome(
                        key,
                        "failed",
                        message=f"outcome unknown, not sent again to avoid a duplicate: {reason}",
                        fields=dict(fields),
                    )
                )
            return []
        sf = self._client()
        values = [str(fields[ext]) for _, fields in pending]
        soql = f"SELECT Id, {ext} FROM Contact WHERE {ext} IN ({', '.join(soql_string(v) for v in values)})"
        existing = {str(r[ext]): r["Id"] for r in self._guard(lambda: list(sf.query_all_iter(soql)))}
        rest = []
        for key, fields in pending:
            found = existing.get(str(fields[ext]))
            if found:
                report.add(RecordOutcome(key, "created", record_id=found, fields=dict(fields)))
            else:
                rest.append((key, fields))
        return rest

    def update_contacts(
        self, changes: Mapping[str, Mapping[str, Any]], snapshot_modstamp: Mapping[str, str]
    ) -> WriteReport:
        """Update contacts (Id -> field values), 200 a call, skipping any changed since `snapshot_modstamp`.

        Each batch's `SystemModstamp` is re-read first (one query): a record whose stamp is later than the
        snapshot's (or that is gone) is reported `changed_since_read` and not written; it comes back in the next
        incremental read. An edit landing between that re-read and the write itself is not detected (sObject
        Collections take no `If-Unmodified-Since`); the window is one round trip.
        """
        report = WriteReport()
        ids = check_ids(changes)
        with self._writing(report):
            if self._use_bulk(len(ids)):
                self._update_bulk(ids, changes, snapshot_modstamp, report)
            else:
                for chunk in _chunks(ids, COLLECTION_SIZE):
                    self._update_chunk(list(chunk), changes, snapshot_modstamp, report)
        return report

    def _unchanged_since_snapshot(
        self,
        chunk: Sequence[str],
        changes: Mapping[str, Mapping[str, Any]],
        snapshot_modstamp: Mapping[str, str],
        report: WriteReport,
    ) -> list[str]:
        """The ids of `chunk` still as the caller read them (one query); the others are reported here."""
        current = self._modstamps(chunk)
        writable: list[str] = []
        for record_id in chunk:
            fields = dict(changes[record_id])
            snapshot = snapshot_modstamp.get(record_id)
            if snapshot is None:
                report.add(RecordOutcome(record_id, "failed", record_id, "no snapshot SystemModstamp", fields))
            elif record_id not in current:
                report.add(
                    RecordOutcome(record_id, "changed_since_read", record_id, "deleted since it was read", fields)
                )
            elif parse_datetime(current[record_id]) > parse_datetime(snapshot):
                message = f"changed since it was read (SystemModstamp {current[record_id]} > {snapshot})"
                report.add(RecordOutcome(record_id, "changed_since_read", record_id, message, fields))
            else:
                writable.append(record_id)
        return writable

    def _update_bulk(
        self,
        ids: list[str],
        changes: Mapping[str, Mapping[str, Any]],
        snapshot_modstamp: Mapping[str, str],
        report: WriteReport,
    ) -> None:
        writable: list[str] = []
        try:
            for chunk in _chunks(ids, BULK_STAMP_CHUNK):
                writable += self._unchanged_since_snapshot(chunk, changes, snapshot_modstamp, report)
            if not writable:
                return
            job = self._ingest("update", [{"Id": i, **dict(changes[i])} for i in writable])
        except ApiLimitExceeded:
            raise
        except ConnectorError as exc:
            _fail_the_rest(ids, changes, report, str(exc))
            return
        for record_id, result in zip(writable, job.rows, strict=True):
            status = "updated" if result.ok else "failed"
            report.add(RecordOutcome(record_id, status, record_id, result.message, dict(changes[record_id])))

    def _update_chunk(
        self,
        chunk: list[str],
        changes: Mapping[str, Mapping[str, Any]],
        snapshot_modstamp: Mapping[str, str],
        report: WriteReport,
    ) -> None:
        try:
            writable = self._unchanged_since_snapshot(chunk, changes, snapshot_modstamp, report)
            if not writable:
                return
            records = [{"attributes": {"type": "Contact"}, "id": i, **dict(changes[i])} for i in writable]
            results = self._collection("PATCH", records)
        except ApiLimitExceeded:
            raise
        except ConnectorError as exc:
            _fail_the_rest(chunk, changes, report, str(exc))
            return
        for record_id, result in zip(writable, results, strict=True):
            report.add(_outcome(record_id, "updated", result, changes[record_id], record_id))

    def delete_contacts(self, ids: Sequence[str]) -> WriteReport:
        """Delete contacts, 200 a call; one already deleted counts as deleted (so a repeated call is harmless)."""
        report = WriteReport()
        with self._writing(report):
            for chunk in _chunks(check_ids(ids), COLLECTION_SIZE):
                self._delete_chunk(list(chunk), report)
        return report

    def _delete_chunk(self, chunk: list[str], report: WriteReport) -> None:
        sf = self._client()
        params = {"ids": ",".join(chunk), "allOrNone": "false"}
        try:
            results = self._guard(lambda: sf.restful("composite/sobjects", params, method="DELETE"))
            if not isinstance(results, list) or len(results) != len(chunk):
                raise ConnectorError(f"Salesforce answered a delete of {len(chunk)} ids with {results!r:.200}")
        except ApiLimitExceeded:
            raise
        except ConnectorError as exc:
            for record_id in chunk:
                report.add(RecordOutcome(record_id, "failed", record_id, str(exc)))
            return
        for record_id, result in zip(chunk, results, strict=True):
            codes = {e.get("statusCode") for e in result.get("errors") or []}
            if not result.get("success") and codes == {"ENTITY_IS_DELETED"}:
                report.add(RecordOutcome(record_id, "deleted", record_id, "already deleted"))
            else:
                report.add(_outcome(record_id, "deleted", result, {}, record_id))


def _fail_the_rest(
    ids: Sequence[str], changes: Mapping[str, Mapping[str, Any]], report: WriteReport, message: str
) -> None:
    """Report every id of an update call that has no outcome yet as failed with `message`."""
    done = {o.key for o in report.outcomes}
    for record_id in ids:
        if record_id not in done:
            report.add(RecordOutcome(record_id, "failed", record_id, message, dict(changes[record_id])))


def _outcome(
    key: str, status: str, result: Mapping[str, Any], fields: Mapping[str, Any], record_id: str | None = None
) -> RecordOutcome:
    """One record's outcome from an sObject Collections result `{id, success, errors:[{statusCode, message}]}`."""
    if result.get("success"):
        return RecordOutcome(key, status, result.get("id") or record_id, None, dict(fields))  # type: ignore[arg-type]
    errors = result.get("errors") or []
    message = "; ".join(
        f"{e.get('statusCode', 'ERROR')}: {e.get('message', '')}"
        + (f" ({', '.join(e['fields'])})" if e.get("fields") else "")
        for e in errors
    )
    return RecordOutcome(key, "failed", record_id, message or "rejected without a message", dict(fields))
