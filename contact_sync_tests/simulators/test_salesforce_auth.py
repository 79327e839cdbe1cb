"""Logging in to the Salesforce simulator with the real simple-salesforce client: session id, OAuth, SOAP."""

from __future__ import annotations

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

from contact_sync.simulators.salesforce import SalesforceSimulator
from contact_sync_tests.simulators import salesforce_fixtures as fx
from contact_sync_tests.simulators.salesforce_fixtures import client_session

served_sf, sim = fx.served_sf, fx.sim


def _count(sf: Salesforce) -> int:
    return sf.query("SELECT COUNT() FROM Contact")["totalSize"]


def test_login_by_session_id_from_the_oauth_endpoint(sim: SalesforceSimulator) -> None:
    sim.load_contacts([{"LastName": "One"}, {"LastName": "Two"}])
    s = client_session(sim)
    reply = s.post(
        f"{sim.url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(sim.client_id, sim.client_secret),
    )
    assert reply.status_code == 200
    token = reply.json()
    assert token["instance_url"] == sim.url
    assert token["token_type"] == "Bearer"
    sf = Salesforce(session_id=token["access_token"], instance_url=token["instance_url"], session=s)
    assert _count(sf) == 2


def test_oauth_client_credentials_through_the_library(sim: SalesforceSimulator) -> None:
    sim.load_contacts([{"LastName": "One"}])
    sf = Salesforce(
        consumer_key=sim.client_id,
        consumer_secret=sim.client_secret,
        domain=sim.login_domain,
        session=client_session(sim),
    )
    assert sf.sf_instance == sim.url.removeprefix("https://")
    assert _count(sf) == 1


def test_oauth_password_grant_through_the_library(sim: SalesforceSimulator) -> None:
    sf = Salesforce(
        username=sim.username,
        password=sim.password + sim.security_token,
        consumer_key=sim.client_id,
        consumer_secret=sim.client_secret,
        domain=sim.login_domain,
        session=client_session(sim),
    )
    assert _count(sf) == 0
    assert sim.calls[("POST", "/services/oauth2/token")] == 1


def test_the_refresh_token_grant_gives_a_session_and_refuses_a_wrong_token(sim: SalesforceSimulator) -> None:
    sim.load_contacts([{"LastName": "One"}])
    s = client_session(sim)
    token_url = f"{sim.url}/services/oauth2/token"
    form = {"grant_type": "refresh_token", "refresh_token": sim.refresh_token, "client_id": sim.client_id}
    for secret in ({"client_secret": sim.client_secret}, {}):  # the secret is optional on a refresh
        reply = s.post(token_url, data=form | secret)
        assert reply.status_code == 200, reply.text
        token = reply.json()
        assert "refresh_token" not in token and token["instance_url"] == sim.url
        assert _count(Salesforce(session_id=token["access_token"], instance_url=sim.url, session=s)) == 1
    wrong = s.post(token_url, data=form | {"refresh_token": "5Aep861stale"})
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}
    bad_secret = s.post(token_url, data=form | {"client_secret": "nope"})
    assert bad_secret.status_code == 400 and bad_secret.json()["error"] == "invalid_client"
    assert "SALESFORCE_REFRESH_TOKEN" not in sim.env()  # a client uses it on purpose only


def test_soap_login_with_username_password_and_token(sim: SalesforceSimulator) -> None:
    sim.load_contacts([{"LastName": "One"}])
    sf = Salesforce(
        username=sim.username,
        password=sim.password,
        security_token=sim.security_token,
        domain=sim.login_domain,
        session=client_session(sim),
    )
    assert _count(sf) == 1
    assert sim.calls[("POST", "/services/Soap/u/{version}")] == 1


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"password": "wrong"}, "INVALID_LOGIN"),
        ({"username": "nobody@example.com"}, "INVALID_LOGIN"),
    ],
)
def test_soap_login_rejects_bad_credentials(sim: SalesforceSimulator, kwargs: dict, code: str) -> None:
    args = {"username": sim.username, "password": sim.password, "security_token": sim.security_token, **kwargs}
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        Salesforce(**args, domain=sim.login_domain, session=client_session(sim))
    assert err.value.code == code


@pytest.mark.parametrize(
    ("data", "auth", "error"),
    [
        ({"grant_type": "client_credentials"}, ("unknown-client", "x"), "invalid_client_id"),
        ({"grant_type": "client_credentials"}, ("CLIENT", "wrong-secret"), "invalid_client"),
        ({"grant_type": "password", "username": "USER", "password": "bad"}, ("CLIENT", "SECRET"), "invalid_grant"),
        ({"grant_type": "authorization_code"}, ("CLIENT", "SECRET"), "unsupported_grant_type"),
    ],
)
def test_oauth_errors_have_the_real_shape(sim: SalesforceSimulator, data: dict, auth: tuple, error: str) -> None:
    subst = {"CLIENT": sim.client_id, "SECRET": sim.client_secret, "USER": sim.username}
    auth = tuple(subst.get(a, a) for a in auth)
    data = {k: subst.get(v, v) for k, v in data.items()}
    reply = client_session(sim).post(f"{sim.url}/services/oauth2/token", data=data, auth=auth)
    assert reply.status_code == 400
    assert reply.json()["error"] == error
    assert "error_description" in reply.json()


def test_expired_sessions_answer_401_and_the_soap_client_logs_in_again(sim: SalesforceSimulator) -> None:
    direct = Salesforce(session_id=sim.new_session(), instance_url=sim.url, session=client_session(sim))
    soap = Salesforce(
        username=sim.username,
        password=sim.password,
        security_token=sim.security_token,
        domain=sim.login_domain,
        session=client_session(sim),
    )
    old_soap_session = soap.session_id
    sim.expire_sessions()
    with pytest.raises(SalesforceExpiredSession) as err:
        _count(direct)
    assert err.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    assert _count(soap) == 0  # the library saw INVALID_SESSION_ID, logged in again and retried
    assert soap.session_id != old_soap_session


def test_missing_or_unknown_token_is_401_with_a_json_list(sim: SalesforceSimulator) -> None:
    s = client_session(sim)
    for headers in ({}, {"Authorization": "Bearer not-a-session"}):
        reply = s.get(f"{sim.url}/services/data/v59.0/limits/", headers=headers)
        assert reply.status_code == 401
        assert reply.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_secrets_are_not_in_the_repr(sim: SalesforceSimulator) -> None:
    text = repr(sim) + repr(sim.api.creds)
    assert sim.client_secret not in text
    assert sim.password not in text
    assert sim.security_token not in text


def test_unsupported_api_version_is_not_found(sim: SalesforceSimulator) -> None:
    s = client_session(sim)
    s.headers["Authorization"] = f"Bearer {sim.new_session()}"
    assert s.get(f"{sim.url}/services/data/v49.0/limits").status_code == 404
    assert s.get(f"{sim.url}/services/data/v63.0/limits").status_code == 404
    for version in ("50.0", "62.0"):
        assert s.get(f"{sim.url}/services/data/v{version}/limits").status_code == 200


def test_env_points_at_the_simulator(sim: SalesforceSimulator) -> None:
    env = sim.env()
    assert env["SALESFORCE_INSTANCE_URL"] == sim.url
    assert env["SALESFORCE_INSTANCE_URL"].startswith("https://127.0.0.1:")
    assert env["SALESFORCE_CA_BUNDLE"] == sim.ca_bundle
    for key, value in {
        "SALESFORCE_CLIENT_ID": sim.client_id,
        "SALESFORCE_CLIENT_SECRET": sim.client_secret,
        "SALESFORCE_USERNAME": sim.username,
        "SALESFORCE_PASSWORD": sim.password,
        "SALESFORCE_SECURITY_TOKEN": sim.security_token,
    }.items():
        assert env[key] == value
