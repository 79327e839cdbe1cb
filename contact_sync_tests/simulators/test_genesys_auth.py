"""Genesys simulator: OAuth client credentials, Bearer token checks and the per-token rate limit, over real HTTP."""

from __future__ import annotations

import base64

import httpx

from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync_tests.simulators.genesys_fixtures import (
    API,
    api_client,
    client,
    clock,
    genesys,
    get_token,
    served_genesys,
)
from contact_sync_tests.simulators.shared_fixtures import TestClock

__all__ = ["client", "clock", "genesys", "served_genesys"]


def _token(sim: GenesysSimulator, **kwargs: object) -> httpx.Response:
    return httpx.post(f"{sim.url}/oauth/token", **kwargs)  # type: ignore[arg-type]


def test_token_with_good_credentials_works_for_the_api(genesys: GenesysSimulator) -> None:
    response = _token(
        genesys, auth=(genesys.client_id, genesys.client_secret), data={"grant_type": "client_credentials"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86400
    listed = httpx.get(f"{genesys.url}{API}/scan/contacts", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert listed.status_code == 200
    assert listed.json()["entities"] == []


def test_bad_credentials_are_refused_with_oauth_errors(genesys: GenesysSimulator) -> None:
    wrong_secret = _token(genesys, auth=(genesys.client_id, "nope"), data={"grant_type": "client_credentials"})
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    wrong_client = _token(genesys, auth=("someone", genesys.client_secret), data={"grant_type": "client_credentials"})
    assert wrong_client.status_code == 401
    # Credentials in the form instead of Basic auth are not accepted.
    in_form = _token(
        genesys,
        data={
            "grant_type": "client_credentials",
            "client_id": genesys.client_id,
            "client_secret": genesys.client_secret,
        },
    )
    assert in_form.status_code == 401
    assert in_form.json()["error"] == "invalid_client"
    bad_grant = _token(genesys, auth=(genesys.client_id, genesys.client_secret), data={"grant_type": "password"})
    assert bad_grant.status_code == 400
    assert bad_grant.json()["error"] == "unsupported_grant_type"
    no_grant = _token(genesys, auth=(genesys.client_id, genesys.client_secret), data={})
    assert no_grant.status_code == 400
    assert no_grant.json()["error"] == "invalid_request"
    garbled = _token(genesys, headers={"Authorization": "Basic !!!"}, data={"grant_type": "client_credentials"})
    assert garbled.status_code == 401
    json_body = _token(
        genesys, auth=(genesys.client_id, genesys.client_secret), json={"grant_type": "client_credentials"}
    )
    assert json_body.status_code == 400


def test_missing_or_unknown_bearer_token_gets_401_errorbody(genesys: GenesysSimulator) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic " + base64.b64encode(b"a:b").decode()},
    ):
        response = httpx.get(f"{genesys.url}{API}/scan/contacts", headers=headers)
        assert response.status_code == 401
        body = response.json()
        assert body["status"] == 401
        assert body["code"] == "bad.credentials"
        assert body["contextId"] == response.headers["ININ-Correlation-Id"]


def test_expire_tokens_invalidates_every_issued_token(genesys: GenesysSimulator, client: httpx.Client) -> None:
    assert client.get("/scan/contacts").status_code == 200
    genesys.expire_tokens()
    assert client.get("/scan/contacts").status_code == 401
    with api_client(genesys) as fresh:
        assert fresh.get("/scan/contacts").status_code == 200


def test_token_expires_after_its_lifetime() -> None:
    from contact_sync.simulators import serve_simulator

    clock = TestClock()
    sim = GenesysSimulator(token_lifetime_s=300, rate_limit_per_minute=None)
    sim.set_clock(clock)
    with serve_simulator(sim), api_client(sim) as c:
        assert c.get("/scan/contacts").status_code == 200
        clock.advance(299)
        assert c.get("/scan/contacts").status_code == 200
        clock.advance(2)
        assert c.get("/scan/contacts").status_code == 401


def test_rate_limit_answers_429_with_retry_after_and_recovers(genesys: GenesysSimulator, clock: TestClock) -> None:
    genesys.set_rate_limit(5)
    with api_client(genesys) as c:
        for i in range(5):
            assert c.get("/scan/contacts").status_code == 200
            clock.advance(2 if i == 0 else 1)  # first call at t=0, then 2, 3, 4, 5
        limited = c.get("/scan/contacts")  # t = 6: the t=0 call frees its slot at t=60
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "54"
        body = limited.json()
        assert body["code"] == "too.many.requests.retry.after"
        assert body["status"] == 429
        assert body["message"] == "Rate limit exceeded the maximum. Retry the request in [54] seconds"
        assert body["contextId"] == limited.headers["ININ-Correlation-Id"]
        assert body["details"] == [] and body["errors"] == []
        # A second token has its own window.
        with api_client(genesys) as other:
            assert other.get("/scan/contacts").status_code == 200
        clock.advance(54)
        assert c.get("/scan/contacts").status_code == 200
        assert c.get("/scan/contacts").status_code == 429  # the t=2 slot frees only at t=62
        clock.advance(2)
        assert c.get("/scan/contacts").status_code == 200


def test_rate_limit_can_be_turned_off(genesys: GenesysSimulator, clock: TestClock) -> None:
    genesys.set_rate_limit(2)
    with api_client(genesys) as c:
        statuses = [c.get("/scan/contacts").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        genesys.set_rate_limit(None)
        assert all(c.get("/scan/contacts").status_code == 200 for _ in range(5))


def test_default_rate_limit_is_300_per_minute() -> None:
    from contact_sync.simulators import serve_simulator

    clock = TestClock()
    sim = GenesysSimulator()
    sim.set_clock(clock)
    with serve_simulator(sim):
        token = get_token(sim)
        with httpx.Client(base_url=f"{sim.url}{API}", headers={"Authorization": f"Bearer {token}"}) as c:
            statuses = [c.get("/scan/contacts").status_code for _ in range(301)]
    assert statuses.count(200) == 300
    assert statuses[-1] == 429
