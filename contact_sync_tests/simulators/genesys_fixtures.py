"""Fixtures and helpers for the Genesys simulator tests: a served simulator, an authorized httpx client, a test clock.

Test modules import the fixtures they use (`from contact_sync_tests.simulators.genesys_fixtures import ...`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PureCloudPlatformClientV2 import ApiClient, ExternalContactsApi

from contact_sync.simulators import serve_simulator
from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync_tests.simulators.shared_fixtures import TLS, TestClock

API = "/api/v2/externalcontacts"


def get_token(sim: GenesysSimulator) -> str:
    response = httpx.post(
        f"{sim.url}/oauth/token",
        auth=(sim.client_id, sim.client_secret),
        data={"grant_type": "client_credentials"},
        verify=TLS,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def api_client(sim: GenesysSimulator, timeout: float = 10.0) -> httpx.Client:
    """An httpx client of the simulator's API, with a fresh Bearer token."""
    return httpx.Client(
        base_url=f"{sim.url}{API}",
        headers={"Authorization": f"Bearer {get_token(sim)}"},
        timeout=timeout,
        verify=TLS,
    )


def contact_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"firstName": "Ann", "lastName": "Lee", "workEmail": "ann.lee@example.com"}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture(scope="session")
def served_genesys() -> Iterator[GenesysSimulator]:
    """One served Genesys simulator for the session (tests get it emptied through `genesys`)."""
    with serve_simulator(GenesysSimulator(rate_limit_per_minute=None)) as sim:
        yield sim  # type: ignore[misc]


@pytest.fixture
def genesys(served_genesys: GenesysSimulator) -> Iterator[GenesysSimulator]:
    """The served Genesys simulator, empty: no data, tokens, fault rules or call counts; real clock; no rate limit."""
    sim = served_genesys
    sim.reset()
    sim.set_clock(None)
    sim.set_rate_limit(None)
    yield sim
    sim.faults.clear()
    sim.set_clock(None)


@pytest.fixture
def client(genesys: GenesysSimulator) -> Iterator[httpx.Client]:
    with api_client(genesys) as c:
        yield c


@pytest.fixture
def sdk(genesys: GenesysSimulator) -> Iterator[ExternalContactsApi]:
    """Genesys's official SDK (`PureCloudPlatformClientV2`) logged in to the simulator, the judge of its shapes."""
    api_client = ApiClient(host=genesys.url)
    api_client.get_client_credentials_token(genesys.client_id, genesys.client_secret)
    yield ExternalContactsApi(api_client)


@pytest.fixture
def source(client: httpx.Client) -> str:
    """The id of an external source named Salesforce."""
    return str(client.post("/externalsources", json={"name": "Salesforce"}).json()["id"])


@pytest.fixture
def clock(genesys: GenesysSimulator) -> TestClock:
    c = TestClock()
    genesys.set_clock(c)
    return c


def _lost_or_changed(raw: object, back: object, path: str = "") -> list[str]:
    """Where the SDK's round trip (deserialize into its model, serialize again) drops or alters a value: a field its
    model does not have, or a value of another type (dates compared as instants)."""
    if isinstance(raw, dict):
        if not isinstance(back, dict):
            return [f"{path}: an object became {back!r}"]
        found = [f"{path}/{k}: not in the SDK's model" for k in raw if k not in back and raw[k] is not None]
        for key in raw.keys() & back.keys():
            found += _lost_or_changed(raw[key], back[key], f"{path}/{key}")
        return found
    if isinstance(raw, list):
        if not isinstance(back, list) or len(raw) != len(back):
            return [f"{path}: a list became {back!r}"]
        return [
            p for i, (a, b) in enumerate(zip(raw, back, strict=True)) for p in _lost_or_changed(a, b, f"{path}[{i}]")
        ]
    if isinstance(raw, str) and isinstance(back, str) and raw.endswith("Z") and back.endswith("+00:00"):
        return [] if raw[:19] == back[:19] else [f"{path}: {raw!r} became {back!r}"]
    return [] if raw == back and type(raw) is type(back) else [f"{path}: {raw!r} became {back!r}"]


def sdk_losses(raw: object, model: str) -> list[str]:
    """What the official SDK loses or alters of a served body when it reads it into `model` and writes it back
    (empty: the simulator's shape is the SDK's)."""
    api = ApiClient()
    back = api.sanitize_for_serialization(api._ApiClient__deserialize(raw, model))  # type: ignore[attr-defined]
    return _lost_or_changed(raw, back)
