"""A local Salesforce org: REST (query, sObjects, Collections, replication), Bulk API 2.0 queries and logins.

`SalesforceSimulator` is served over TLS by `serve_simulator` / `run_simulators`; the real simple-salesforce client
works against it unchanged, given a `requests.Session` whose `verify` is the simulator's `ca_bundle`:

- session id: get a token from `POST {url}/services/oauth2/token` (or `sim.new_session()`), then
  `Salesforce(session_id=token, instance_url=sim.url, session=s)`.
- OAuth through the library: `Salesforce(consumer_key=..., consumer_secret=..., domain=sim.login_domain, session=s)`
  (client_credentials) or with `username`/`password` added (password grant).
- SOAP username/password/token: `Salesforce(username=..., password=..., security_token=..., domain=sim.login_domain,
  session=s)`. The library builds its login URL as `https://{domain}.salesforce.com/services/...`; with
  `domain = "127.0.0.1:PORT/login"` that becomes `https://127.0.0.1:PORT/login.salesforce.com/services/...`, a path
  on the simulator, which serves its login routes under any `/{name}.salesforce.com/` prefix. The login reply's
  `serverUrl`/`instance_url` is the simulator's own URL, so every later call goes to it too, and an expired session
  is renewed by the library's own re-login. No patching of the library is involved.

Served (all under `/services/data/v50.0` .. `v62.0`): `query`, `queryAll` and their `nextRecordsUrl` pages (SOQL
subset: see `soql.py`), `sobjects/{Contact|Account}` create/read/update/delete and `describe`, upsert by the external
id `Genesys_Id__c`, `sobjects/Contact/updated/` and `deleted/`, `composite/sobjects` POST/PATCH/DELETE, Bulk API 2.0
`jobs/query` and `jobs/ingest` (insert, update, upsert, delete; one CSV upload a job; results as CSV: `ingest.py`),
`composite/sobjects/{sobject}` retrieve (GET `?ids=&fields=`, POST), `limits/` (every key a real org answers:
`limits.py`); plus `/services/oauth2/token` (password, client_credentials and refresh_token grants; the refresh token
the org honours is `sim.refresh_token`, not in `env()`, so a client picks it on purpose) and
`/services/Soap/u/{version}`.

State is SQLite (see `store.py`, which also explains how SystemModstamp always moves forward): sessions are stored
there as well, so a restarted simulator on the same state folder still accepts the sessions it issued (until
`expire_sessions()`). Query cursors, Bulk jobs and the daily API usage count live in the serving process and start
afresh on a restart (as after a day boundary).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

from contact_sync.simulators.base import Simulator
from contact_sync.simulators.faults import FaultMiddleware
from contact_sync.simulators.salesforce.app import SalesforceApp
from contact_sync.simulators.salesforce.auth import Credentials, new_session_id
from contact_sync.simulators.salesforce.errors import render_fault
from contact_sync.simulators.salesforce.ids import normalize_id
from contact_sync.simulators.salesforce.schema import ACCOUNT, CONTACT
from contact_sync.simulators.salesforce.store import RecordErrors, Store

__all__ = ["RecordErrors", "SalesforceSimulator"]


class SalesforceSimulator(Simulator):
    """The Salesforce simulator: credentials, state, the ASGI app (behind fault injection) and test helpers.

    `daily_api_limit`: API calls allowed before 403 REQUEST_LIMIT_EXCEEDED. `duplicate_rule`: when True, API creates
    and updates of a contact whose Email (ignoring case) another live contact already has are refused with
    DUPLICATES_DETECTED, like an active duplicate rule; the direct helpers (`load_contacts`, ...) never apply it.
    """

    name: ClassVar[str] = "salesforce"
    needs_tls: ClassVar[bool] = True

    def __init__(
        self,
        state_dir: Path | None = None,
        fault_seed: int = 0,
        *,
        client_id: str = "3MVG9sim.contact-sync.client",
        client_secret: str = "sim-client-secret-0123456789",
        username: str = "integration@contact-sync.sim",
        password: str = "sim-password",
        security_token: str = "simSecurityToken0123",
        refresh_token: str = "5Aep861sim.contact-sync.refresh.0123456789",
        daily_api_limit: int = 100_000,
        duplicate_rule: bool = False,
    ) -> None:
        super().__init__(state_dir, fault_seed)
        self.client_id = client_id
        self.client_secret = client_secret
        self.username = username
        self.password = password
        self.security_token = security_token
        self.refresh_token = refresh_token
        self.daily_api_limit = daily_api_limit
        self.calls: Counter = Counter()
        self.store = Store(self.state_dir, self.now)
        creds = Credentials(client_id, client_secret, username, password, security_token, refresh_token)
        self.api = SalesforceApp(self.store, creds, lambda: self.url, daily_api_limit, self.calls, duplicate_rule)
        self.app = FaultMiddleware(self.api, self.faults, render_fault)

    def __repr__(self) -> str:
        return f"SalesforceSimulator(url={self.url!r}, state_dir={self.state_dir!r})"

    # -- configuration ------------------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        return {
            "SALESFORCE_INSTANCE_URL": self.url,
            "SALESFORCE_CLIENT_ID": self.client_id,
            "SALESFORCE_CLIENT_SECRET": self.client_secret,
            "SALESFORCE_USERNAME": self.username,
            "SALESFORCE_PASSWORD": self.password,
            "SALESFORCE_SECURITY_TOKEN": self.security_token,
            "SALESFORCE_CA_BUNDLE": self.ca_bundle or "",
        }

    @property
    def login_domain(self) -> str:
        """The `domain` argument that makes simple-salesforce's own login calls reach this simulator."""
        parsed = urlparse(self.url)
        return f"{parsed.hostname}:{parsed.port}/login"

    @property
    def api_usage(self) -> int:
        """API calls counted against the daily allocation so far."""
        return self.api.api_used

    @api_usage.setter
    def api_usage(self, value: int) -> None:
        self.api.api_used = value

    # -- sessions -----------------------------------------------------------------------------------------------
    def new_session(self) -> str:
        """Issue a session id directly (as if a login had happened)."""
        token = new_session_id()
        self.store.add_session(token)
        return token

    def expire_sessions(self) -> None:
        """Every session issued so far becomes invalid (401 INVALID_SESSION_ID)."""
        self.store.expire_sessions()

    # -- data helpers (direct, no HTTP) ---------------------------------------------------------------------------
    def load_accounts(self, rows: list[dict[str, Any]]) -> list[str]:
        """Insert accounts (`{"Name": ...}`) in one transaction; returns their new Ids. Raises RecordErrors."""
        return self._load(ACCOUNT, rows)

    def load_contacts(self, rows: list[dict[str, Any]]) -> list[str]:
        """Insert contacts (API field names), validated like an API create; returns the new Ids in order.
        Raises `RecordErrors` (nothing written) when any row is invalid."""
        return self._load(CONTACT, rows)

    def _load(self, obj: Any, rows: list[dict[str, Any]]) -> list[str]:
        results = self.store.create(obj, rows, all_or_none=True)
        failed = [
            {**e, "message": f"row {i}: {e['message']}"}
            for i, r in enumerate(results)
            for e in r["errors"]
            if e["statusCode"] != "ALL_OR_NONE_OPERATION_ROLLED_BACK"
        ]
        if failed:
            raise RecordErrors(failed)
        return [r["id"] for r in results]

    def edit_contact(self, contact_id: str, **fields: Any) -> None:
        """A user's edit in the Salesforce UI: validated, bumps LastModifiedDate and SystemModstamp."""
        result = self.store.update(CONTACT, [(contact_id, fields)])[0]
        if not result["success"]:
            raise RecordErrors(result["errors"])

    def automation_edit(self, contact_id: str, **fields: Any) -> None:
        """A change by automation (a flow, a trigger): bumps SystemModstamp only, not LastModifiedDate."""
        result = self.store.update(CONTACT, [(contact_id, fields)], by_user=False)[0]
        if not result["success"]:
            raise RecordErrors(result["errors"])

    def delete_contact(self, contact_id: str) -> None:
        """Soft delete (IsDeleted; only queryAll and the deleted/ endpoint see it afterwards)."""
        result = self.store.delete(CONTACT, [contact_id])[0]
        if not result["success"]:
            raise RecordErrors(result["errors"])

    def merge(self, master_id: str, loser_ids: list[str]) -> None:
        """Merge contacts: losers are soft-deleted with MasterRecordId = master; the master's stamps are bumped."""
        self.store.merge(CONTACT, master_id, loser_ids)

    def contact(self, contact_id: str) -> dict[str, Any] | None:
        """The current row (deleted ones included) with API field names, or None."""
        record_id = normalize_id(contact_id)
        return self.store.get(CONTACT, record_id) if record_id else None

    def account(self, account_id: str) -> dict[str, Any] | None:
        record_id = normalize_id(account_id)
        return self.store.get(ACCOUNT, record_id) if record_id else None

    def count(self, include_deleted: bool = False) -> int:
        """Number of contacts (live only unless `include_deleted`)."""
        return self.store.count(CONTACT, include_deleted)

    def reset(self) -> None:
        """Empty the org: records, cursors, bulk jobs, API usage, call counts and fault rules (sessions stay valid)."""
        self.store.reset()
        self.api.reset()
        self.calls.clear()
        self.faults.clear()

    def close(self) -> None:
        self.store.close()
