"""Genesys simulator: a state folder keeps contacts, sources, organizations and tokens across restarts; seeding."""

from __future__ import annotations

from pathlib import Path

import httpx

from contact_sync.simulators import serve_simulator
from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync_tests.simulators.genesys_fixtures import api_client, contact_body


def test_state_folder_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "genesys-state"
    first = GenesysSimulator(state, rate_limit_per_minute=None)
    with serve_simulator(first), api_client(first) as c:
        source = c.post("/externalsources", json={"name": "CRM"}).json()
        org = c.post("/organizations", json={"name": "Acme"}).json()
        created = c.post(
            "/contacts",
            json=contact_body(
                externalOrganization={"id": org["id"]},
                externalIds=[{"externalSource": {"id": source["id"]}, "value": "003A"}],
            ),
        ).json()
        seeded = first.load_contacts(
            [contact_body(firstName=f"S{i}", workEmail=f"s{i}@example.com") for i in range(30)]
        )
        token = c.headers["Authorization"]

    # Another process would open the same file; a second simulator on the folder does exactly that.
    second = GenesysSimulator(state, rate_limit_per_minute=None)
    with serve_simulator(second), httpx.Client(base_url=f"{second.url}/api/v2/externalcontacts") as c:
        c.headers["Authorization"] = token  # tokens survive too
        assert c.get(f"/contacts/{created['id']}").json() == created
        assert second.count() == 31
        assert {second.contact(i)["firstName"] for i in seeded} == {f"S{i}" for i in range(30)}
        assert c.get(f"/externalsources/{source['id']}").json()["name"] == "CRM"
        lookup = {"type": "ExternalId", "value": "003A", "externalSource": {"id": source["id"]}}
        assert c.post("/identifierlookup/contacts", json=lookup).json()["id"] == created["id"]
        assert (
            c.get(f"/contacts/{created['id']}", params={"expand": "externalOrganization"}).json()[
                "externalOrganization"
            ]["name"]
            == "Acme"
        )


def test_two_simulators_on_one_folder_see_each_others_writes(tmp_path: Path) -> None:
    state = tmp_path / "shared"
    a = GenesysSimulator(state)
    b = GenesysSimulator(state)
    try:
        (cid,) = a.load_contacts([contact_body()])
        assert b.contact(cid)["firstName"] == "Ann"
        b.edit_contact(cid, {"firstName": "Annie"})
        assert a.contact(cid)["firstName"] == "Annie"
    finally:
        a.close()
        b.close()


def test_load_contacts_validates_and_normalizes_like_a_create() -> None:
    sim = GenesysSimulator()
    try:
        (cid,) = sim.load_contacts([contact_body(workPhone={"display": "317 555 7000"}, title="  Boss ")])
        stored = sim.contact(cid)
        assert stored["workPhone"]["e164"] == "+13175557000" and stored["title"] == "Boss"
        assert stored["type"] == "Curated" and stored["selfUri"].endswith(cid)
        try:
            sim.load_contacts([contact_body(), contact_body(workEmail="broken")])
        except ValueError as exc:
            assert "row 1" in str(exc)
        else:
            raise AssertionError("a bad row was accepted")
        assert sim.count() == 1  # nothing of the refused batch was written
    finally:
        sim.close()


def test_env_and_repr_do_not_leak_more_than_needed() -> None:
    sim = GenesysSimulator(client_id="cid", client_secret="very-secret")
    try:
        sim.bind("http://127.0.0.1:1234")
        assert sim.env() == {
            "GENESYS_API_URL": "http://127.0.0.1:1234",
            "GENESYS_CLIENT_ID": "cid",
            "GENESYS_CLIENT_SECRET": "very-secret",
        }
        assert "very-secret" not in repr(sim) and "very-secret" not in repr(sim.tokens)
    finally:
        sim.close()
