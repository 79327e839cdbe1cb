"""A local simulator of the Microsoft Dynamics 365 (Dataverse) Web API and its OAuth token endpoint.

`DynamicsSimulator` holds the state (SQLite, in memory or in a state folder), the ASGI app behind fault injection,
and helpers tests use directly (seeding, a user's edit or delete, token expiry, clock, change-tracking switch, call
counts). It is served over TLS on 127.0.0.1 (`needs_tls`), as Dataverse only speaks https and Microsoft's clients
refuse anything else; `DYNAMICS_CA_BUNDLE` is the throw-away CA that trusts it. The token endpoint is on the same
host as the Web API, at `{url}/{tenant}/oauth2/v2.0/token` (`DYNAMICS_TOKEN_URL`), and the scope it accepts is
`{url}/.default`. `POST /api/data/v9.2/$batch` takes up to 1000 requests with atomic changesets; a batch counts as
one request toward service protection (unconfirmed). Facts followed: the project's Dataverse Web API reference
notes; error codes they do not settle are named in `errors.py`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from contact_sync.simulators.base import Simulator
from contact_sync.simulators.dynamics.app import API, build_app
from contact_sync.simulators.dynamics.auth import TokenIssuer
from contact_sync.simulators.dynamics.errors import render_fault
from contact_sync.simulators.dynamics.ratelimit import SlidingWindowLimiter
from contact_sync.simulators.dynamics.schema import ACCOUNT, CONTACT
from contact_sync.simulators.dynamics.service import Service, helper_body
from contact_sync.simulators.dynamics.store import Store
from contact_sync.simulators.faults import FaultMiddleware

__all__ = ["API", "DynamicsSimulator"]

DEFAULT_TENANT_ID = "5f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"
DEFAULT_CLIENT_ID = "7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d"
DEFAULT_CLIENT_SECRET = "dynamics-simulator-secret"  # a local simulator's throw-away credential, not a real secret
DELTA_TOKEN_LIFETIME_S = 7 * 86400


class DynamicsSimulator(Simulator):
    """The Dynamics 365 simulator: construct, serve with `serve_simulator` / `run_simulators`, talk to it over HTTP."""

    name: ClassVar[str] = "dynamics"
    needs_tls: ClassVar[bool] = True

    def __init__(
        self,
        state_dir: Path | None = None,
        fault_seed: int = 0,
        *,
        tenant_id: str = DEFAULT_TENANT_ID,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        max_page_size: int = 5000,
        service_protection_limit: int | None = 6000,
        window_s: int = 300,
        change_tracking: bool = True,
        token_lifetime_s: int = 3599,
        delta_token_lifetime_s: float = DELTA_TOKEN_LIFETIME_S,
    ) -> None:
        super().__init__(state_dir, fault_seed)
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.calls: Counter[tuple[str, str]] = Counter()
        self.store = Store(self.state_dir / "dynamics.sqlite3" if self.state_dir is not None else None)
        self.service = Service(
            self.store,
            self.now,
            max_page_size=max_page_size,
            change_tracking=change_tracking,
            delta_token_lifetime_s=delta_token_lifetime_s,
        )
        self.tokens = TokenIssuer(self.store, tenant_id, client_id, client_secret, token_lifetime_s, self.timestamp)
        self.rate_limiter = SlidingWindowLimiter(service_protection_limit, window_s, self.timestamp)
        app = build_app(
            self.service, self.tokens, self.rate_limiter, self.calls, lambda: {self.url} if self.url else set()
        )
        self.app = FaultMiddleware(app, self.faults, render_fault)

    def __repr__(self) -> str:
        return (
            f"DynamicsSimulator(url={self.url!r}, tenant_id={self.tenant_id!r}, client_id={self.client_id!r}, "
            "client_secret='***')"
        )

    @property
    def token_url(self) -> str:
        return f"{self.url}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def api_url(self) -> str:
        """The Web API root clients call: `{url}/api/data/v9.2`."""
        return f"{self.url}{API}"

    # --- Simulator ---

    def env(self) -> dict[str, str]:
        return {
            "DYNAMICS_URL": self.url,
            "DYNAMICS_TENANT_ID": self.tenant_id,
            "DYNAMICS_CLIENT_ID": self.client_id,
            "DYNAMICS_CLIENT_SECRET": self.client_secret,
            "DYNAMICS_TOKEN_URL": self.token_url,
            "DYNAMICS_CA_BUNDLE": self.ca_bundle or "",
        }

    def close(self) -> None:
        self.store.close()

    def reset(self) -> None:
        """Empty every table, forget tokens, service-protection history, call counts and fault rules."""
        self.store.clear()
        self.rate_limiter.reset()
        self.calls.clear()
        self.faults.clear()

    # --- test and seed helpers (direct, no HTTP) ---

    def load_accounts(self, rows: list[dict[str, Any]]) -> list[str]:
        """Create accounts (columns as the Web API names them: name, telephone1 ...); their new ids in order."""
        return self.service.load(ACCOUNT, rows)

    def load_contacts(self, rows: list[dict[str, Any]]) -> list[str]:
        """Create contacts (firstname, lastname, emailaddress1, telephone1, mobilephone, `parentcustomerid`: an
        account id; optionally contactid, createdon, modifiedon, statecode), validated as a create; ids in order."""
        return self.service.load(CONTACT, rows)

    def edit_contact(self, contact_id: str, **columns: Any) -> None:
        """A user's edit in the app: set these columns (None clears one); bumps modifiedon and versionnumber."""
        self.service.upsert(CONTACT, contact_id.lower(), helper_body(CONTACT, columns), "*", None)

    def delete_contact(self, contact_id: str) -> None:
        """A user's hard delete: the row is gone, and the next change-tracking delta reports it deleted."""
        self.service.delete(CONTACT, contact_id.lower())

    def contact(self, contact_id: str) -> dict[str, Any] | None:
        """The contact as the Web API would return it (all columns, `@odata.etag`), or None."""
        row = self.store.read_row(CONTACT, contact_id.lower())
        return None if row is None else self.service.render(CONTACT, row, None)

    def account(self, account_id: str) -> dict[str, Any] | None:
        row = self.store.read_row(ACCOUNT, account_id.lower())
        return None if row is None else self.service.render(ACCOUNT, row, None)

    def count(self) -> int:
        """How many contacts there are."""
        return self.store.count(CONTACT)

    def expire_tokens(self) -> None:
        """Every token issued so far expires (the next call with one gets 401 `invalid_token`)."""
        self.tokens.expire_all()

    def set_change_tracking(self, enabled: bool) -> None:
        """Turn the contact and account tables' "Track changes" on or off (off: track-changes reads are refused)."""
        self.service.change_tracking = enabled

    def set_service_protection(self, limit: int | None, window_s: int | None = None) -> None:
        """Requests per client per sliding window (default 6000 per 300 s); None turns it off. Clears the window."""
        self.rate_limiter.configure(limit, window_s)
