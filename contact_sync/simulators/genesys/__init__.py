"""A local simulator of the Genesys Cloud external contacts API (and its OAuth token endpoint) for tests and the demo.

`GenesysSimulator` holds the state (SQLite, in memory or in a state folder), the ASGI app behind fault injection, and
helpers tests use directly (seeding, an agent's edit, token expiry, rate limit and clock control, call counts).
Behaviour follows the project's reference notes on the Genesys Cloud API (genesys-cloud-api.md); choices where the real
service is not documented are named in `validation.py`, `service.py` and `exports.py` (contact exports: an
asynchronous job of `export_delay_s` whose file format, `export_format`, Genesys does not document). Not simulated:
contact merge (`/contacts/merge`), notes, relationships, schemas.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from contact_sync.simulators.base import Simulator
from contact_sync.simulators.faults import FaultMiddleware
from contact_sync.simulators.genesys.app import build_app
from contact_sync.simulators.genesys.auth import TokenIssuer
from contact_sync.simulators.genesys.errors import render_fault
from contact_sync.simulators.genesys.exports import FILE_FORMATS, Exports
from contact_sync.simulators.genesys.ratelimit import RateLimiter
from contact_sync.simulators.genesys.service import HOME_DIVISION_ID, Service, iso_ms
from contact_sync.simulators.genesys.store import Store

__all__ = ["GenesysSimulator"]

DEFAULT_CLIENT_ID = "contact-sync-genesys-client"
DEFAULT_CLIENT_SECRET = "genesys-simulator-secret"  # a local simulator's throw-away credential, not a real secret


class GenesysSimulator(Simulator):
    """The Genesys Cloud simulator: construct, serve with `serve_simulator` / `run_simulators`, talk to it over HTTP."""

    name: ClassVar[str] = "genesys"
    needs_tls: ClassVar[bool] = False

    def __init__(
        self,
        state_dir: Path | None = None,
        fault_seed: int = 0,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        rate_limit_per_minute: int | None = 300,
        token_lifetime_s: int = 86400,
        bulk_max: int = 200,
        search_cap: int = 1000,
        default_country: str = "US",
        shuffle_seed: int | None = None,
        export_delay_s: float = 1.0,
        export_format: str = "jsonl.gz",
        enrich: bool = True,
    ) -> None:
        """`enrich=False` serves no `contacts/enrich` routes (404), as for an org whose client lacks the permission."""
        super().__init__(state_dir, fault_seed)
        self.client_id = client_id
        self.client_secret = client_secret
        self.calls: Counter[tuple[str, str]] = Counter()
        self.store = Store(self.state_dir / "genesys.sqlite3" if self.state_dir is not None else None)
        self.service = Service(
            self.store,
            clock=self.now,
            default_country=default_country,
            bulk_max=bulk_max,
            search_cap=search_cap,
            seed=fault_seed if shuffle_seed is None else shuffle_seed,
        )
        self.tokens = TokenIssuer(self.store, client_id, client_secret, token_lifetime_s, self.timestamp)
        self.rate_limiter = RateLimiter(rate_limit_per_minute, self.timestamp)
        if export_format not in FILE_FORMATS:
            raise ValueError(f"export_format must be one of {', '.join(FILE_FORMATS)}, got {export_format!r}")
        self.exports = Exports(self.now, iso_ms, HOME_DIVISION_ID)
        self.exports.delay_s, self.exports.file_format = export_delay_s, export_format
        app = build_app(
            self.service, self.tokens, self.rate_limiter, self.calls, self.exports, self.faults.fails_job, enrich=enrich
        )
        self.app = FaultMiddleware(app, self.faults, render_fault)

    def __repr__(self) -> str:
        return f"GenesysSimulator(url={self.url!r}, client_id={self.client_id!r}, client_secret='***')"

    # --- Simulator ---

    def env(self) -> dict[str, str]:
        return {
            "GENESYS_API_URL": self.url,
            "GENESYS_CLIENT_ID": self.client_id,
            "GENESYS_CLIENT_SECRET": self.client_secret,
        }

    def close(self) -> None:
        self.store.close()

    def reset(self) -> None:
        """Empty every table, forget issued tokens, rate-limit history, call counts and fault rules."""
        self.store.clear()
        self.rate_limiter.reset()
        self.calls.clear()
        self.faults.clear()
        self.service.reset_shuffle()
        self.exports.reset()

    # --- test and seed helpers (direct, no HTTP) ---

    def load_organizations(self, rows: list[dict[str, Any]]) -> list[str]:
        """Create ExternalOrganization-shaped rows (validated as a create); their new ids in order."""
        return self.service.load_organizations(rows)

    def load_contacts(self, rows: list[dict[str, Any]]) -> list[str]:
        """Create ExternalContact-shaped rows (validated and normalized as a create); their new ids in order."""
        return self.service.load_contacts(rows)

    def edit_contact(self, contact_id: str, changes: dict[str, Any]) -> None:
        """An agent's edit in the UI: set these fields (None clears one), keep the rest, bump modifyDate."""
        self.service.edit_contact(contact_id, changes)

    def contact(self, contact_id: str) -> dict[str, Any] | None:
        return self.store.get_contact(contact_id)

    def count(self) -> int:
        return self.store.count_contacts()

    def expire_tokens(self) -> None:
        """Every token issued so far becomes invalid (the next call with one gets 401)."""
        self.tokens.expire_all()

    def set_rate_limit(self, per_minute: int | None) -> None:
        """Requests per minute per token; None or 0 turns the limit off. Clears the current window."""
        self.rate_limiter.set_limit(per_minute)
