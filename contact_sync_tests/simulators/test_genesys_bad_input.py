"""Genesys simulator: no input reaches a 500. Seeded random JSON (right and wrong types, nesting, huge strings) on
every write endpoint, and odd query strings on the read ones, always get a 4xx ErrorBody or a success."""

from __future__ import annotations

import random
from typing import Any

import httpx

from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync_tests.simulators.genesys_fixtures import client, genesys, served_genesys

__all__ = ["client", "genesys", "served_genesys"]

FIELDS = [
    "firstName",
    "lastName",
    "title",
    "workEmail",
    "workPhone",
    "cellPhone",
    "address",
    "externalIds",
    "customFields",
    "externalOrganization",
    "division",
    "surveyOptOut",
    "schema",
    "externalSystemUrl",
    "id",
    "twitterId",
    "name",
    "entities",
    "changes",
    "type",
    "value",
    "display",
    "field",
    "action",
]


def _value(rnd: random.Random, depth: int = 0) -> Any:
    choice = rnd.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rnd.choice([True, False])
    if choice == 2:
        return rnd.choice([0, -1, 2**63, 1.5, float("1e308")])
    if choice == 3:
        return rnd.choice(["", " ", "x" * 2000, "a@b.co", "317-555-7000", "$.firstName", "Update", "\u0000", "é"])
    if choice == 4:
        return str(rnd.random())
    if choice == 5:
        return rnd.choice(["Email", "Phone", "ExternalId", "Remove", "AppendToCollection"])
    if choice == 6:
        return [_value(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    return {rnd.choice(FIELDS): _value(rnd, depth + 1) for _ in range(rnd.randrange(5))}


def test_random_bodies_never_cause_a_500(genesys: GenesysSimulator, client: httpx.Client) -> None:
    (cid,) = genesys.load_contacts([{"firstName": "Ann", "lastName": "Lee"}])
    (oid,) = genesys.load_organizations([{"name": "Acme"}])
    source_id = client.post("/externalsources", json={"name": "CRM"}).json()["id"]
    writes = [
        ("POST", "/contacts"),
        ("PUT", f"/contacts/{cid}"),
        ("PATCH", f"/contacts/{cid}"),
        ("POST", "/bulk/contacts"),
        ("POST", "/bulk/contacts/add"),
        ("POST", "/bulk/contacts/update"),
        ("POST", "/bulk/contacts/remove"),
        ("POST", "/identifierlookup/contacts"),
        ("POST", "/organizations"),
        ("PUT", f"/organizations/{oid}"),
        ("POST", "/externalsources"),
        ("PUT", f"/externalsources/{source_id}"),
    ]
    rnd = random.Random(2026)
    statuses: set[int] = set()
    for i in range(240):
        method, path = writes[i % len(writes)]
        body = _value(rnd)
        if rnd.random() < 0.3:
            body = {"entities": [_value(rnd) for _ in range(3)]} if "bulk" in path else {"changes": [_value(rnd)]}
        response = client.request(method, path, json=body)
        statuses.add(response.status_code)
        assert response.status_code < 500, (method, path, body, response.text)
        if response.status_code >= 400:
            assert response.json()["status"] == response.status_code
    assert 400 in statuses


def test_odd_query_strings_never_cause_a_500(client: httpx.Client) -> None:
    odd = ["", "-1", "0", "abc", "99999999999999999999", "1e3", "%00", "' OR 1=1 --", "x" * 300]
    for value in odd:
        for path, name in [
            ("/contacts", "pageSize"),
            ("/contacts", "pageNumber"),
            ("/contacts", "q"),
            ("/contacts", "sortOrder"),
            ("/scan/contacts", "limit"),
            ("/scan/contacts", "cursor"),
            ("/scan/organizations", "cursor"),
            ("/reversewhitepageslookup", "lookupVal"),
            ("/contacts/not-a-uuid", "expand"),
        ]:
            response = client.get(path, params={name: value})
            assert response.status_code < 500, (path, name, value, response.text)
