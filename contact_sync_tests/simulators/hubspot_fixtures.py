"""Fixtures and helpers for the HubSpot simulator tests: a served simulator (TLS), the official `hubspot-api-client`
pointed at it, an httpx client for wire-level checks, and a test clock.

Test modules import the fixtures they use (`from contact_sync_tests.simulators.hubspot_fixtures import ...`).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hubspot import HubSpot

from contact_sync.simulators import serve_simulator
from contact_sync.simulators.hubspot import HubSpotSimulator
from contact_sync_tests.simulators.shared_fixtures import TestClock, tls

CONTACTS = "/crm/v3/objects/contacts"
COMPANIES = "/crm/v3/objects/companies"


def hubspot_client(sim: HubSpotSimulator, token: str | None = None) -> HubSpot:
    """The official client, as a user configures it for this simulator: URL and CA bundle go to the constructor."""
    return HubSpot(access_token=token or sim.access_token, host=sim.url, ssl_ca_cert=sim.ca_bundle)


def http_client(sim: HubSpotSimulator, token: str | None = None) -> httpx.Client:
    """An httpx client of the simulator with a Bearer token (the private-app one unless given)."""
    headers = {"Authorization": f"Bearer {token or sim.access_token}"}
    return httpx.Client(base_url=sim.url, headers=headers, verify=tls(sim), timeout=10.0)


def body_of(exc: Any) -> dict[str, Any]:
    """The JSON error body of a client `ApiException`."""
    return json.loads(exc.body)


def contact_rows(count: int, start: int = 0, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"email": f"person{i}@example.com", "firstname": f"First{i}", "lastname": f"Last{i}", **extra}
        for i in range(start, start + count)
    ]


@pytest.fixture(scope="session")
def served_hubspot() -> Iterator[HubSpotSimulator]:
    """One served HubSpot simulator for the session (tests get it emptied through `hubspot`)."""
    with serve_simulator(HubSpotSimulator(rate_limit_per_10s=None, search_rate_limit_per_s=None)) as sim:
        yield sim  # type: ignore[misc]
        # Clients the tests dropped may still hold TLS connections until collected; the server's shutdown waits
        # for every connection to close, so release them first.
        gc.collect()


@pytest.fixture
def hubspot(served_hubspot: HubSpotSimulator) -> Iterator[HubSpotSimulator]:
    """The served simulator, empty: no data, tokens, fault rules or call counts; real clock; no rate limits;
    search with no lag and the default 10,000-result cap."""
    sim = served_hubspot
    sim.reset()
    sim.set_clock(None)
    sim.set_rate_limits(per_10s=None, search_per_s=None, daily=1_000_000)
    sim.search_lag_s = 0.0
    sim.search_result_cap = 10_000
    yield sim
    sim.faults.clear()
    sim.set_clock(None)


@pytest.fixture
def client(hubspot: HubSpotSimulator) -> HubSpot:
    return hubspot_client(hubspot)


@pytest.fixture
def http(hubspot: HubSpotSimulator) -> Iterator[httpx.Client]:
    with http_client(hubspot) as c:
        yield c


@pytest.fixture
def clock(hubspot: HubSpotSimulator) -> TestClock:
    c = TestClock()
    hubspot.set_clock(c)
    return c
