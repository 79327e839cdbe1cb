"""A local HubSpot account: the CRM v3 objects API for contacts and companies, the v4 association routes a sync uses,
and the OAuth token endpoint, faithful to what the official Python client (`hubspot-api-client`) sends and accepts.

`HubSpotSimulator` is served over TLS by `serve_simulator` / `run_simulators` (HubSpot is https only). The official
client works against it unchanged once it is told the simulator's URL and CA bundle. The client builds a new
`Configuration` and `ApiClient` (with its urllib3 pool, which reads `ssl_ca_cert` only then) every time an API
object is accessed, copying the keyword arguments given to `HubSpot(...)` onto it, so those go to the constructor:

    client = HubSpot(access_token=sim.access_token, host=sim.url, ssl_ca_cert=sim.ca_bundle)
    client.crm.contacts.basic_api.get_page(limit=100)

(Setting `api.api_client.configuration.host` on one API object works for the host, but not for the CA bundle: its
pool is already built by then.) OAuth: `client.oauth.tokens_api.create(grant_type="refresh_token",
client_id=sim.client_id, client_secret=sim.client_secret, refresh_token=sim.refresh_token)`, then
`HubSpot(access_token=<that access_token>, host=..., ssl_ca_cert=...)`.

Served (contacts and companies alike, under `/crm/v3/objects/{type}`): list (`limit` 1..100, default 10, `after`,
`properties`, `archived`, `associations`), get by id or by a unique `idProperty`, create (with `associations`),
update (PATCH), archive (DELETE, 204), `batch/read|create|update|upsert|archive` (100 inputs at most), `search`,
`merge`; `PUT /crm/v4/objects/{from}/{id}/associations/default/{to}/{toId}`,
`POST /crm/v4/associations/{from}/{to}/batch/associate/default`, `GET /crm/v4/objects/{type}/{id}/associations/{to}`,
`DELETE /crm/v4/objects/{type}/{id}/associations/{to}/{toId}`; `POST /oauth/v1/token` (refresh_token and
authorization_code grants). Not simulated: the properties, lists, owners, imports and exports APIs,
`propertiesWithHistory` (accepted and ignored), GDPR delete, association labels other than the defaults.

Behaviour, from the reference note `hubspot-crm-api.md`, the client's generated models and HubSpot's public docs;
where HubSpot's behaviour is not documented, the choice made is marked (unconfirmed):

- Reads return the requested properties that exist (a requested one without a value as null) plus `createdate`,
  `hs_object_id` and `lastmodifieddate` (companies: `hs_lastmodifieddate`); with none requested, contacts give
  `createdate, email, firstname, hs_object_id, lastmodifieddate, lastname`, companies `createdate, domain,
  hs_lastmodifieddate, hs_object_id, name`. Write answers (create, update, batch writes, merge) carry every property
  with a value (unconfirmed). An empty string clears a value.
- Ids are numeric strings handed out in increasing order: contacts from 101, companies from 10,000,001 (distinct
  ranges, so an id of the wrong type is found out).
- Emails: unique among live contacts, ignoring case; stored lower-cased (`lowercase_emails`, unconfirmed);
  validated by format (a local part without quotes or spaces, a domain whose last label is 2-63 letters: HubSpot
  checks the TLD against IANA's list, the simulator only its shape).
- Single create (or an update) with a taken email: 409 `Contact already exists. Existing ID: <id>`. Batch create is
  all or nothing as HubSpot documents it, unless every input carries an `objectWriteTraceId`, HubSpot's opt-in for
  multi-status batch creates: then failed inputs come back in `errors` (207) with `context.objectWriteTraceId`, the
  rest are created. All-or-nothing, a taken email answers the same 409 as a single create (for the first taken
  one, as HubSpot does), two inputs with the same email 409 `Duplicate email values found in batch input`
  (unconfirmed wording). A taken value of a unique custom property (e.g. `genesys_id`) also answers 409
  (unconfirmed; HubSpot's wording unknown).
- Batch read / update: ids that do not exist are reported in a 207 (`OBJECT_NOT_FOUND`, `context.ids`); an invalid
  value or a taken unique value fails the whole batch (400 / 409, unconfirmed); duplicate ids answer 400. Batch
  upsert needs an `idProperty` naming a unique property (email or a unique custom one), fails whole on any invalid
  input, and marks each result `new`. Batch archive and DELETE answer 204 for unknown ids too. Every 207 error entry
  carries `links: {}` and `errors: []`, which the client's `StandardError` model requires.
- Search: filterGroups ORed, filters ANDed (5 groups, 6 filters a group, 18 in all), one sort at most, `limit` 1..100
  (else 400), `after` an offset; `total` counts every match; a request with `after` at or past
  `search_result_cap` answers 400 VALIDATION_ERROR (the page that reaches the cap still offers `paging.next`, as the
  real service does, and the cap clips the last page). Archived records never match. Search is eventually
  consistent: with `search_lag_s` > 0, records whose last write is younger than that are left out (entirely: the
  real service may still show their previous version). Ties and unsorted searches are in id order.
- Merge: as HubSpot's changelog "Updated merge functionality for contacts and companies" describes, the result is a
  new record with a new id (`merge_new_id=True`; False keeps the primary's id, the older behaviour); the primary's
  values win and the other's fill its gaps; associations are combined; `hs_merged_object_ids` lists the merged ids,
  `hs_additional_emails` the other contact's email. Both old ids keep resolving to the result (GET, PATCH, batch
  read/update, associations), and the other's email still counts as taken, by the result. The merged-away records
  are neither listed nor in `archived=true` lists (unconfirmed).
- Associations: `associations=companies` on a contact read gives `{companies: {results: [{id, type:
  "contact_to_company"}]}}` (one entry per company; HubSpot also lists a `contact_to_company_unlabeled` entry for
  the primary company, the simulator does not model primaries). Default association type ids: 279 contact->company,
  280 company->contact. Associating moves both records' last-modified dates (HubSpot updates their association
  count properties). The v4 batch associate answers 200 with `numErrors`/`errors` for pairs naming a missing record
  (unconfirmed; the client's model of that endpoint has no 207); v4 batches take up to 2000 inputs.
- Auth: 401 INVALID_AUTHENTICATION ("Authentication credentials not found. ...") for a missing or unknown token;
  an expired OAuth token gets 401 EXPIRED_AUTHENTICATION, as HubSpot answers it. `expire_tokens()` expires the
  OAuth access tokens; the private-app token never expires (HubSpot's do not).
- Limits: 10-second rolling window per token (429 policyName TEN_SECONDLY_ROLLING, message "You have reached your
  ten_secondly_rolling limit.", HubSpot's wording; the reference note quotes the secondly one for it), search per
  second per account (policyName SECONDLY, "You have reached your secondly limit."), daily per account at midnight
  UTC (policyName DAILY; HubSpot resets in the account's time zone). Search calls count against the search limit and
  the daily allocation only (unconfirmed). Rate-limit headers go on every answer except search answers (HubSpot
  documents that search answers carry none). 429s of the limiter carry no `Retry-After` (HubSpot documents none for
  API clients); 429 and 503 faults carry the rule's, as every simulator's do.
- Errors: unknown routes 404 (`Unable to route GET url: ...`), wrong methods 405 (`HTTP 405 Method Not Allowed`),
  malformed JSON 400 VALIDATION_ERROR `Invalid input JSON on line L, column C: ...`, a record that does not exist 404
  OBJECT_NOT_FOUND (`resource not found`), merging or associating a missing record 404 (unconfirmed), faults in
  HubSpot's shape (500 `internal error`, 503, 429 with the policy of the rule's path, `expired_token` as the expired
  OAuth token's 401). Every error body has `correlationId`, equal to the `X-HubSpot-Correlation-Id` header.
- Stamps: `lastmodifieddate` moves forward on every write, strictly increasing even within one millisecond (see
  `store.py`).

State is SQLite (`state_dir/hubspot.sqlite3`, else in memory): records, associations, property definitions and OAuth
access tokens survive a restart on the same folder; rate-limit windows and call counts start afresh.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from contact_sync.simulators.base import Simulator
from contact_sync.simulators.faults import FaultMiddleware
from contact_sync.simulators.hubspot.app import build_app
from contact_sync.simulators.hubspot.auth import Auth
from contact_sync.simulators.hubspot.errors import render_fault
from contact_sync.simulators.hubspot.ratelimit import RateLimiter
from contact_sync.simulators.hubspot.schema import CONTACTS
from contact_sync.simulators.hubspot.service import Service
from contact_sync.simulators.hubspot.store import ARCHIVED, LIVE, Store

__all__ = ["HubSpotSimulator"]

# A local simulator's throw-away credentials, not real secrets.
DEFAULT_ACCESS_TOKEN = "pat-na1-5e1f0c2a-0000-4000-8000-contactsync01"
DEFAULT_CLIENT_ID = "2f7c1d3e-0000-4000-8000-contactsyncapp"
DEFAULT_CLIENT_SECRET = "hubspot-simulator-client-secret"
DEFAULT_REFRESH_TOKEN = "na1-refresh-0000-4000-8000-contactsync"
DEFAULT_AUTH_CODE = "na1-authcode-contactsync"


class HubSpotSimulator(Simulator):
    """The HubSpot simulator: construct, serve with `serve_simulator` / `run_simulators`, talk to it over HTTPS.

    Options (keyword only, so `options={"hubspot": {...}}` can pass them): `access_token` (the private-app token),
    `client_id`, `client_secret`, `refresh_token`, `auth_code` (the OAuth app), `token_lifetime_s` (OAuth access
    tokens, 1800), `rate_limit_per_10s` (per token, 190; None turns it off), `search_rate_limit_per_s` (5; None
    off), `daily_limit` (1,000,000; None off), `search_result_cap` (10,000), `search_lag_s` (0), `batch_max` (100),
    `page_max` (100), `merge_new_id` (True), `lowercase_emails` (True), `custom_properties` (extra property
    definitions by object type, e.g. `{"contacts": ["tier", {"name": "ext_key", "unique": True}]}`; `genesys_id` is
    always a unique custom contact property).
    """

    name: ClassVar[str] = "hubspot"
    needs_tls: ClassVar[bool] = True

    def __init__(
        self,
        state_dir: Path | None = None,
        fault_seed: int = 0,
        *,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        refresh_token: str = DEFAULT_REFRESH_TOKEN,
        auth_code: str = DEFAULT_AUTH_CODE,
        token_lifetime_s: int = 1800,
        rate_limit_per_10s: int | None = 190,
        search_rate_limit_per_s: int | None = 5,
        daily_limit: int | None = 1_000_000,
        search_result_cap: int = 10_000,
        search_lag_s: float = 0.0,
        batch_max: int = 100,
        page_max: int = 100,
        merge_new_id: bool = True,
        lowercase_emails: bool = True,
        custom_properties: dict[str, list[str | dict[str, Any]]] | None = None,
    ) -> None:
        super().__init__(state_dir, fault_seed)
        self.access_token = access_token
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.auth_code = auth_code
        self.calls: Counter[str] = Counter()
        self.store = Store(self.state_dir / "hubspot.sqlite3" if self.state_dir is not None else None)
        self.service = Service(
            self.store,
            clock=self.now,
            search_result_cap=search_result_cap,
            search_lag_s=search_lag_s,
            batch_max=batch_max,
            page_max=page_max,
            merge_new_id=merge_new_id,
            lowercase_emails=lowercase_emails,
            custom_properties=custom_properties,
        )
        self.auth = Auth(
            self.store,
            private_token=access_token,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            auth_code=auth_code,
            lifetime_s=token_lifetime_s,
            now=self.timestamp,
        )
        self.rate_limiter = RateLimiter(rate_limit_per_10s, search_rate_limit_per_s, daily_limit, self.timestamp)
        self.app = FaultMiddleware(
            build_app(self.service, self.auth, self.rate_limiter, self.calls), self.faults, render_fault
        )

    def __repr__(self) -> str:
        return f"HubSpotSimulator(url={self.url!r}, client_id={self.client_id!r}, access_token='***')"

    # --- Simulator ---

    def env(self) -> dict[str, str]:
        return {
            "HUBSPOT_API_URL": self.url,
            "HUBSPOT_ACCESS_TOKEN": self.access_token,
            "HUBSPOT_CA_BUNDLE": self.ca_bundle or "",
        }

    def close(self) -> None:
        self.store.close()

    def reset(self) -> None:
        """Empty everything: records, associations, custom properties added since construction, OAuth tokens,
        rate-limit windows and the daily count, call counts and fault rules."""
        self.store.clear()
        self.store.clear_properties()
        self.service.seed_properties()
        self.rate_limiter.reset()
        self.calls.clear()
        self.faults.clear()

    # --- settings ---

    @property
    def search_lag_s(self) -> float:
        """Seconds a written record stays out of search results (eventual consistency)."""
        return self.service.search_lag_s

    @search_lag_s.setter
    def search_lag_s(self, value: float) -> None:
        self.service.search_lag_s = value

    @property
    def search_result_cap(self) -> int:
        return self.service.search_result_cap

    @search_result_cap.setter
    def search_result_cap(self, value: int) -> None:
        self.service.search_result_cap = value

    def set_rate_limits(self, **limits: int | None) -> None:
        """Change `per_10s`, `search_per_s` and/or `daily` (None or 0: off); clears the current windows."""
        self.rate_limiter.set_limits(**limits)

    @property
    def daily_used(self) -> int:
        """API calls counted against today's allocation."""
        return self.rate_limiter.daily_used

    def add_property(self, object_type: str, name: str, type: str = "string", unique: bool = False) -> None:
        """Define a custom property of `contacts` or `companies` (`type`: string, number, datetime, bool)."""
        self.service.add_property(object_type, name, type, unique)

    # --- tokens ---

    def issue_token(self) -> str:
        """A new OAuth access token, as a refresh grant would return it."""
        return self.auth.issue()["access_token"]

    def expire_tokens(self) -> None:
        """Every OAuth access token issued so far expires now (the next call with one gets 401)."""
        self.auth.expire_all()

    # --- test and seed helpers (direct, no HTTP, no limits) ---

    def load_contacts(self, rows: list[dict[str, Any]]) -> list[str]:
        """Insert contacts from property maps in one transaction, skipping the API's rules; their new ids in order."""
        return self.service.load("contacts", rows)

    def load_companies(self, rows: list[dict[str, Any]]) -> list[str]:
        return self.service.load("companies", rows)

    def contacts(self, archived: bool = False) -> list[dict[str, Any]]:
        """Every live (or every archived) contact, with all its properties, in id order."""
        return self.service.records("contacts", archived)

    def companies(self, archived: bool = False) -> list[dict[str, Any]]:
        return self.service.records("companies", archived)

    def contact(self, contact_id: str | int) -> dict[str, Any] | None:
        """The contact an id names with all its properties (archived ones too; a merged id gives the merged one)."""
        return self.service.record("contacts", contact_id)

    def company(self, company_id: str | int) -> dict[str, Any] | None:
        return self.service.record("companies", company_id)

    def edit_contact(self, contact_id: str | int, properties: dict[str, Any]) -> None:
        """A user's edit in the HubSpot UI: set these properties (None or "" clears one), move lastmodifieddate."""
        self.service.edit("contacts", contact_id, properties)

    def archive_contact(self, contact_id: str | int) -> None:
        """A user deletes the contact (it is archived: only `archived=true` reads see it)."""
        self.service.archive("contacts", [str(contact_id)])

    def merge_contacts(self, primary_id: str | int, other_id: str | int) -> str:
        """A user merges two contacts in the HubSpot UI (see the service's `merge`); the id of the merged record."""
        _, body = self.service.merge("contacts", {"primaryObjectId": str(primary_id), "objectIdToMerge": str(other_id)})
        return str(body["id"])

    def associate(self, contact_id: str | int, company_id: str | int) -> None:
        """Associate a contact with a company (the default association)."""
        self.service.link(contact_id, company_id)

    def count_contacts(self, archived: bool = False) -> int:
        """How many live (or archived) contacts there are."""
        return self.store.count(CONTACTS, ARCHIVED if archived else LIVE)
