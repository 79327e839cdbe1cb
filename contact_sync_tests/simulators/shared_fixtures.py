"""What the simulator test fixtures share: a clock tests move by hand, and one TLS context for plain-http clients."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta

# Plain http, but httpx builds a TLS context for every client: build it once (loading CA bundles is slow).
TLS = ssl.create_default_context()


class TestClock:
    """A clock tests move by hand, for a simulator's `set_clock`."""

    __test__ = False

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
