"""Fixtures for the Salesforce simulator tests: one served simulator per test module, emptied before each test,
and real simple-salesforce clients pointed at it (import the fixtures you use into the test module)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from simple_salesforce import Salesforce

from contact_sync.simulators import serve_simulator
from contact_sync.simulators.salesforce import SalesforceSimulator


def client_session(sim: SalesforceSimulator) -> requests.Session:
    """A requests session that trusts the simulator's CA.

    `trust_env = False` because requests lets a REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE environment variable override
    `session.verify`, which would make it ignore the simulator's CA on machines that set those.
    """
    session = requests.Session()
    session.verify = sim.ca_bundle
    session.trust_env = False
    return session


def session_client(sim: SalesforceSimulator) -> Salesforce:
    """A client logged in by session id (a session issued directly by the simulator)."""
    return Salesforce(session_id=sim.new_session(), instance_url=sim.url, session=client_session(sim))


def api(sim: SalesforceSimulator, path: str) -> str:
    """The full URL of a data API path (`query`, `sobjects/Contact/`, ...) at the client's default version."""
    return f"{sim.url}/services/data/v59.0/{path}"


@pytest.fixture(scope="module")
def served_sf() -> Iterator[SalesforceSimulator]:
    sim = SalesforceSimulator()
    with serve_simulator(sim):
        yield sim
        # Clients the tests dropped may still hold TLS connections until collected; the server's shutdown waits
        # for every connection to close, so release them first.
        gc.collect()


@pytest.fixture
def sim(served_sf: SalesforceSimulator) -> Iterator[SalesforceSimulator]:
    """The module's simulator, empty, on the real clock, with no fault rules."""
    served_sf.reset()
    served_sf.set_clock(None)
    yield served_sf
    served_sf.faults.clear()
    served_sf.set_clock(None)


@pytest.fixture
def sf(sim: SalesforceSimulator) -> Iterator[Salesforce]:
    client = session_client(sim)
    yield client
    client.session.close()


@pytest.fixture
def http(sim: SalesforceSimulator) -> Iterator[requests.Session]:
    """A raw session with a valid bearer token, for requests the client library has no helper for."""
    session = client_session(sim)
    session.headers["Authorization"] = f"Bearer {sim.new_session()}"
    yield session
    session.close()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
