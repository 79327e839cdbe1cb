"""Dynamics simulator through Microsoft's own clients: `msal` and `azure-identity` get a token through the OpenID
configuration and instance discovery documents, and `powerplatform-dataverse-client` looks the tables up in
`EntityDefinitions` and reads and writes records (single, CreateMultiple, UpdateMultiple), over TLS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import msal
import pytest
import requests
from azure.identity import ClientSecretCredential
from PowerPlatform.Dataverse.client import DataverseClient
from PowerPlatform.Dataverse.core.errors import HttpError

from contact_sync.simulators.dynamics import DynamicsSimulator
from contact_sync_tests.simulators.dynamics_fixtures import client, dynamics, served_dynamics
from contact_sync_tests.simulators.shared_fixtures import tls

__all__ = ["client", "dynamics", "served_dynamics"]


def tls_session(sim: DynamicsSimulator) -> requests.Session:
    """A requests session that trusts the simulator's CA (not the environment's CA bundle variables, which requests
    would let override `verify`)."""
    session = requests.Session()
    session.verify = sim.ca_bundle
    session.trust_env = False
    return session


def msal_app(sim: DynamicsSimulator, **options: Any) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        sim.client_id,
        client_credential=sim.client_secret,
        authority=f"{sim.url}/{sim.tenant_id}",
        instance_discovery=f"{sim.url}/common/discovery/instance",
        http_client=tls_session(sim),
        **options,
    )


def test_msal_discovers_the_tenant_and_gets_a_token_the_web_api_takes(dynamics: DynamicsSimulator) -> None:
    result = msal_app(dynamics).acquire_token_for_client(scopes=[f"{dynamics.url}/.default"])
    assert "access_token" in result, result
    whoami = httpx.get(
        f"{dynamics.api_url}/WhoAmI",
        headers={"Authorization": f"Bearer {result['access_token']}"},
        verify=tls(dynamics),
    )
    assert whoami.status_code == 200 and "UserId" in whoami.json()
    assert dynamics.calls[("GET", "/common/discovery/instance")] == 1
    assert dynamics.calls[("GET", "/{tenant}/v2.0/.well-known/openid-configuration")] == 1


def test_msal_refuses_an_unknown_tenant_and_a_wrong_secret(dynamics: DynamicsSimulator) -> None:
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        msal.ConfidentialClientApplication(
            dynamics.client_id,
            client_credential=dynamics.client_secret,
            authority=f"{dynamics.url}/not-our-tenant",
            instance_discovery=False,
            http_client=tls_session(dynamics),
        )
    wrong = msal.ConfidentialClientApplication(
        dynamics.client_id,
        client_credential="wrong",
        authority=f"{dynamics.url}/{dynamics.tenant_id}",
        instance_discovery=False,
        http_client=tls_session(dynamics),
    )
    refused = wrong.acquire_token_for_client(scopes=[f"{dynamics.url}/.default"])
    assert refused["error"] == "invalid_client" and "AADSTS" in refused["error_description"]


def test_instance_discovery_of_another_host_is_an_invalid_instance(dynamics: DynamicsSimulator) -> None:
    response = httpx.get(
        f"{dynamics.url}/common/discovery/instance",
        params={"authorization_endpoint": "https://login.example.com/x/oauth2/v2.0/authorize", "api-version": "1.1"},
        verify=tls(dynamics),
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_instance"


@pytest.fixture
def credential(dynamics: DynamicsSimulator) -> ClientSecretCredential:
    return ClientSecretCredential(
        dynamics.tenant_id,
        dynamics.client_id,
        dynamics.client_secret,
        authority=dynamics.url.removeprefix("https://"),
        disable_instance_discovery=True,
        connection_verify=dynamics.ca_bundle,
    )


@pytest.fixture
def dataverse(
    dynamics: DynamicsSimulator, credential: ClientSecretCredential, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DataverseClient]:
    """Microsoft's Dataverse client on the simulator (its requests session trusts the simulator's CA through
    REQUESTS_CA_BUNDLE: the client takes no session of its own)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(dynamics.ca_bundle))
    yield DataverseClient(dynamics.url, credential)


def test_azure_identity_gets_a_token(dynamics: DynamicsSimulator, credential: ClientSecretCredential) -> None:
    token = credential.get_token(f"{dynamics.url}/.default")
    assert token.token and token.expires_on > 0


def test_the_dataverse_client_looks_tables_up_and_writes_and_reads_records(
    dynamics: DynamicsSimulator, dataverse: DataverseClient
) -> None:
    info = dataverse.tables.get("contact")
    assert info is not None and info["entity_set_name"] == "contacts"
    one = dataverse.records.create("contact", {"firstname": "Ada", "lastname": "Lovelace"})
    many = dataverse.records.create(
        "contact", [{"lastname": f"Row {n}", "emailaddress1": f"r{n}@x.com"} for n in range(3)]
    )
    assert len(many) == 3 and len({one, *many}) == 4
    assert dynamics.calls[("POST", "/api/data/v9.2/contacts/Microsoft.Dynamics.CRM.CreateMultiple")] == 1
    dataverse.records.update("contact", one, {"firstname": "Augusta"})
    dataverse.records.update("contact", many, {"telephone1": "317-555-7000"})
    assert dataverse.records.get("contact", one, select=["firstname", "lastname"])["firstname"] == "Augusta"
    rows = [
        r for page in dataverse.records.get("contact", select=["telephone1"], filter="telephone1 ne null") for r in page
    ]
    assert len(rows) == 3
    dataverse.records.delete("contact", one)
    assert dynamics.count() == 3


def test_the_dataverse_client_gets_the_services_errors(dataverse: DataverseClient) -> None:
    with pytest.raises(HttpError) as too_long:
        dataverse.records.create("contact", {"lastname": "x" * 51})
    assert too_long.value.status_code == 400
    with pytest.raises(HttpError) as not_simulated:
        dataverse.query.sql("SELECT contactid FROM contact")
    assert not_simulated.value.status_code == 400
    with pytest.raises(Exception, match="Unable to resolve entity set"):
        dataverse.records.create("opportunity", {"name": "x"})
