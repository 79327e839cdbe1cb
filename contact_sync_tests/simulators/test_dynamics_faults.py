"""Dynamics simulator: fault rules fire exactly as configured and answer in the Dataverse shape."""

from __future__ import annotations

import httpx
import pytest

from contact_sync.simulators import run_simulators
from contact_sync.simulators.dynamics import DynamicsSimulator
from contact_sync_tests.simulators.dynamics_fixtures import client, dynamics, get_token, served_dynamics
from contact_sync_tests.simulators.shared_fixtures import tls

__all__ = ["client", "dynamics", "served_dynamics"]


def test_429_every_third_call_with_retry_after(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    dynamics.set_faults([{"kind": "429", "path": r"/contacts$", "method": "GET", "every": 3, "retry_after": 7}])
    statuses = [client.get("/contacts").status_code for _ in range(7)]
    assert statuses == [200, 200, 429, 200, 200, 429, 200]
    refused = client.get("/contacts")  # the 8th: allowed; the 9th: refused
    assert refused.status_code == 200
    refused = client.get("/contacts")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "7"
    assert refused.json()["error"]["code"] == "0x80072322"
    assert client.post("/contacts", json={"lastname": "NotAffected"}).status_code == 204  # POST does not match
    assert [f.kind for f in dynamics.faults.fired] == ["429"] * 3


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("500", 500, "0x80040216"), ("503", 503, "")],
)
def test_server_errors_for_a_fixed_count(
    dynamics: DynamicsSimulator, client: httpx.Client, kind: str, status: int, code: str
) -> None:
    dynamics.set_faults([{"kind": kind, "path": "/contacts", "count": 2}])
    first, second, third = (client.get("/contacts") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (status, status, 200)
    assert first.json()["error"]["code"] == code
    if kind == "503":
        assert first.headers["Retry-After"] == "1"


def test_expired_token_fault(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    dynamics.set_faults([{"kind": "expired_token", "path": "/contacts", "count": 1}])
    refused = client.get("/contacts")
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert client.get("/contacts").status_code == 200


def test_dropped_connection(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    dynamics.set_faults([{"kind": "drop", "path": "/contacts", "count": 1}])
    with pytest.raises(httpx.TransportError):
        client.get("/contacts")
    assert client.get("/contacts").status_code == 200


def test_slow_response_past_the_client_timeout(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    dynamics.set_faults([{"kind": "slow", "path": "/contacts", "count": 1, "delay": 1.0}])
    with pytest.raises(httpx.ReadTimeout):
        client.get("/contacts", timeout=0.2)
    assert client.get("/contacts").status_code == 200


def test_probability_is_deterministic_with_a_seed(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    rules = [{"kind": "500", "path": "/contacts", "probability": 0.5}]
    runs = []
    for _ in range(2):
        dynamics.set_faults(rules, seed=42)
        runs.append([client.get("/contacts").status_code for _ in range(12)])
    assert runs[0] == runs[1]
    assert 0 < runs[0].count(500) < 12


def test_token_endpoint_faults_by_service_name() -> None:
    faults = {"dynamics": [{"kind": "503", "path": "/oauth2/v2.0/token$", "count": 1}]}
    with run_simulators(faults=faults) as sims:
        env = sims.env
        assert env["DYNAMICS_TOKEN_URL"] == f"{env['DYNAMICS_URL']}/{env['DYNAMICS_TENANT_ID']}/oauth2/v2.0/token"
        assert (sims.dynamics.url, sims.dynamics.tenant_id) == (env["DYNAMICS_URL"], env["DYNAMICS_TENANT_ID"])
        assert (sims.dynamics.client_id, sims.dynamics.client_secret) == (
            env["DYNAMICS_CLIENT_ID"],
            env["DYNAMICS_CLIENT_SECRET"],
        )
        assert sims.dynamics.token_url == env["DYNAMICS_TOKEN_URL"]
        form = {
            "grant_type": "client_credentials",
            "client_id": env["DYNAMICS_CLIENT_ID"],
            "client_secret": env["DYNAMICS_CLIENT_SECRET"],
            "scope": f"{env['DYNAMICS_URL']}/.default",
        }
        assert httpx.post(env["DYNAMICS_TOKEN_URL"], data=form, verify=tls(sims.dynamics)).status_code == 503
        assert get_token(sims.dynamics)
        assert [f.kind for f in sims.dynamics.faults.fired] == ["503"]
        assert sims.genesys.faults.fired == []
