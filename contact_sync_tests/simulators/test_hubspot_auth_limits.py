"""HubSpot simulator: authentication (private-app token, OAuth refresh grant, expiry), rate limits on the simulator
clock, error bodies of bad requests, and fault injection rendered in HubSpot's shape."""

from __future__ import annotations

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest
from hubspot.oauth import ApiException as OAuthApiException

from contact_sync.simulators.hubspot import HubSpotSimulator
from contact_sync_tests.simulators.hubspot_fixtures import (
    CONTACTS,
    body_of,
    client,
    clock,
    contact_rows,
    http,
    http_client,
    hubspot,
    hubspot_client,
    served_hubspot,
    tls,
)
from contact_sync_tests.simulators.shared_fixtures import TestClock

__all__ = ["client", "clock", "http", "hubspot", "served_hubspot"]

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details "
    "at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


def refresh(sim: HubSpotSimulator, **overrides: str) -> object:
    form = {
        "grant_type": "refresh_token",
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "refresh_token": sim.refresh_token,
        **overrides,
    }
    return hubspot_client(sim).oauth.tokens_api.create(**form)


def test_env_points_at_the_simulator(hubspot: HubSpotSimulator) -> None:
    assert hubspot.env() == {
        "HUBSPOT_API_URL": hubspot.url,
        "HUBSPOT_ACCESS_TOKEN": hubspot.access_token,
        "HUBSPOT_CA_BUNDLE": hubspot.ca_bundle,
    }
    assert hubspot.url.startswith("https://127.0.0.1:")
    assert "***" in repr(hubspot) and hubspot.access_token not in repr(hubspot)


def test_missing_or_unknown_tokens_get_401_invalid_authentication(hubspot: HubSpotSimulator) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic YTpi"}):
        with httpx.Client(base_url=hubspot.url, verify=tls(hubspot)) as raw:
            response = raw.get(CONTACTS, headers=headers)
        assert response.status_code == 401
        body = response.json()
        assert body == {
            "status": "error",
            "message": AUTH_MESSAGE,
            "correlationId": response.headers["X-HubSpot-Correlation-Id"],
            "category": "INVALID_AUTHENTICATION",
        }
    with pytest.raises(ApiException) as err:
        hubspot_client(hubspot, "wrong").crm.contacts.basic_api.get_page()
    assert err.value.status == 401 and body_of(err.value)["category"] == "INVALID_AUTHENTICATION"


def test_oauth_refresh_grant_through_the_client_and_expiry(hubspot: HubSpotSimulator, clock: TestClock) -> None:
    token = refresh(hubspot)
    assert token.token_type == "bearer" and token.expires_in == 1800
    assert token.refresh_token == hubspot.refresh_token
    oauth_client = hubspot_client(hubspot, token.access_token)
    assert oauth_client.crm.contacts.basic_api.get_page().results == []

    clock.advance(1799)
    assert oauth_client.crm.contacts.basic_api.get_page().results == []
    clock.advance(121)
    with pytest.raises(ApiException) as err:
        oauth_client.crm.contacts.basic_api.get_page()
    assert err.value.status == 401
    body = body_of(err.value)
    assert body["category"] == "EXPIRED_AUTHENTICATION"
    assert body["message"] == "The OAuth token used to make this call expired 2 minute(s) ago."

    fresh = refresh(hubspot)
    assert fresh.access_token != token.access_token
    hubspot.expire_tokens()
    with pytest.raises(ApiException):
        hubspot_client(hubspot, fresh.access_token).crm.contacts.basic_api.get_page()
    assert hubspot_client(hubspot).crm.contacts.basic_api.get_page().results == []  # the private-app token lives on
    assert hubspot.calls["POST /oauth/v1/token"] == 2


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"refresh_token": "stolen"}, "BAD_REFRESH_TOKEN"),
        ({"client_id": "other"}, "BAD_CLIENT_ID"),
        ({"client_secret": "guess"}, "BAD_CLIENT_SECRET"),
        ({"grant_type": "password"}, "BAD_GRANT_TYPE"),
    ],
)
def test_refused_token_requests(hubspot: HubSpotSimulator, overrides: dict[str, str], status: str) -> None:
    with pytest.raises(OAuthApiException) as err:
        refresh(hubspot, **overrides)
    assert err.value.status == 400
    assert body_of(err.value)["status"] == status


def test_authorization_code_grant(hubspot: HubSpotSimulator) -> None:
    api = hubspot_client(hubspot).oauth.tokens_api
    common = {"client_id": hubspot.client_id, "client_secret": hubspot.client_secret, "redirect_uri": "https://x/cb"}
    token = api.create(grant_type="authorization_code", code=hubspot.auth_code, **common)
    assert token.access_token.startswith("CO")
    with pytest.raises(OAuthApiException) as err:
        api.create(grant_type="authorization_code", code="wrong", **common)
    assert body_of(err.value)["status"] == "BAD_AUTH_CODE"


def test_ten_second_window_429_names_its_policy_and_rolls(
    hubspot: HubSpotSimulator, client: HubSpot, http: httpx.Client, clock: TestClock
) -> None:
    hubspot.set_rate_limits(per_10s=3, daily=50)
    first = http.get(CONTACTS)
    assert first.status_code == 200
    assert first.headers["X-HubSpot-RateLimit-Max"] == "3"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "2"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first.headers["X-HubSpot-RateLimit-Daily"] == "50"
    assert first.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "49"
    clock.advance(4)
    http.get(CONTACTS)
    client.crm.contacts.basic_api.get_page()  # the same token: the same window

    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.get_page()
    assert err.value.status == 429
    body = body_of(err.value)
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
    assert body["status"] == "error" and body["correlationId"]
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert err.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"

    other_token = hubspot.issue_token()
    assert hubspot_client(hubspot, other_token).crm.contacts.basic_api.get_page().results == []  # its own window
    clock.advance(6)  # the first call leaves the window: one slot frees
    assert http.get(CONTACTS).status_code == 200
    assert http.get(CONTACTS).status_code == 429


def test_search_has_its_own_per_second_limit_and_no_limit_headers(
    hubspot: HubSpotSimulator, client: HubSpot, http: httpx.Client, clock: TestClock
) -> None:
    hubspot.set_rate_limits(per_10s=100, search_per_s=2)
    for _ in range(2):
        answer = http.post(f"{CONTACTS}/search", json={})
        assert answer.status_code == 200
        assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in answer.headers)
    with pytest.raises(ApiException) as err:
        client.crm.contacts.search_api.do_search(PublicObjectSearchRequest())
    assert err.value.status == 429
    assert body_of(err.value)["policyName"] == "SECONDLY"
    assert body_of(err.value)["message"] == "You have reached your secondly limit."
    assert http.get(CONTACTS).status_code == 200  # other calls are not held back
    clock.advance(1)
    assert client.crm.contacts.search_api.do_search(PublicObjectSearchRequest()).total == 0


def test_daily_limit(hubspot: HubSpotSimulator, http: httpx.Client, clock: TestClock) -> None:
    hubspot.set_rate_limits(daily=2)
    assert http.get(CONTACTS).status_code == 200
    assert http.post(f"{CONTACTS}/search", json={}).status_code == 200
    refused = http.get(CONTACTS)
    assert refused.status_code == 429 and refused.json()["policyName"] == "DAILY"
    assert hubspot.daily_used == 2
    clock.advance(24 * 3600)
    assert http.get(CONTACTS).status_code == 200


def test_bad_requests_get_hubspot_error_bodies(http: httpx.Client) -> None:
    unknown = http.get("/crm/v3/objects/deals-and-more/1/2")
    assert unknown.status_code == 404
    assert unknown.json()["correlationId"] == unknown.headers["X-HubSpot-Correlation-Id"]
    assert unknown.json()["status"] == "error"
    wrong_method = http.put(CONTACTS)
    assert wrong_method.status_code == 405 and wrong_method.json()["correlationId"]
    malformed = http.post(CONTACTS, content=b'{"properties": {', headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["category"] == "VALIDATION_ERROR"
    assert malformed.json()["message"].startswith("Invalid input JSON on line 1, column")
    empty = http.post(f"{CONTACTS}/batch/read", content=b"", headers={"Content-Type": "application/json"})
    assert empty.status_code == 400 and empty.json()["message"].startswith("Invalid input JSON")
    no_properties = http.post(CONTACTS, json={"props": {}})
    assert no_properties.status_code == 400 and "[properties]" in no_properties.json()["message"]
    bad_flag = http.get(CONTACTS, params={"archived": "maybe"})
    assert bad_flag.status_code == 400
    ok = http.get(CONTACTS)
    assert ok.headers["content-type"].startswith("application/json")
    assert ok.headers["X-HubSpot-Correlation-Id"]


def test_faults_are_rendered_in_hubspot_shape(hubspot: HubSpotSimulator, http: httpx.Client) -> None:
    hubspot.load_contacts(contact_rows(1))
    hubspot.set_faults(
        [
            {"kind": "429", "path": "/search$", "count": 1, "retry_after": 2},
            {"kind": "500", "path": "/crm/v3/objects/contacts$", "method": "GET", "count": 1},
            {"kind": "503", "path": "/batch/read$", "count": 1, "retry_after": 7},
            {"kind": "expired_token", "path": "/companies", "count": 1},
        ]
    )
    limited = http.post(f"{CONTACTS}/search", json={})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert limited.json()["policyName"] == "SECONDLY" and limited.json()["errorType"] == "RATE_LIMIT"
    failed = http.get(CONTACTS)
    assert failed.status_code == 500
    assert failed.json()["correlationId"] == failed.headers["X-HubSpot-Correlation-Id"]
    unavailable = http.post(f"{CONTACTS}/batch/read", json={"inputs": []})
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "7"
    expired = http.get("/crm/v3/objects/companies")
    assert expired.status_code == 401 and expired.json()["category"] == "EXPIRED_AUTHENTICATION"
    assert [f.kind for f in hubspot.faults.fired] == ["429", "500", "503", "expired_token"]
    assert http.get(CONTACTS).status_code == 200  # every rule fired its count
    assert hubspot.calls["GET /crm/v3/objects/contacts"] == 1  # faulted calls never reached the service

    hubspot.set_faults([{"kind": "lost", "path": "/crm/v3/objects/contacts$", "method": "POST", "count": 1}])
    with pytest.raises(httpx.HTTPError):
        http.post(CONTACTS, json={"properties": {"email": "lost@example.com"}})
    assert hubspot.count_contacts() == 2  # applied, only the answer was lost

    hubspot.set_faults(
        [{"kind": "corrupt", "match": {"id": hubspot.contacts()[0]["id"]}, "at": ["properties", "email"], "value": 7}]
    )
    with http_client(hubspot) as fresh:
        listed = fresh.get(CONTACTS, params={"properties": "email"}).json()["results"]
    assert listed[0]["properties"]["email"] == 7 and listed[1]["properties"]["email"] == "lost@example.com"
