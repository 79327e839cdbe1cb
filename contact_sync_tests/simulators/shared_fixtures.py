"""What the simulator test fixtures share: a clock tests move by hand, and one TLS context for plain-http clients."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta

from contact_sync.simulators.base import Simulator

# Plain http, but httpx builds a TLS context for every client: build it once (loading CA bundles is slow).
TLS = ssl.create_default_context()
_TLS: dict[str, ssl.SSLContext] = {}


def tls(sim: Simulator) -> ssl.SSLContext:
    """One TLS context per CA bundle that trusts a simulator served over TLS (built once: loading one is slow)."""
    assert sim.ca_bundle, f"the {sim.name} simulator is served over TLS"
    if sim.ca_bundle not in _TLS:
        _TLS[sim.ca_bundle] = ssl.create_default_context(cafile=sim.ca_bundle)
    return _TLS[sim.ca_bundle]


class TestClock:
    """A clock tests move by hand, for a simulator's `set_clock`."""

    __test__ = False

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
