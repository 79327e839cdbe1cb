"""Dynamics simulator: the Microsoft identity token endpoint (tenant in the path), Bearer tokens, service protection."""

from __future__ import annotations

import base64

import httpx
import pytest

from contact_sync.simulators.dynamics import DynamicsSimulator
from contact_sync_tests.simulators.dynamics_fixtures import (
    api_client,
    client,
    clock,
    dynamics,
    served_dynamics,
    token_form,
)
from contact_sync_tests.simulators.shared_fixtures import TestClock, tls

__all__ = ["client", "clock", "dynamics", "served_dynamics"]  # fixtures used by name


def test_client_credentials_token_with_the_tenant_in_the_path(dynamics: DynamicsSimulator) -> None:
    assert dynamics.token_url == f"{dynamics.url}/{dynamics.tenant_id}/oauth2/v2.0/token"
    response = httpx.post(dynamics.token_url, data=token_form(dynamics), verify=tls(dynamics))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == body["ext_expires_in"] == 3599
    with httpx.Client(base_url=dynamics.api_url, verify=tls(dynamics)) as c:
        who = c.get("/WhoAmI", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert who.status_code == 200
    assert {"UserId", "BusinessUnitId", "OrganizationId"} <= set(who.json())
    assert dynamics.calls[("POST", "/{tenant}/oauth2/v2.0/token")] == 1


def test_client_secret_may_come_as_http_basic(dynamics: DynamicsSimulator) -> None:
    basic = base64.b64encode(f"{dynamics.client_id}:{dynamics.client_secret}".encode()).decode()
    form = token_form(dynamics, client_id=None, client_secret=None)
    response = httpx.post(
        dynamics.token_url, data=form, headers={"Authorization": f"Basic {basic}"}, verify=tls(dynamics)
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("tenant", "overrides", "status", "error", "code"),
    [
        ("00000000-0000-0000-0000-000000000000", {}, 400, "invalid_request", 90002),
        (None, {"client_secret": "wrong"}, 401, "invalid_client", 7000215),
        (None, {"client_secret": None}, 401, "invalid_client", 7000218),
        (None, {"client_id": "11111111-2222-3333-4444-555555555555"}, 400, "unauthorized_client", 700016),
        (None, {"client_id": None}, 400, "invalid_request", 900144),
        (None, {"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
        (None, {"grant_type": None}, 400, "invalid_request", 900144),
        (None, {"scope": None}, 400, "invalid_request", 90014),
        (None, {"scope": "user.read"}, 400, "invalid_scope", 1002012),
        (None, {"scope": "https://other.crm.dynamics.com/.default"}, 400, "invalid_resource", 500011),
    ],
)
def test_refused_token_requests_get_the_identity_platform_error(
    dynamics: DynamicsSimulator, tenant: str | None, overrides: dict, status: int, error: str, code: int
) -> None:
    url = f"{dynamics.url}/{tenant or dynamics.tenant_id}/oauth2/v2.0/token"
    response = httpx.post(url, data=token_form(dynamics, **overrides), verify=tls(dynamics))
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)
    assert dynamics.client_secret not in response.text


def test_token_request_that_is_not_a_form_is_refused(dynamics: DynamicsSimulator) -> None:
    response = httpx.post(dynamics.token_url, json=token_form(dynamics), verify=tls(dynamics))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic abc"])
def test_calls_without_a_valid_token_get_401(dynamics: DynamicsSimulator, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(f"{dynamics.api_url}/contacts", headers=headers, verify=tls(dynamics))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
    assert response.content == b""


def test_tokens_expire_after_their_lifetime(dynamics: DynamicsSimulator, clock: TestClock) -> None:
    with api_client(dynamics) as c:
        assert c.get("/contacts").status_code == 200
        clock.advance(3598)
        assert c.get("/contacts").status_code == 200
        clock.advance(2)
        expired = c.get("/contacts")
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]


def test_expire_tokens_invalidates_every_issued_token(dynamics: DynamicsSimulator) -> None:
    with api_client(dynamics) as c:
        assert c.get("/contacts").status_code == 200
        dynamics.expire_tokens()
        assert c.get("/contacts").status_code == 401
    with api_client(dynamics) as fresh:  # a new token works again
        assert fresh.get("/contacts").status_code == 200


def test_service_protection_429_with_retry_after_in_a_sliding_window(
    dynamics: DynamicsSimulator, clock: TestClock
) -> None:
    dynamics.set_service_protection(5, window_s=300)
    with api_client(dynamics) as c:
        for _ in range(5):
            assert c.get("/contacts").status_code == 200
            clock.advance(10)  # requests at t = 0, 10, 20, 30, 40
        refused = c.get("/contacts")  # t = 50: the oldest leaves the window at t = 300
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "250"
        assert refused.json() == {
            "error": {
                "code": "0x80072322",
                "message": "Number of requests exceeded the limit of 5 over time window of 300 seconds.",
            }
        }
        clock.advance(249)
        assert c.get("/contacts").status_code == 429
        clock.advance(1)  # honouring Retry-After: one slot has freed
        assert c.get("/contacts").status_code == 200  # t = 300: the window holds t = 10, 20, 30, 40, 300
        again = c.get("/contacts")
        assert again.status_code == 429
        assert again.headers["Retry-After"] == "10"  # the request at t = 10 leaves at t = 310
        clock.advance(10)
        assert c.get("/contacts").status_code == 200
    # The token endpoint is another service: never limited by the Web API's window.
    assert httpx.post(dynamics.token_url, data=token_form(dynamics), verify=tls(dynamics)).status_code == 200


def test_service_protection_defaults_and_can_be_off() -> None:
    sim = DynamicsSimulator()
    try:
        assert (sim.rate_limiter.limit, sim.rate_limiter.window_s) == (6000, 300)
    finally:
        sim.close()
    off = DynamicsSimulator(service_protection_limit=None)
    try:
        assert off.rate_limiter.admit("client") is None
    finally:
        off.close()


def test_repr_hides_the_secret(dynamics: DynamicsSimulator) -> None:
    assert dynamics.client_secret not in repr(dynamics)
    assert dynamics.client_secret not in repr(dynamics.tokens)
