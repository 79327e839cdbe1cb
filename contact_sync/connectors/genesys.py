"""Genesys Cloud external contacts over httpx: full snapshots by cursor scan, batched bulk writes that never clear an
unmanaged field nor overwrite an edit made since the snapshot, external sources and organizations for the CRM links.

Every call goes through the shared HTTP behaviour (`connectors.http`): a client-side rate limiter, bounded retries,
per-endpoint counting and typed errors. Results of bulk calls are matched to requests by id (updates, removes) or by
the CRM link in `externalIds` (creates), never by position: the service does not keep result order.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx

from contact_sync.connectors.genesys_exports import ExportFailed, ExportRead, parse_export_file
from contact_sync.connectors.http import (
    AuthError,
    CallCounter,
    ConnectorError,
    OutcomeUnknown,
    RateLimiter,
    RequestRejected,
    ResilientClient,
    RetryPolicy,
)
from contact_sync.connectors.oauth import TokenCache
from contact_sync.connectors.results import RecordOutcome, WriteReport
from contact_sync.connectors.stamps import parse_stamp
from contact_sync.settings import GenesysSettings

log = logging.getLogger(__name__)

API = "/api/v2/externalcontacts"
MAX_SCAN_LIMIT = 200
# Fields the service sets itself; they are dropped from a fetched contact before it is sent back whole.
SERVER_SET_FIELDS = frozenset(
    {
        "createDate",
        "modifyDate",
        "type",
        "selfUri",
        "mergeSet",
        "mergedFrom",
        "mergedTo",
        "canonicalContact",
        "externalDataSources",
        "identifiers",
    }
)
PHONE_FIELDS = frozenset({"workPhone", "cellPhone", "homePhone", "otherPhone"})

Contact = dict[str, Any]
LinkKey = tuple[str, str]  # (external source id, value)


class GenesysConnector:
    """Reads and writes Genesys Cloud external contacts through one httpx client (see the module docstring)."""

    def __init__(
        self,
        settings: GenesysSettings,
        *,
        batch_size: int = 200,
        recovery_lookups: int = 20,
        use_enrich: bool = True,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        rate_limit: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`rate_limit=False` turns the client-side limiter off (its limit is `settings.rate_limit_per_minute`);
        `clock` and `sleep` pace the limiter, time the token and wait between retries. `recovery_lookups`: the most
        identifier lookups spent settling one bulk add whose answer was lost; a larger batch is left `unconfirmed`
        for the next run's read, which links each contact the service did create by the CRM id it carries (only on
        the bulk add path: `use_enrich=False`, or a service that refuses enrich)."""
        if not 1 <= batch_size <= 200:
            raise ValueError("batch_size must be between 1 and 200")
        self.settings = settings
        self.batch_size = batch_size
        self.recovery_lookups = recovery_lookups
        self.use_enrich = use_enrich
        self.api_calls = CallCounter()
        self._clock, self._sleep = clock, sleep
        self.limiter = RateLimiter(settings.rate_limit_per_minute if rate_limit else None, clock=clock, sleep=sleep)
        policy = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=settings.api_url,
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json"},
        )
        self._tokens = TokenCache(
            lambda: self._http.post(
                settings.login_url + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(settings.client_id, settings.client_secret.reveal()),
            ),
            service="Genesys",
            endpoint="POST /oauth/token",
            default_lifetime=86400,
            counter=self.api_calls,
            policy=policy,
            secrets=settings.secrets,
            clock=clock,
            sleep=sleep,
        )
        self._client = ResilientClient(
            self._http,
            policy=policy,
            limiter=self.limiter,
            counter=self.api_calls,
            tokens=self._tokens,
            secrets=[*settings.secrets],
            sleep=sleep,
        )

    # --- lifecycle ---------------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GenesysConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"GenesysConnector(api_url={self.settings.api_url!r}, client_id={self.settings.client_id!r}, "
            f"batch_size={self.batch_size}, calls={self.api_calls.total})"
        )

    # --- reads -------------------------------------------------------------------------------------------------------

    def scan_contacts(self, limit: int = MAX_SCAN_LIMIT) -> list[Contact]:
        """Every external contact, following scan cursors to the end; each contact once (the latest copy seen)."""
        return self._scan("contacts", limit)

    def scan_organizations(self, limit: int = MAX_SCAN_LIMIT) -> list[Contact]:
        """Every external organization, like `scan_contacts`."""
        return self._scan("organizations", limit)

    def _scan(self, kind: str, limit: int) -> list[Contact]:
        if not 10 <= limit <= MAX_SCAN_LIMIT:
            raise ValueError(f"scan limit must be between 10 and {MAX_SCAN_LIMIT}")
        records: dict[str, Contact] = {}
        unreadable: list[Any] = []  # no usable id: passed on for the converter to reject and report
        cursor: str | None = None
        seen_cursors: set[str] = set()
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor is not None:
                params["cursor"] = cursor
            # A failed page is retried with the same cursor, so no page is skipped or read twice.
            page = self._client.get(f"{API}/scan/{kind}", params=params).json()
            for entity in page.get("entities") or []:
                entity_id = entity.get("id") if isinstance(entity, dict) else None
                if not isinstance(entity_id, str) or not entity_id:
                    unreadable.append(entity)
                    continue
                records.pop(entity_id, None)
                records[entity_id] = entity
            cursor = (page.get("cursors") or {}).get("after")
            if not cursor:
                return [*records.values(), *unreadable]
            if cursor in seen_cursors:
                raise ConnectorError(f"Genesys scan of {kind} returned cursor {cursor!r} twice; stopping")
            seen_cursors.add(cursor)

    def export_contacts(
        self, modified_since: str | None = None, *, timeout_s: float = 600.0, poll_s: float = 0.25
    ) -> ExportRead:
        """The contacts modified at or after `modified_since` (ISO 8601; every contact when None), through one contacts
        export: create it, poll it until it is done, download and parse its file (`genesys_exports`).

        Raises `ExportFailed` when the export FAILED, did not finish within `timeout_s`, or its file is unreadable;
        the caller falls back to the scan. The file is fetched with our token only from the API's own host: a
        download URL elsewhere (object storage) is pre-signed and must not receive it."""
        conditions: dict[str, Any] = {}
        if modified_since is not None:
            conditions["filters"] = {"gte": {"field": "ModifyDate", "value": modified_since}}
        before = self.api_calls.total
        job, export_id, polls = self._finished_export(conditions, timeout_s, poll_s)
        url, started_at = job.get("downloadUrl"), job.get("dateCreated")
        if not isinstance(url, str) or not url or parse_stamp(started_at) is None:
            raise ExportFailed(f"Genesys export {export_id} SUCCEEDED without a downloadUrl or dateCreated")
        data = self._download(url, export_id)
        rows = job.get("resultRowCount")
        contacts = parse_export_file(data, rows if isinstance(rows, int) else None)
        return ExportRead(export_id, started_at, contacts, api_calls=self.api_calls.total - before, polls=polls)

    def has_changes(self, watermark: str, *, timeout_s: float = 30.0, poll_s: float = 1.0) -> bool:
        """Whether a contact was modified at or after `watermark` (the `dateCreated` of the export the mirror was last
        refreshed from): an export of at most one contact, whose `resultRowCount` answers; its file is never
        downloaded. Its status is first asked after `poll_s` (a probe is in no hurry; each poll is a call), so an
        export done within that costs two calls. `ExportFailed` when it fails or takes longer than `timeout_s`."""
        conditions = {"filters": {"gte": {"field": "ModifyDate", "value": watermark}}, "limit": 1}
        job, export_id, _ = self._finished_export(conditions, timeout_s, poll_s)
        rows = job.get("resultRowCount")
        if not isinstance(rows, int) or isinstance(rows, bool):
            raise ExportFailed(f"Genesys export {export_id} SUCCEEDED without a resultRowCount")
        return rows > 0

    def _finished_export(
        self, conditions: Mapping[str, Any], timeout_s: float, poll_s: float
    ) -> tuple[dict[str, Any], str, int]:
        """(the export's last status, its id, polls made): created with `conditions`, polled until SUCCEEDED."""
        job = self._client.post(f"{API}/contacts/exports", json={"queryConditions": dict(conditions)}).json()
        export_id = str(job.get("id") or "")
        if not export_id:
            raise ExportFailed("Genesys answered the export request without an export id")
        deadline, polls, wait = self._clock() + timeout_s, 0, poll_s
        while job.get("status") not in ("SUCCEEDED", "FAILED"):
            if self._clock() + wait > deadline:
                raise ExportFailed(f"Genesys export {export_id} did not finish within {timeout_s:.0f} s")
            self._sleep(wait)
            wait = min(wait * 1.5, 10.0)
            polls += 1
            job = self._client.get(f"{API}/contacts/exports/{export_id}").json()
        if job["status"] == "FAILED":
            raise ExportFailed(f"Genesys export {export_id} FAILED")
        return job, export_id, polls

    def _download(self, url: str, export_id: str) -> bytes:
        try:
            if httpx.URL(url).host == httpx.URL(self.settings.api_url).host:
                return self._client.get(url).content
            self.api_calls.count("GET export download (pre-signed)")
            response = self._http.get(url, headers={"Accept": "*/*"})
            response.raise_for_status()
            return response.content
        except (ConnectorError, httpx.HTTPError) as exc:
            raise ExportFailed(f"the file of Genesys export {export_id} could not be downloaded: {exc}") from None

    def get_contacts(self, ids: Iterable[str]) -> list[Contact]:
        """The contacts with these ids that exist (bulk fetch, batched); missing ids are left out."""
        return list(self._fetch(list(dict.fromkeys(ids)))[0].values())

    def _fetch(self, ids: Sequence[str]) -> tuple[dict[str, Contact], dict[str, str]]:
        """(found contacts by id, service message by id for those not returned)."""
        found: dict[str, Contact] = {}
        missing: dict[str, str] = {}
        for start in range(0, len(ids), self.batch_size):
            chunk = ids[start : start + self.batch_size]
            for result in self._bulk("/bulk/contacts", [{"id": i} for i in chunk], idempotent=True):
                # An odd result (not an object, an id that is not text) is left out: its contact fails alone below.
                if not isinstance(result, dict):
                    continue
                entity = result.get("entity")
                if result.get("success") and isinstance(entity, dict) and isinstance(entity.get("id"), str):
                    found[entity["id"]] = entity
                elif isinstance(result.get("id"), str):
                    missing[result["id"]] = _result_message(result)
        for contact_id in ids:
            if contact_id not in found:
                missing.setdefault(contact_id, "not returned by the bulk fetch")
        return found, missing

    # --- bulk calls --------------------------------------------------------------------------------------------------

    def _bulk(self, path: str, entities: list[dict[str, Any]], *, idempotent: bool) -> list[dict[str, Any]]:
        """POST a bulk call and return its results; a 413 splits the batch in halves, each sent on its own."""
        try:
            response = self._client.post(f"{API}{path}", json={"entities": entities}, idempotent=idempotent)
        except RequestRejected as exc:
            if exc.status == 413 and len(entities) > 1:
                half = len(entities) // 2
                log.info("%s: 413 for %d entities, splitting", path, len(entities))
                return self._bulk(path, entities[:half], idempotent=idempotent) + self._bulk(
                    path, entities[half:], idempotent=idempotent
                )
            raise
        return list(response.json().get("results") or [])

    # --- external sources and organizations ---------------------------------------------------------------------------

    def ensure_external_source(self, name: str) -> dict[str, str]:
        """The external source with this name (case-insensitive), created when absent: `{id, name}`."""
        for source in self._list_sources():
            if str(source.get("name", "")).lower() == name.lower():
                return {"id": source["id"], "name": source["name"]}
        try:
            created = self._client.post(f"{API}/externalsources", json={"name": name, "active": True}).json()
        except RequestRejected as exc:
            if exc.status != 409:
                raise
            created = next(s for s in self._list_sources() if str(s.get("name", "")).lower() == name.lower())
        return {"id": created["id"], "name": created["name"]}

    def _list_sources(self) -> list[dict[str, Any]]:
        sources: list[dict[str, Any]] = []
        params: dict[str, Any] = {"pageSize": 200}
        while True:
            page = self._client.get(f"{API}/externalsources", params=params).json()
            sources += page.get("entities") or []
            after = (page.get("cursors") or {}).get("after")
            if not after or not page.get("entities"):
                return sources
            params = {"pageSize": 200, "cursor": after}

    def ensure_organizations(self, accounts: Mapping[str, str], source: Mapping[str, str]) -> dict[str, str]:
        """Genesys organization id per CRM account id, creating the missing ones (`/bulk/organizations/add`, in
        batches), linked by the account id in their `externalIds` (of `source`). Existing organizations are found by
        that link, never by name. An organization the service rejects is logged with its reason and left out, so
        only its contacts go without an organization (the next run tries again); the rest proceed."""
        wanted = {account_id: name for account_id, name in accounts.items() if account_id}
        linked = self._organizations_by_link(source["id"])
        result = {a: linked[a] for a in wanted if a in linked}
        missing = [(a, name) for a, name in wanted.items() if a not in result]
        for start in range(0, len(missing), self.batch_size):
            result.update(self._add_organizations(missing[start : start + self.batch_size], source["id"]))
        return result

    def _add_organizations(
        self, batch: list[tuple[str, str]], source_id: str, *, retried: bool = False
    ) -> dict[str, str]:
        """One bulk add of organizations for (account id, name) pairs: account id -> new organization id."""
        bodies = [
            {"name": name or account_id, "externalIds": [{"externalSource": {"id": source_id}, "value": account_id}]}
            for account_id, name in batch
        ]
        try:
            results = self._bulk("/bulk/organizations/add", bodies, idempotent=False)
        except OutcomeUnknown:
            if retried:
                raise
            # The creates may or may not have happened: look before sending again, only what is still missing.
            linked = self._organizations_by_link(source_id)
            found = {a: linked[a] for a, _ in batch if a in linked}
            rest = [(a, name) for a, name in batch if a not in found]
            return {**found, **(self._add_organizations(rest, source_id, retried=True) if rest else {})}
        wanted = {account_id for account_id, _ in batch}
        created: dict[str, str] = {}
        for result in results:
            # Results come back in any order: the account id in the (created or echoed) entity's link names them.
            entity = result.get("entity") if result.get("success") else (result.get("error") or {}).get("entity")
            account_id = next(
                (link.get("value") for link in (entity or {}).get("externalIds") or [] if link.get("value") in wanted),
                None,
            )
            if result.get("success") and account_id and result.get("id"):
                created[account_id] = str(result["id"])
            else:
                log.warning("organization for account %s not created: %s", account_id or "?", _result_message(result))
        return created

    def _organizations_by_link(self, source_id: str) -> dict[str, str]:
        linked: dict[str, str] = {}
        for org in self.scan_organizations():
            org_id = org.get("id") if isinstance(org, dict) else None
            if isinstance(org_id, str) and org_id:  # an unreadable organization maps no account
                for _, value in _links(org, source_id):
                    linked.setdefault(value, org_id)
        return linked

    # --- writes ------------------------------------------------------------------------------------------------------

    def create_contacts(self, items: Sequence[tuple[str, Contact]]) -> WriteReport:
        """Create contacts in batches through bulk enrich (`/bulk/contacts/enrich`, action Upsert matched on the
        contact's `externalIds` link): a batch whose answer was lost is simply sent again, and a contact the service
        had created is found by its link and updated, never created twice. Where the service refuses enrich (an org
        without the permission), `/bulk/contacts/add` with lookups after a lost answer is used instead.

        Each contact must carry an `externalIds` link (source id + value) unique in the call: that is how results,
        which come back in any order with new ids, are matched to the caller's keys. A rejected contact is reported
        with the service's message; the rest are written."""
        report = WriteReport()
        before = self.api_calls.total
        results: list[RecordOutcome | None] = [None] * len(items)
        sendable: list[tuple[int, tuple[str, Contact, LinkKey]]] = []
        seen: dict[LinkKey, str] = {}
        keys: set[str] = set()
        for position, (key, contact) in enumerate(items):
            link = _first_link(contact)
            if link is None:
                results[position] = RecordOutcome(
                    key, "failed", message="contact has no externalIds link to match it by"
                )
            elif link in seen:
                message = f"externalIds link {link[1]!r} repeats key {seen[link]}"
                results[position] = RecordOutcome(key, "failed", message=message)
            elif key in keys:
                results[position] = RecordOutcome(key, "failed", message="the same key was given twice")
            else:
                seen[link] = key
                keys.add(key)
                sendable.append((position, (key, _writable(contact), link)))
        for start in range(0, len(sendable), self.batch_size):
            chunk = sendable[start : start + self.batch_size]
            # _create_batch answers in the order it was given.
            batch = [item for _, item in chunk]
            outcomes = self._enrich_batch(batch) if self.use_enrich else None
            if outcomes is None:
                outcomes = self._create_batch(batch)
            for (position, _), outcome in zip(chunk, outcomes, strict=True):
                results[position] = outcome
        report.outcomes = [o for o in results if o is not None]
        report.api_calls = self.api_calls.total - before
        return report

    def _enrich_batch(self, batch: list[tuple[str, Contact, LinkKey]]) -> list[RecordOutcome] | None:
        """One bulk enrich (Upsert by link), answered in the order of `batch`; None when the service does not offer
        enrich here (404, 403 or 405: the caller falls back to bulk add, and so does every later batch)."""
        entities = [
            {
                "action": "Upsert",
                "matchingIdentifiers": [{"type": "ExternalId", "value": link[1], "externalSource": {"id": link[0]}}],
                "contact": contact,
            }
            for _, contact, link in batch
        ]
        by_link = {link: key for key, _, link in batch}
        try:
            # Idempotent: sending it again after a lost answer updates what the first one created.
            results = self._bulk("/bulk/contacts/enrich", entities, idempotent=True)
        except AuthError:
            raise
        except RequestRejected as exc:
            if exc.status in (403, 404, 405):
                log.warning("Genesys refuses bulk enrich (%s): creating through bulk add", exc.message)
                self.use_enrich = False
                return None
            return [RecordOutcome(key, "failed", message=exc.message) for key, _, _ in batch]
        except ConnectorError as exc:
            return [RecordOutcome(key, "failed", message=exc.message) for key, _, _ in batch]
        outcomes: dict[str, RecordOutcome] = {}
        for result in results:
            entity = result.get("entity") if isinstance(result.get("entity"), dict) else None
            sent = (result.get("error") or {}).get("entity")
            links = _links(entity) if entity is not None else _enrich_links(sent)
            key = next((by_link[link] for link in links if link in by_link), None)
            if key is None:
                continue
            if result.get("success") and entity is not None:
                outcomes[key] = RecordOutcome(key, "created", record_id=entity.get("id"))
            else:
                outcomes[key] = RecordOutcome(key, "failed", message=_result_message(result))
        message = "the bulk enrich answer named no result for this contact: the next run links or creates it"
        return [outcomes.get(key) or RecordOutcome(key, "unconfirmed", message=message) for key, _, _ in batch]

    def _create_batch(self, batch: list[tuple[str, Contact, LinkKey]], depth: int = 0) -> list[RecordOutcome]:
        """One bulk add; `depth` bounds the recovery rounds (look up, then re-send only what is missing)."""
        by_link = {link: key for key, _, link in batch}
        try:
            results = self._bulk("/bulk/contacts/add", [c for _, c, _ in batch], idempotent=False)
        except AuthError:
            raise
        except OutcomeUnknown as exc:
            return self._recover_create(batch, exc.message, depth)
        except ConnectorError as exc:
            return [RecordOutcome(key, "failed", message=exc.message) for key, _, _ in batch]
        outcomes: dict[str, RecordOutcome] = {}
        unmatched: list[dict[str, Any]] = []
        for result in results:
            entity = result.get("entity") if isinstance(result.get("entity"), dict) else None
            # A rejected contact may come back echoed inside its error: its link still names it.
            echoed = (result.get("error") or {}).get("entity")
            linked = entity or (echoed if isinstance(echoed, dict) else {})
            key = next((by_link[link] for link in _links(linked) if link in by_link), None)
            if key is None:
                unmatched.append(result)
            elif result.get("success") and entity is not None:
                outcomes[key] = RecordOutcome(key, "created", record_id=entity.get("id"))
            else:
                outcomes[key] = RecordOutcome(key, "failed", message=_result_message(result))
        missing = [item for item in batch if item[0] not in outcomes]
        if len(missing) == 1 and len(unmatched) == 1 and not unmatched[0].get("success"):
            key = missing[0][0]
            outcomes[key] = RecordOutcome(key, "failed", message=_result_message(unmatched[0]))
        elif missing:
            # Results that name no contact: find out by lookup which exist, and re-send the rest one by one so each
            # gets its own answer.
            reason = f"{len(unmatched)} result(s) of a bulk add could not be matched to a contact"
            for outcome in self._recover_create(missing, reason, depth, one_by_one=True):
                outcomes[outcome.key] = outcome
        return [outcomes[key] for key, _, _ in batch]

    def _recover_create(
        self, batch: list[tuple[str, Contact, LinkKey]], reason: str, depth: int, *, one_by_one: bool = False
    ) -> list[RecordOutcome]:
        """After a create call whose outcome is unknown for `batch`: find which contacts exist (identifier lookup by
        the link) and send only the others again (one by one when their answers could not be told apart), so
        nothing is lost and nothing is created twice. Answers in the order of `batch`."""
        if len(batch) > self.recovery_lookups:
            # One lookup per contact would cost a whole batch of calls (40 s of the budget at 300/min); the next
            # run reads Genesys anyway, links what was created and creates the rest, so nothing is lost or doubled.
            log.warning(
                "bulk add: %s; %d contact(s) left unconfirmed for the next run to link or create", reason, len(batch)
            )
            message = (
                f"outcome unknown ({reason}): the next run links the contact if the service created it, or creates it"
            )
            return [RecordOutcome(key, "unconfirmed", message=message) for key, _, _ in batch]
        log.info("bulk add: %s; checking %d contact(s) before sending again", reason, len(batch))
        outcomes: dict[str, RecordOutcome] = {}
        again: list[tuple[str, Contact, LinkKey]] = []
        for key, contact, link in batch:
            try:
                existing = self._lookup_link(link)
            except ConnectorError as exc:
                outcomes[key] = RecordOutcome(key, "failed", message=f"outcome unknown ({reason}): {exc.message}")
                continue
            if existing is not None:
                outcomes[key] = RecordOutcome(key, "created", record_id=existing.get("id"))
            elif depth >= 2:
                outcomes[key] = RecordOutcome(key, "failed", message=f"not created after retries: {reason}")
            else:
                again.append((key, contact, link))
        groups = [[item] for item in again] if one_by_one else ([again] if again else [])
        for group in groups:
            for outcome in self._create_batch(group, depth + 1):
                outcomes[outcome.key] = outcome
        return [outcomes[key] for key, _, _ in batch]

    def _lookup_link(self, link: LinkKey) -> Contact | None:
        body = {"type": "ExternalId", "value": link[1], "externalSource": {"id": link[0]}}
        try:
            return self._client.post(f"{API}/identifierlookup/contacts", json=body).json()
        except RequestRejected as exc:
            if exc.status == 404:
                return None
            raise

    def update_contacts(
        self, changes: Mapping[str, Mapping[str, Any]], snapshot_modify: Mapping[str, str]
    ) -> WriteReport:
        """Apply field changes to existing contacts, batch by batch: re-fetch the batch, skip any contact whose
        `modifyDate` differs from `snapshot_modify` (reported "changed_since_read"), merge the changes into the
        fetched contact (so no other field is cleared by the whole-contact replace), then `/bulk/contacts/update`.

        Field paths: top-level fields ("firstName", "workEmail"), phones ("workPhone": a string or a PhoneNumber
        dict), "externalOrganization" (an id or `{"id": ...}`), "externalIds" (links upserted per source), and
        dotted paths into objects ("customFields.tags", "address.city"). A value of None clears the field.
        """
        report = WriteReport()
        before = self.api_calls.total
        ids = list(changes)
        for start in range(0, len(ids), self.batch_size):
            for outcome in self._update_batch(ids[start : start + self.batch_size], changes, snapshot_modify):
                report.add(outcome)
        report.api_calls = self.api_calls.total - before
        return report

    def _update_batch(
        self, ids: list[str], changes: Mapping[str, Mapping[str, Any]], snapshot_modify: Mapping[str, str]
    ) -> list[RecordOutcome]:
        outcomes: dict[str, RecordOutcome] = {}
        try:
            found, missing = self._fetch(ids)
        except AuthError:
            raise
        except ConnectorError as exc:
            return [RecordOutcome(i, "failed", message=f"re-fetch before update failed: {exc.message}") for i in ids]
        to_send: list[Contact] = []
        for contact_id in ids:
            fields = dict(changes[contact_id])
            if contact_id in missing:
                outcomes[contact_id] = RecordOutcome(contact_id, "failed", message=missing[contact_id], fields=fields)
                continue
            current = found[contact_id]
            stamp = snapshot_modify.get(contact_id)
            if stamp is None:
                outcomes[contact_id] = RecordOutcome(
                    contact_id, "failed", message="no snapshot modifyDate given for this contact", fields=fields
                )
                continue
            if current.get("modifyDate") != stamp:
                outcomes[contact_id] = RecordOutcome(
                    contact_id,
                    "changed_since_read",
                    record_id=contact_id,
                    message=f"modifyDate {current.get('modifyDate')} differs from the snapshot's {stamp}",
                    fields=fields,
                )
                continue
            try:
                to_send.append(merge_changes(current, fields))
            except (ValueError, TypeError, AttributeError, KeyError) as exc:  # an odd fetched contact fails alone
                message = f"cannot apply the changes to the contact as fetched: {exc}"
                outcomes[contact_id] = RecordOutcome(contact_id, "failed", message=message, fields=fields)
        if to_send:
            try:
                results = self._bulk("/bulk/contacts/update", to_send, idempotent=True)
            except AuthError:
                raise
            except ConnectorError as exc:
                results = [{"id": c["id"], "success": False, "error": {"message": exc.message}} for c in to_send]
            sent = {c["id"] for c in to_send}
            for result in results:
                entity = result.get("entity") if isinstance(result.get("entity"), dict) else {}
                contact_id = result.get("id") or entity.get("id")
                if contact_id not in sent or contact_id in outcomes:
                    continue
                fields = dict(changes[contact_id])
                if result.get("success"):
                    outcomes[contact_id] = RecordOutcome(contact_id, "updated", record_id=contact_id, fields=fields)
                else:
                    outcomes[contact_id] = RecordOutcome(
                        contact_id, "failed", record_id=contact_id, message=_result_message(result), fields=fields
                    )
        for contact_id in ids:
            outcomes.setdefault(
                contact_id,
                RecordOutcome(contact_id, "failed", message="no result returned for this contact"),
            )
        return [outcomes[i] for i in ids]

    def delete_contacts(self, ids: Iterable[str]) -> WriteReport:
        """Remove contacts (`/bulk/contacts/remove`, batched); an id the service does not know is "skipped"."""
        report = WriteReport()
        before = self.api_calls.total
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), self.batch_size):
            chunk = unique[start : start + self.batch_size]
            outcomes: dict[str, RecordOutcome] = {}
            try:
                results = self._bulk("/bulk/contacts/remove", [{"id": i} for i in chunk], idempotent=True)
            except AuthError:
                raise
            except ConnectorError as exc:
                results = [{"id": i, "success": False, "error": {"message": exc.message}} for i in chunk]
            for result in results:
                contact_id = result.get("id")
                if contact_id not in chunk:
                    continue
                if result.get("success"):
                    outcomes[contact_id] = RecordOutcome(contact_id, "deleted", record_id=contact_id)
                elif (result.get("error") or {}).get("status") == 404:
                    outcomes[contact_id] = RecordOutcome(contact_id, "skipped", message=_result_message(result))
                else:
                    outcomes[contact_id] = RecordOutcome(contact_id, "failed", message=_result_message(result))
            for contact_id in chunk:
                report.add(
                    outcomes.get(contact_id)
                    or RecordOutcome(contact_id, "failed", message="no result returned for this contact")
                )
        report.api_calls = self.api_calls.total - before
        return report


# --- pure helpers ----------------------------------------------------------------------------------------------------


def merge_changes(current: Contact, changes: Mapping[str, Any]) -> Contact:
    """The whole contact to send back: `current` (as fetched) with `changes` applied and server-set fields removed.

    Every field not named in `changes` is kept as fetched, so the whole-contact replace clears nothing else.
    Raises ValueError on a path or value that cannot be applied.
    """
    merged = {k: copy.deepcopy(v) for k, v in current.items() if k not in SERVER_SET_FIELDS}
    if "id" not in merged:
        raise ValueError("the fetched contact has no id")
    for path, value in changes.items():
        if not path or path in SERVER_SET_FIELDS or path == "id":
            raise ValueError(f"field {path!r} cannot be written")
        if path in PHONE_FIELDS:
            _set(merged, path, _phone(path, value))
        elif path == "externalOrganization":
            _set(merged, path, _organization(value))
        elif path == "externalIds":
            _set(merged, path, _upsert_links(merged.get("externalIds") or [], value))
        else:
            _set_path(merged, path.split("."), value)
    return merged


def _set(target: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value


def _set_path(target: dict[str, Any], parts: list[str], value: Any) -> None:
    *parents, last = parts
    node = target
    for part in parents:
        child = node.get(part)
        if child is None:
            if value is None:
                return
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ValueError(f"field {'.'.join(parts)!r}: {part!r} is not an object")
        node = child
    _set(node, last, copy.deepcopy(value))
    if parents and not node:
        # An object left empty (e.g. the last custom field removed) is removed too.
        _set_path(target, parents, None)


def _phone(path: str, value: Any) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return {"display": value}
    if isinstance(value, dict) and (value.get("display") or value.get("e164")):
        return dict(value)
    raise ValueError(f"field {path!r}: a phone is a string or a PhoneNumber object, got {value!r}")


def _organization(value: Any) -> dict[str, str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return {"id": value}
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return {"id": value["id"]}
    raise ValueError(f"field 'externalOrganization': expected an id or {{'id': ...}}, got {value!r}")


def _upsert_links(existing: list[dict[str, Any]], value: Any) -> list[dict[str, Any]] | None:
    """Existing links with each given link replacing the one of the same source (other sources' links are kept)."""
    if value is None:
        return None
    given = value if isinstance(value, list) else [value]
    readable = [x for x in existing if isinstance(x, dict)] if isinstance(existing, list) else []
    merged = {_source_id(x): x for x in readable}
    for link in given:
        source_id = _source_id(link) if isinstance(link, dict) else None
        if not source_id or not link.get("value"):
            raise ValueError(f"field 'externalIds': expected {{externalSource: {{id}}, value}}, got {link!r}")
        merged[source_id] = {"externalSource": {"id": source_id}, "value": str(link["value"])}
    return list(merged.values())


def _source_id(link: Mapping[str, Any]) -> Any:
    source = link.get("externalSource")
    return source.get("id") if isinstance(source, dict) else None


def _writable(contact: Contact) -> Contact:
    return {k: v for k, v in contact.items() if k not in SERVER_SET_FIELDS and k != "id"}


def _links(contact: Contact, wanted_source: str | None = None) -> list[LinkKey]:
    """(source id, value) of each readable `externalIds` entry (of `wanted_source` only, when given)."""
    out = []
    links = contact.get("externalIds")
    for link in links if isinstance(links, list) else []:
        source_id = _source_id(link) if isinstance(link, dict) else None
        if not isinstance(source_id, str) or not source_id or (wanted_source and source_id != wanted_source):
            continue
        if isinstance(link.get("value"), str) and link["value"]:
            out.append((source_id, link["value"]))
    return out


def _enrich_links(request: Any) -> list[LinkKey]:
    """The links an enrich request (as echoed in a bulk error) was matched on."""
    if not isinstance(request, dict):
        return []
    found = _links(request["contact"]) if isinstance(request.get("contact"), dict) else []
    for identifier in request.get("matchingIdentifiers") or []:
        if isinstance(identifier, dict) and identifier.get("type") == "ExternalId":
            source = identifier.get("externalSource")
            if (
                isinstance(source, dict)
                and isinstance(source.get("id"), str)
                and isinstance(identifier.get("value"), str)
            ):
                found.append((source["id"], identifier["value"]))
    return found


def _first_link(contact: Contact) -> LinkKey | None:
    links = _links(contact)
    return links[0] if links else None


def _result_message(result: Mapping[str, Any]) -> str:
    error = result.get("error")
    if isinstance(error, dict):
        message = error.get("message") or error.get("code")
        if message:
            return str(message)
    return "the service reported a failure without a message"
