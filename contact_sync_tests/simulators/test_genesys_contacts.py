"""Genesys simulator: external contact create/get/PUT/PATCH/DELETE, validation and error bodies, over real HTTP."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync_tests.simulators.genesys_fixtures import (
    client,
    clock,
    contact_body,
    genesys,
    served_genesys,
)
from contact_sync_tests.simulators.shared_fixtures import TestClock

__all__ = ["client", "clock", "genesys", "served_genesys"]

ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _create(client: httpx.Client, **fields: object) -> dict:
    response = client.post("/contacts", json=contact_body(**fields))
    assert response.status_code == 200, response.text
    return response.json()


def test_create_sets_server_fields_and_get_returns_it(client: httpx.Client, clock: TestClock) -> None:
    created = _create(client, title="  Buyer  ")
    assert uuid.UUID(created["id"]).version == 4
    assert created["type"] == "Curated"
    assert created["selfUri"] == f"/api/v2/externalcontacts/contacts/{created['id']}"
    assert created["createDate"] == created["modifyDate"] == "2026-01-01T00:00:00.000Z"
    assert ISO_MS.fullmatch(created["createDate"])
    assert created["division"]["id"] and created["division"]["name"] == "Home"
    assert created["title"] == "Buyer"  # trimmed
    fetched = client.get(f"/contacts/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created
    assert fetched.headers["ININ-Correlation-Id"]


def test_put_replaces_the_whole_contact_and_clears_left_out_fields(client: httpx.Client, clock: TestClock) -> None:
    created = _create(client, title="Buyer", cellPhone={"display": "317-555-7000"})
    clock.advance(5)
    replaced = client.put(f"/contacts/{created['id']}", json={"firstName": "Annie", "lastName": "Lee"})
    assert replaced.status_code == 200
    body = replaced.json()
    assert body["firstName"] == "Annie"
    for gone in ("title", "cellPhone", "workEmail"):
        assert gone not in body
    assert body["createDate"] == created["createDate"]
    assert body["modifyDate"] == "2026-01-01T00:00:05.000Z"
    assert body["id"] == created["id"] and body["division"] == created["division"]
    assert client.get(f"/contacts/{created['id']}").json() == body


def test_division_cannot_change(client: httpx.Client) -> None:
    created = _create(client)
    other = {"id": str(uuid.uuid4())}
    response = client.put(f"/contacts/{created['id']}", json=contact_body(division=other))
    assert response.status_code == 400
    assert response.json()["details"][0]["fieldName"] == "division"
    same = client.put(f"/contacts/{created['id']}", json=contact_body(division={"id": created["division"]["id"]}))
    assert same.status_code == 200


def test_delete_then_get_is_404(client: httpx.Client, genesys: GenesysSimulator) -> None:
    created = _create(client)
    deleted = client.delete(f"/contacts/{created['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {}
    missing = client.get(f"/contacts/{created['id']}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not.found"
    assert client.delete(f"/contacts/{created['id']}").status_code == 404
    assert genesys.count() == 0


def test_patch_actions(client: httpx.Client) -> None:
    created = _create(client, title="Buyer")
    cid = created["id"]

    def patch(*changes: dict) -> httpx.Response:
        return client.patch(f"/contacts/{cid}", json={"changes": list(changes)})

    r = patch(
        {"field": "$.firstName", "value": "Annie", "action": "Update"},
        {"field": "$.middleName", "value": "May", "action": "UpdateIfEmpty"},
        {"field": "$.lastName", "value": "Ignored", "action": "UpdateIfEmpty"},
        {"field": "$.salutation", "value": "Ignored", "action": "UpdateIfExists"},
        {"field": "$.title", "value": "Lead buyer", "action": "UpdateIfExists"},
        {"field": "$.workEmail", "action": "Remove"},
        {"field": "$.workPhone.display", "value": "(317) 555-7000", "action": "Update"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["firstName"] == "Annie"
    assert body["middleName"] == "May"
    assert body["lastName"] == "Lee"
    assert "salutation" not in body
    assert body["title"] == "Lead buyer"
    assert "workEmail" not in body
    assert body["workPhone"]["e164"] == "+13175557000"
    assert body["workPhone"]["display"] == "+1 317-555-7000"
    assert client.get(f"/contacts/{cid}").json() == body


def test_patch_collections(client: httpx.Client) -> None:
    source = client.post("/externalsources", json={"name": "CRM"}).json()
    cid = _create(client)["id"]
    ext = {"externalSource": {"id": source["id"]}, "value": "003A"}
    r = client.patch(
        f"/contacts/{cid}",
        json={"changes": [{"field": "$.externalIds", "value": [ext], "action": "AppendToCollection"}]},
    )
    assert r.status_code == 200
    assert [x["value"] for x in r.json()["externalIds"]] == ["003A"]
    assert r.json()["externalIds"][0]["externalSource"]["name"] == "CRM"
    r = client.patch(
        f"/contacts/{cid}",
        json={"changes": [{"field": "$.externalIds", "value": ext, "action": "RemoveFromCollection"}]},
    )
    assert r.status_code == 200
    assert "externalIds" not in r.json()
    not_a_list = client.patch(
        f"/contacts/{cid}", json={"changes": [{"field": "$.firstName", "value": "x", "action": "AppendToCollection"}]}
    )
    assert not_a_list.status_code == 400


def test_patch_of_a_field_and_its_parent_together_is_409(client: httpx.Client) -> None:
    cid = _create(client)["id"]
    r = client.patch(
        f"/contacts/{cid}",
        json={
            "changes": [
                {"field": "$.workPhone", "value": {"display": "317-555-7000"}, "action": "Update"},
                {"field": "$.workPhone.extension", "value": "12", "action": "Update"},
            ]
        },
    )
    assert r.status_code == 409
    assert r.json()["code"] == "conflict"
    assert "workPhone" not in client.get(f"/contacts/{cid}").json()


@pytest.mark.parametrize(
    "changes",
    [
        [{"field": "firstName", "value": "x", "action": "Update"}],
        [{"field": "$.firstName", "value": "x", "action": "Replace"}],
        [{"field": "$.firstName", "action": "Update"}],
        [{"field": "$.id", "value": "x", "action": "Update"}],
        [{"field": "$.workEmail", "value": "not-an-email", "action": "Update"}],
        [],
    ],
)
def test_bad_patches_are_400_and_change_nothing(client: httpx.Client, changes: list) -> None:
    created = _create(client)
    r = client.patch(f"/contacts/{created['id']}", json={"changes": changes})
    assert r.status_code == 400, r.text
    assert r.json()["status"] == 400
    assert client.get(f"/contacts/{created['id']}").json() == created


def test_expand_external_organization(client: httpx.Client) -> None:
    org = client.post("/organizations", json={"name": "Acme"}).json()
    cid = _create(client, externalOrganization={"id": org["id"]})["id"]
    plain = client.get(f"/contacts/{cid}").json()
    assert plain["externalOrganization"] == {
        "id": org["id"],
        "selfUri": f"/api/v2/externalcontacts/organizations/{org['id']}",
    }
    expanded = client.get(f"/contacts/{cid}", params={"expand": "externalOrganization"}).json()
    assert expanded["externalOrganization"]["name"] == "Acme"
    unknown = client.post("/contacts", json=contact_body(externalOrganization={"id": str(uuid.uuid4())}))
    assert unknown.status_code == 400


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"workEmail": "ann at example.com"}, "workEmail"),
        ({"personalEmail": "a@b"}, "personalEmail"),
        ({"otherEmail": "@example.com"}, "otherEmail"),
        ({"workEmail": "a" * 250 + "@example.com"}, "workEmail"),
        ({"firstName": "x" * 1001}, "firstName"),
        ({"title": 12}, "title"),
        ({"nickname": "Annie"}, "nickname"),
        ({"workPhone": "317-555-7000"}, "workPhone"),
        ({"address": {"city": "Indy", "planet": "Earth"}}, "address"),
        ({"externalSystemUrl": "not a url"}, "externalSystemUrl"),
        ({"surveyOptOut": "yes"}, "surveyOptOut"),
        ({"customFields": {"score": {"nested": 1}}}, "customFields.score"),
    ],
)
def test_invalid_fields_are_400_with_details(client: httpx.Client, fields: dict, bad_field: str) -> None:
    r = client.post("/contacts", json=contact_body(**fields))
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "bad.request"
    assert bad_field in [d["fieldName"] for d in body["details"]]
    assert set(body) == {"message", "code", "status", "messageParams", "contextId", "details", "errors"}
    assert client.get("/contacts").json()["total"] == 0


def test_every_bad_field_is_reported_at_once(client: httpx.Client) -> None:
    r = client.post("/contacts", json=contact_body(workEmail="bad", lastName="x" * 1001))
    assert r.status_code == 400
    assert {d["fieldName"] for d in r.json()["details"]} == {"workEmail", "lastName"}


def test_limits_are_inclusive(client: httpx.Client) -> None:
    email = "a" * (256 - len("@example.com")) + "@example.com"
    body = _create(client, firstName="x" * 1000, workEmail=email)
    assert len(body["firstName"]) == 1000 and body["workEmail"] == email


def test_custom_fields_and_echoed_server_fields_are_accepted(client: httpx.Client) -> None:
    custom = {"leadScore": 42, "tags": ["vip", "east"], "active": True, "note": "hi"}
    created = _create(client, customFields=custom)
    assert created["customFields"] == custom
    # A client that PUTs back what it read (server fields included) is fine.
    again = client.put(f"/contacts/{created['id']}", json=created)
    assert again.status_code == 200
    assert again.json()["customFields"] == custom
    assert again.json()["workEmail"] == created["workEmail"]


def test_malformed_json_wrong_content_type_and_unknown_routes(client: httpx.Client) -> None:
    bad_json = client.post("/contacts", content=b'{"firstName": ', headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert bad_json.json()["code"] == "bad.request"
    empty = client.post("/contacts", content=b"", headers={"Content-Type": "application/json"})
    assert empty.status_code == 400
    not_object = client.post("/contacts", json=[1, 2])
    assert not_object.status_code == 400
    wrong_type = client.post("/contacts", content=b"firstName=Ann", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert wrong_type.json()["status"] == 415
    unknown = client.get(f"/contacts/{uuid.uuid4()}")
    assert unknown.status_code == 404
    nowhere = client.get("/no-such-thing")
    assert nowhere.status_code == 404
    assert nowhere.json()["code"] == "not.found"
    wrong_method = client.post("/scan/contacts", json={})
    assert wrong_method.status_code == 405
    assert wrong_method.json()["status"] == 405


def test_edit_contact_helper_bumps_modify_date(
    genesys: GenesysSimulator, client: httpx.Client, clock: TestClock
) -> None:
    cid = _create(client)["id"]
    genesys.edit_contact(cid, {"firstName": "Annabel", "workEmail": None})
    after = client.get(f"/contacts/{cid}").json()
    assert after["firstName"] == "Annabel"
    assert "workEmail" not in after
    # Even on a frozen clock an edit is visible by modifyDate.
    assert after["modifyDate"] > after["createDate"]
    with pytest.raises(KeyError):
        genesys.edit_contact(str(uuid.uuid4()), {"firstName": "x"})
    with pytest.raises(ValueError):
        genesys.edit_contact(cid, {"workEmail": "nope"})


def test_calls_are_counted_by_route(genesys: GenesysSimulator, client: httpx.Client) -> None:
    cid = _create(client)["id"]
    client.get(f"/contacts/{cid}")
    client.get(f"/contacts/{cid}")
    assert genesys.calls[("GET", "/api/v2/externalcontacts/contacts/{contactId}")] == 2
    assert genesys.calls[("POST", "/api/v2/externalcontacts/contacts")] == 1
    assert genesys.calls[("POST", "/oauth/token")] == 1
    genesys.reset()
    assert genesys.count() == 0 and not genesys.calls
