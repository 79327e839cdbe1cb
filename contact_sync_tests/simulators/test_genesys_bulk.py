"""Genesys simulator: bulk fetch/add/update/remove with per-record results in an order not tied to the request."""

from __future__ import annotations

import uuid

import httpx
import pytest

from contact_sync.simulators import serve_simulator
from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync_tests.simulators.genesys_fixtures import api_client, client, genesys, served_genesys

__all__ = ["client", "genesys", "served_genesys"]


def _people(n: int) -> list[dict]:
    return [{"firstName": f"Bulk{i}", "lastName": "Person", "workEmail": f"bulk{i}@example.com"} for i in range(n)]


def _check_counts(body: dict) -> None:
    failed = [i for i, r in enumerate(body["results"]) if not r["success"]]
    assert body["errorIndexes"] == failed
    assert body["errorCount"] == len(failed)


def test_bulk_add_writes_good_records_and_reports_bad_ones(genesys: GenesysSimulator, client: httpx.Client) -> None:
    entities = _people(20)
    entities[3]["workEmail"] = "not-an-email"
    entities[11]["lastName"] = "x" * 1001
    response = client.post("/bulk/contacts/add", json={"entities": entities})
    assert response.status_code == 200
    body = response.json()
    _check_counts(body)
    assert body["errorCount"] == 2
    assert genesys.count() == 18
    failures = [r for r in body["results"] if not r["success"]]
    assert {f["error"]["entity"]["firstName"] for f in failures} == {"Bulk3", "Bulk11"}
    assert all(f["error"]["status"] == 400 and f["error"]["details"] for f in failures)
    successes = [r for r in body["results"] if r["success"]]
    for r in successes:
        assert r["entity"]["id"] == r["id"]
        assert genesys.contact(r["id"])["firstName"] == r["entity"]["firstName"]
    # The results do not follow the request order: a client must match by content, not position.
    names_in_result_order = [
        (r["entity"] if r["success"] else r["error"]["entity"])["firstName"] for r in body["results"]
    ]
    assert names_in_result_order != [e["firstName"] for e in entities]
    assert sorted(names_in_result_order) == sorted(e["firstName"] for e in entities)


def test_bulk_result_order_is_deterministic_for_a_seed() -> None:
    def run() -> list[str]:
        sim = GenesysSimulator(rate_limit_per_minute=None, shuffle_seed=7)
        with serve_simulator(sim), api_client(sim) as c:
            body = c.post("/bulk/contacts/add", json={"entities": _people(10)}).json()
        return [r["entity"]["firstName"] for r in body["results"]]

    assert run() == run()


def test_bulk_update_replaces_whole_contacts(genesys: GenesysSimulator, client: httpx.Client) -> None:
    ids = genesys.load_contacts([{**p, "title": "Old", "cellPhone": {"display": "317-555-7000"}} for p in _people(5)])
    updates = [{"id": cid, "firstName": f"New{i}", "lastName": "Person"} for i, cid in enumerate(ids)]
    updates.append({"id": str(uuid.uuid4()), "firstName": "Ghost", "lastName": "Person"})
    updates.append({"firstName": "NoId"})
    updates[1]["workEmail"] = "broken@"
    body = client.post("/bulk/contacts/update", json={"entities": updates}).json()
    _check_counts(body)
    by_status = {r["error"]["status"] for r in body["results"] if not r["success"]}
    assert by_status == {400, 404}
    assert body["errorCount"] == 3
    for i, cid in enumerate(ids):
        stored = genesys.contact(cid)
        if i == 1:
            assert stored["firstName"] == "Bulk1" and stored["title"] == "Old"  # the failed one is untouched
        else:
            assert stored["firstName"] == f"New{i}"
            assert "title" not in stored and "cellPhone" not in stored and "workEmail" not in stored


def test_bulk_fetch_and_remove(genesys: GenesysSimulator, client: httpx.Client) -> None:
    ids = genesys.load_contacts(_people(6))
    missing = str(uuid.uuid4())
    fetched = client.post("/bulk/contacts", json={"entities": [{"id": i} for i in [*ids[:4], missing]]}).json()
    _check_counts(fetched)
    assert {r["id"] for r in fetched["results"] if r["success"]} == set(ids[:4])
    assert [r["error"]["status"] for r in fetched["results"] if not r["success"]] == [404]
    assert all(r["entity"]["id"] == r["id"] for r in fetched["results"] if r["success"])
    removed = client.post("/bulk/contacts/remove", json={"entities": [{"id": i} for i in [*ids[:3], missing]]}).json()
    _check_counts(removed)
    assert {r["id"] for r in removed["results"] if r["success"]} == set(ids[:3])
    assert removed["errorCount"] == 1
    assert genesys.count() == 3


def test_bulk_over_the_maximum_is_413(genesys: GenesysSimulator, client: httpx.Client) -> None:
    ok = client.post("/bulk/contacts/add", json={"entities": _people(200)})
    assert ok.status_code == 200
    too_many = client.post("/bulk/contacts/add", json={"entities": _people(201)})
    assert too_many.status_code == 413
    assert too_many.json()["status"] == 413
    assert genesys.count() == 200
    assert client.post("/bulk/contacts/remove", json={"entities": [{"id": "x"}] * 201}).status_code == 413


def test_bulk_maximum_is_configurable() -> None:
    sim = GenesysSimulator(rate_limit_per_minute=None, bulk_max=5)
    with serve_simulator(sim), api_client(sim) as c:
        assert c.post("/bulk/contacts/add", json={"entities": _people(5)}).status_code == 200
        assert c.post("/bulk/contacts/add", json={"entities": _people(6)}).status_code == 413


@pytest.mark.parametrize("body", [{}, {"entities": {"id": "x"}}, [1, 2]])
def test_bulk_body_must_hold_an_entities_list(client: httpx.Client, body: object) -> None:
    response = client.post("/bulk/contacts/add", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "bad.request"


def test_bulk_organization_add_writes_good_records_and_reports_bad_ones(
    genesys: GenesysSimulator, client: httpx.Client
) -> None:
    entities: list[dict] = [{"name": f"Org {i}"} for i in range(6)]
    entities[2] = {"name": "x" * 1001}
    entities[4] = {"name": "Org 4", "websites": "not a list"}
    body = client.post("/bulk/organizations/add", json={"entities": entities}).json()
    _check_counts(body)
    assert body["errorCount"] == 2
    failures = [r["error"] for r in body["results"] if not r["success"]]
    assert all(f["status"] == 400 and f["entity"] in (entities[2], entities[4]) for f in failures)
    created = {r["entity"]["name"]: r["id"] for r in body["results"] if r["success"]}
    assert set(created) == {"Org 0", "Org 1", "Org 3", "Org 5"}
    assert all(genesys.service.get_organization(oid)["name"] == name for name, oid in created.items())
    too_many = client.post("/bulk/organizations/add", json={"entities": [{"name": "o"}] * 201})
    assert too_many.status_code == 413
