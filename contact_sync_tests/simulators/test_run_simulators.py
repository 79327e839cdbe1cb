"""`run_simulators`: the environment it yields, loopback-only binding, faults by name, state that survives a restart."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import requests
from simple_salesforce import Salesforce

from contact_sync.simulators import RunningSimulators, run_simulators
from contact_sync.simulators.seed import seed_simulators

ENV_KEYS = {
    "SALESFORCE_INSTANCE_URL",
    "SALESFORCE_CLIENT_ID",
    "SALESFORCE_CLIENT_SECRET",
    "SALESFORCE_USERNAME",
    "SALESFORCE_PASSWORD",
    "SALESFORCE_SECURITY_TOKEN",
    "SALESFORCE_CA_BUNDLE",
    "GENESYS_API_URL",
    "GENESYS_CLIENT_ID",
    "GENESYS_CLIENT_SECRET",
    "DYNAMICS_URL",
    "DYNAMICS_TENANT_ID",
    "DYNAMICS_CLIENT_ID",
    "DYNAMICS_CLIENT_SECRET",
    "DYNAMICS_TOKEN_URL",
    "DYNAMICS_CA_BUNDLE",
    "HUBSPOT_API_URL",
    "HUBSPOT_ACCESS_TOKEN",
    "HUBSPOT_CA_BUNDLE",
}


def salesforce_client(sims: RunningSimulators) -> Salesforce:
    session = requests.Session()
    session.verify = sims.env["SALESFORCE_CA_BUNDLE"]
    session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment overrides `verify`
    return Salesforce(
        instance_url=sims.env["SALESFORCE_INSTANCE_URL"],
        session_id=sims.salesforce.new_session(),
        session=session,
        version="59.0",
    )


def genesys_token(client: httpx.Client, sims: RunningSimulators) -> str:
    response = client.post(
        f"{sims.env['GENESYS_API_URL']}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(sims.env["GENESYS_CLIENT_ID"], sims.env["GENESYS_CLIENT_SECRET"]),
    )
    response.raise_for_status()
    return response.json()["access_token"]


def listening_addresses(port: int) -> set[str]:
    """The IPv4/IPv6 addresses a local TCP socket listens on for `port`, read from the kernel's table."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def test_env_names_exactly_the_documented_variables_and_matches_the_objects(sims: RunningSimulators) -> None:
    env = sims.env
    assert set(env) == ENV_KEYS
    sf, gen = sims.salesforce, sims.genesys
    assert env["SALESFORCE_INSTANCE_URL"] == sf.url and sf.url.startswith("https://127.0.0.1:")
    assert env["SALESFORCE_CA_BUNDLE"] == sf.ca_bundle and Path(sf.ca_bundle).is_file()
    assert env["SALESFORCE_CLIENT_ID"] == sf.client_id
    assert env["SALESFORCE_CLIENT_SECRET"] == sf.client_secret
    assert env["SALESFORCE_USERNAME"] == sf.username
    assert env["SALESFORCE_PASSWORD"] == sf.password
    assert env["SALESFORCE_SECURITY_TOKEN"] == sf.security_token
    assert env["GENESYS_API_URL"] == gen.url and gen.url.startswith("http://127.0.0.1:")
    assert env["GENESYS_CLIENT_ID"] == gen.client_id
    assert env["GENESYS_CLIENT_SECRET"] == gen.client_secret
    hubspot = sims.hubspot
    assert env["HUBSPOT_API_URL"] == hubspot.url and hubspot.url.startswith("https://127.0.0.1:")
    assert env["HUBSPOT_ACCESS_TOKEN"] == hubspot.access_token
    assert env["HUBSPOT_CA_BUNDLE"] == hubspot.ca_bundle and Path(hubspot.ca_bundle).is_file()
    assert all(value for value in env.values())


def test_both_services_answer_and_listen_on_loopback_only(sims: RunningSimulators) -> None:
    assert salesforce_client(sims).query("SELECT Id FROM Contact")["totalSize"] == 0
    with httpx.Client(timeout=10) as client:
        assert genesys_token(client, sims)
    for url in (sims.salesforce.url, sims.genesys.url):
        port = httpx.URL(url).port
        assert port is not None
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and nothing else


def test_faults_and_options_by_service_name(tmp_path: Path) -> None:
    faults = {"genesys": [{"kind": "503", "path": "^/oauth/token$", "count": 1}]}
    with run_simulators(faults=faults, options={"genesys": {"rate_limit_per_minute": None}}) as sims:
        with httpx.Client(timeout=10) as client:
            first = client.post(f"{sims.genesys.url}/oauth/token", data={"grant_type": "client_credentials"})
            assert first.status_code == 503
            assert genesys_token(client, sims)
        assert [f.kind for f in sims.genesys.faults.fired] == ["503"]
        assert sims.salesforce.faults.rules == []
    with pytest.raises(ValueError, match="unknown simulator name"), run_simulators(faults={"zoho": []}):
        pass


def test_state_folder_survives_a_restart(sims_state_dir: Path) -> None:
    with run_simulators(state_dir=sims_state_dir) as sims:
        report = seed_simulators(sims, 300, seed=5)
        sf_id, g_id = report.salesforce_contact_ids[17], report.genesys_contact_ids[11]
        sf_before = sims.salesforce.contact(sf_id)
        g_before = sims.genesys.contact(g_id)
        counts = (sims.salesforce.count(), sims.genesys.count())
        ca_pem = Path(sims.salesforce.ca_bundle).read_bytes()
    assert counts == (300, len(report.dataset.genesys_contacts))

    with run_simulators(state_dir=sims_state_dir) as sims:
        assert (sims.salesforce.count(), sims.genesys.count()) == counts
        assert sims.salesforce.contact(sf_id) == sf_before
        assert sims.genesys.contact(g_id) == g_before
        assert Path(sims.salesforce.ca_bundle).read_bytes() == ca_pem  # the same CA: clients keep trusting it
        # And over HTTP, as a client sees it after the restart.
        records = salesforce_client(sims).query_all("SELECT Id, Email FROM Contact")["records"]
        assert len(records) == 300
        assert {r["Id"]: r["Email"] for r in records}[sf_id] == sf_before["Email"]
        with httpx.Client(timeout=10) as client:
            token = genesys_token(client, sims)
            got = client.get(
                f"{sims.genesys.url}/api/v2/externalcontacts/contacts/{g_id}",
                headers={"Authorization": f"Bearer {token}"},
            )
        assert got.status_code == 200
        assert got.json()["lastName"] == g_before["lastName"]
