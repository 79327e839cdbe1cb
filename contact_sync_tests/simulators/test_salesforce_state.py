"""The Salesforce simulator's state folder: data and sessions survive a restart and are shared between processes
(here: two simulator instances) opening the same folder; and `run_simulators` serves it with the documented env."""

from __future__ import annotations

from pathlib import Path

from simple_salesforce import Salesforce

from contact_sync.simulators import RunningSimulators, run_simulators, serve_simulator
from contact_sync.simulators.salesforce import SalesforceSimulator
from contact_sync_tests.simulators.salesforce_fixtures import client_session


def _client(sim: SalesforceSimulator, token: str) -> Salesforce:
    return Salesforce(session_id=token, instance_url=sim.url, session=client_session(sim))


def test_state_folder_survives_a_restart(tmp_path: Path) -> None:
    first = SalesforceSimulator(tmp_path)
    with serve_simulator(first):
        token = first.new_session()
        sf = _client(first, token)
        cid = sf.Contact.create({"LastName": "Durable", "Email": "durable@example.com"})["id"]
        first.delete_contact(first.load_contacts([{"LastName": "Deleted"}])[0])
        stamp = first.contact(cid)["SystemModstamp"]
        sf.session.close()
    assert (tmp_path / "salesforce.sqlite3").exists()

    second = SalesforceSimulator(tmp_path)
    with serve_simulator(second):
        sf = _client(second, token)  # the session issued before the restart is still valid
        records = sf.query_all("SELECT Id, LastName, Email FROM Contact")["records"]
        assert [(r["Id"], r["LastName"], r["Email"]) for r in records] == [(cid, "Durable", "durable@example.com")]
        assert second.count(include_deleted=True) == 2
        second.edit_contact(cid, Phone="1")
        assert second.contact(cid)["SystemModstamp"] > stamp
        new_id = sf.Contact.create({"LastName": "After restart"})["id"]
        assert new_id not in (cid,)
        sf.session.close()


def test_two_instances_on_one_folder_see_each_other(tmp_path: Path) -> None:
    a = SalesforceSimulator(tmp_path)
    b = SalesforceSimulator(tmp_path)
    with serve_simulator(a), serve_simulator(b):
        sf_a = _client(a, a.new_session())
        sf_b = _client(b, b.new_session())
        created = sf_a.Contact.create({"LastName": "Shared"})["id"]
        assert sf_b.Contact.get(created)["LastName"] == "Shared"
        sf_b.Contact.update(created, {"Email": "shared@example.com"})
        assert a.contact(created)["Email"] == "shared@example.com"
        b.expire_sessions()
        assert b.store.has_session(sf_a.session_id) is False
        sf_a.session.close()
        sf_b.session.close()


def test_in_memory_state_is_not_shared() -> None:
    a = SalesforceSimulator()
    b = SalesforceSimulator()
    a.load_contacts([{"LastName": "Only in a"}])
    assert (a.count(), b.count()) == (1, 0)
    a.close()
    b.close()


def test_run_simulators_serves_salesforce_with_the_env(sims: RunningSimulators) -> None:
    sim = sims.salesforce
    assert sims.env["SALESFORCE_INSTANCE_URL"] == sim.url
    assert sims.env["SALESFORCE_CA_BUNDLE"] == sim.ca_bundle
    sim.load_contacts([{"LastName": "Via run_simulators"}])
    sf = Salesforce(
        username=sims.env["SALESFORCE_USERNAME"],
        password=sims.env["SALESFORCE_PASSWORD"],
        security_token=sims.env["SALESFORCE_SECURITY_TOKEN"],
        domain=sim.login_domain,
        session=client_session(sim),
    )
    assert sf.query("SELECT LastName FROM Contact")["records"][0]["LastName"] == "Via run_simulators"
    sf.session.close()


def test_run_simulators_with_a_state_dir_and_options(tmp_path: Path) -> None:
    with run_simulators(tmp_path, options={"salesforce": {"daily_api_limit": 10}}) as running:
        running.salesforce.load_contacts([{"LastName": "Kept"}])
        assert running.salesforce.daily_api_limit == 10
    with run_simulators(tmp_path) as running:
        assert running.salesforce.count() == 1
