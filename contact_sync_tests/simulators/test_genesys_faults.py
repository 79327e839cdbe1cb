"""Genesys simulator: injected faults come back in the service's own shapes (ErrorBody, Retry-After, correlation id)
and fire exactly as configured; the generic rule semantics are covered in test_faults.py."""

from __future__ import annotations

import httpx
import pytest

from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync_tests.simulators.genesys_fixtures import api_client, client, genesys, served_genesys

__all__ = ["client", "genesys", "served_genesys"]

ERROR_KEYS = {"message", "code", "status", "messageParams", "contextId", "details", "errors"}


def test_429_fault_has_the_real_body_and_retry_after(genesys: GenesysSimulator, client: httpx.Client) -> None:
    genesys.set_faults([{"kind": "429", "path": "/scan/contacts$", "every": 3, "retry_after": 42}])
    responses = [client.get("/scan/contacts") for _ in range(6)]
    assert [r.status_code for r in responses] == [200, 200, 429, 200, 200, 429]
    limited = responses[2]
    assert limited.headers["Retry-After"] == "42"
    body = limited.json()
    assert set(body) == ERROR_KEYS
    assert body["message"] == "Rate limit exceeded the maximum. Retry the request in [42] seconds"
    assert body["code"] == "too.many.requests.retry.after"
    assert body["contextId"] == limited.headers["ININ-Correlation-Id"]
    # Faulted calls never reached the API: only the four served ones are counted.
    assert genesys.calls[("GET", "/api/v2/externalcontacts/scan/contacts")] == 4


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("500", 500, "internal.server.error"),
        ("503", 503, "service.unavailable"),
        ("expired_token", 401, "bad.credentials"),
    ],
)
def test_error_faults_are_errorbodies(
    genesys: GenesysSimulator, client: httpx.Client, kind: str, status: int, code: str
) -> None:
    genesys.set_faults([{"kind": kind, "path": "/bulk/contacts/add", "method": "POST", "count": 2}])
    body = {"entities": [{"firstName": "Ann", "lastName": "Lee"}]}
    results = [client.post("/bulk/contacts/add", json=body) for _ in range(3)]
    assert [r.status_code for r in results] == [status, status, 200]
    failed = results[0].json()
    assert set(failed) == ERROR_KEYS and failed["status"] == status and failed["code"] == code
    assert genesys.count() == 1  # the faulted writes did not happen
    if kind == "503":
        assert results[0].headers["Retry-After"] == "1"
    assert client.get("/scan/contacts").status_code == 200  # other paths are untouched


def test_seeded_probability_faults_repeat(genesys: GenesysSimulator, client: httpx.Client) -> None:
    def run() -> list[int]:
        genesys.set_faults([{"kind": "500", "path": "/scan/", "probability": 0.4}], seed=3)
        return [client.get("/scan/contacts").status_code for _ in range(15)]

    first = run()
    assert first == run()
    assert first.count(500) not in (0, 15)


def test_drop_and_slow_as_a_client_sees_them(genesys: GenesysSimulator, client: httpx.Client) -> None:
    genesys.set_faults(
        [
            {"kind": "drop", "path": "/scan/contacts", "count": 1},
            {"kind": "slow", "path": "/externalcontacts/contacts$", "count": 1, "delay": 2.0},
        ]
    )
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/scan/contacts")
    assert client.get("/scan/contacts").status_code == 200
    with api_client(genesys, timeout=0.5) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get("/contacts")
    assert client.get("/contacts").status_code == 200
    assert [f.kind for f in genesys.faults.fired] == ["drop", "slow"]
