"""Fixtures and helpers for the Dynamics simulator tests: a served simulator, an authorized httpx client, a test clock.

Test modules import the fixtures they use (`from contact_sync_tests.simulators.dynamics_fixtures import ...`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from contact_sync.simulators import serve_simulator
from contact_sync.simulators.dynamics import DynamicsSimulator
from contact_sync_tests.simulators.shared_fixtures import TestClock, tls

__all__ = [
    "api_client",
    "client",
    "clock",
    "contact_body",
    "dynamics",
    "get_token",
    "read_all",
    "served_dynamics",
    "token_form",
]

ODATA_HEADERS = {"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json"}


def token_form(sim: DynamicsSimulator, **overrides: str | None) -> dict[str, str]:
    """The client-credentials form a client posts to the token URL (override or drop fields with None)."""
    form: dict[str, str | None] = {
        "grant_type": "client_credentials",
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "scope": f"{sim.url}/.default",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def get_token(sim: DynamicsSimulator) -> str:
    response = httpx.post(sim.token_url, data=token_form(sim), verify=tls(sim))
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def api_client(sim: DynamicsSimulator, timeout: float = 10.0) -> httpx.Client:
    """An httpx client of the Web API root (`{url}/api/data/v9.2`), with a fresh Bearer token and OData headers."""
    return httpx.Client(
        base_url=sim.api_url,
        headers={"Authorization": f"Bearer {get_token(sim)}", **ODATA_HEADERS},
        timeout=timeout,
        verify=tls(sim),
    )


def contact_body(**columns: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"firstname": "Ann", "lastname": "Lee", "emailaddress1": "ann.lee@example.com"}
    body.update(columns)
    return {k: v for k, v in body.items() if v is not None}


def read_all(client: httpx.Client, url: str, page_size: int, **kwargs: Any) -> tuple[list[dict[str, Any]], dict]:
    """Follow `@odata.nextLink` to the end with `Prefer: odata.maxpagesize`; (every row, the last page's body)."""
    prefer = kwargs.pop("prefer", "")
    headers = {"Prefer": ", ".join(p for p in (f"odata.maxpagesize={page_size}", prefer) if p)}
    rows: list[dict[str, Any]] = []
    response = client.get(url, headers=headers, **kwargs)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["value"]) <= page_size
        rows += page["value"]
        if "@odata.nextLink" not in page:
            return rows, page
        response = client.get(page["@odata.nextLink"], headers=headers)


@pytest.fixture(scope="session")
def served_dynamics() -> Iterator[DynamicsSimulator]:
    """One served Dynamics simulator for the session (tests get it emptied through `dynamics`)."""
    with serve_simulator(DynamicsSimulator(service_protection_limit=None)) as sim:
        yield sim  # type: ignore[misc]


@pytest.fixture
def dynamics(served_dynamics: DynamicsSimulator) -> Iterator[DynamicsSimulator]:
    """The served simulator, empty: no data, tokens, faults or call counts; real clock; change tracking on;
    service protection off."""
    sim = served_dynamics
    sim.reset()
    sim.set_clock(None)
    sim.set_change_tracking(True)
    sim.set_service_protection(None)
    yield sim
    sim.faults.clear()
    sim.set_clock(None)
    sim.set_change_tracking(True)
    sim.set_service_protection(None)


@pytest.fixture
def client(dynamics: DynamicsSimulator) -> Iterator[httpx.Client]:
    with api_client(dynamics) as c:
        yield c


@pytest.fixture
def clock(dynamics: DynamicsSimulator) -> TestClock:
    c = TestClock()
    dynamics.set_clock(c)
    return c
