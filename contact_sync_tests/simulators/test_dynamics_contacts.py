"""Dynamics simulator: contact create/read/update/delete, upserts, If-Match ETags, the account lookup, accounts."""

from __future__ import annotations

import re
import uuid

import httpx

from contact_sync.simulators.dynamics import DynamicsSimulator
from contact_sync_tests.simulators.dynamics_fixtures import (
    client,
    clock,
    contact_body,
    dynamics,
    served_dynamics,
)
from contact_sync_tests.simulators.shared_fixtures import TestClock

__all__ = ["client", "clock", "dynamics", "served_dynamics"]

ENTITY_ID = re.compile(r"/contacts\(([0-9a-f-]{36})\)$")
VERSION_MISMATCH = {
    "error": {
        "code": "0x80060882",
        "message": "The version of the existing record doesn't match the RowVersion property provided.",
    }
}


def create(client: httpx.Client, **columns: object) -> str:
    response = client.post("/contacts", json=contact_body(**columns))
    assert response.status_code == 204, response.text
    m = ENTITY_ID.search(response.headers["OData-EntityId"])
    assert m, response.headers["OData-EntityId"]
    return m.group(1)


def test_create_answers_204_with_the_entity_id_and_get_reads_it_back(
    dynamics: DynamicsSimulator, client: httpx.Client, clock: TestClock
) -> None:
    response = client.post("/contacts", json=contact_body(telephone1="+1 415 555 0100", mobilephone="0400 000 000"))
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["OData-EntityId"].startswith(f"{dynamics.api_url}/contacts(")
    contact_id = ENTITY_ID.search(response.headers["OData-EntityId"]).group(1)  # type: ignore[union-attr]

    got = client.get(f"/contacts({contact_id})")
    assert got.status_code == 200
    assert got.headers["OData-Version"] == "4.0"
    row = got.json()
    assert row["@odata.context"] == f"{dynamics.api_url}/$metadata#contacts/$entity"
    assert row["contactid"] == contact_id
    assert (row["firstname"], row["lastname"], row["fullname"]) == ("Ann", "Lee", "Ann Lee")
    assert (row["emailaddress1"], row["telephone1"], row["mobilephone"]) == (
        "ann.lee@example.com",
        "+1 415 555 0100",
        "0400 000 000",
    )
    assert row["createdon"] == row["modifiedon"] == "2026-01-01T00:00:00Z"
    assert (row["statecode"], row["statuscode"]) == (0, 1)
    assert row["_parentcustomerid_value"] is None
    assert row["@odata.etag"] == f'W/"{row["versionnumber"]}"' == got.headers["ETag"]
    assert dynamics.contact(contact_id) == {k: v for k, v in row.items() if k != "@odata.context"}
    assert dynamics.calls[("POST", "/api/data/v9.2/contacts")] == 1
    assert dynamics.calls[("GET", "/api/data/v9.2/contacts({record_id})")] == 1


def test_return_representation_answers_201_with_the_row(client: httpx.Client) -> None:
    response = client.post(
        "/contacts?$select=lastname,emailaddress1",
        json=contact_body(),
        headers={"Prefer": "return=representation"},
    )
    assert response.status_code == 201
    assert response.headers["Preference-Applied"] == "return=representation"
    body = response.json()
    assert set(body) == {"@odata.context", "@odata.etag", "lastname", "emailaddress1", "contactid"}
    assert response.headers["OData-EntityId"].endswith(f"/contacts({body['contactid']})")


def test_get_with_select_and_a_conditional_get(client: httpx.Client) -> None:
    contact_id = create(client)
    got = client.get(f"/contacts({contact_id})", params={"$select": "firstname,modifiedon"})
    assert set(got.json()) == {"@odata.context", "@odata.etag", "firstname", "modifiedon", "contactid"}
    assert got.json()["@odata.context"].endswith("#contacts(firstname,modifiedon)/$entity")
    unchanged = client.get(f"/contacts({contact_id})", headers={"If-None-Match": got.headers["ETag"]})
    assert unchanged.status_code == 304


def test_client_chosen_id_and_a_duplicate_of_it(client: httpx.Client) -> None:
    chosen = str(uuid.uuid4())
    assert create(client, contactid=chosen) == chosen
    again = client.post("/contacts", json=contact_body(contactid=chosen))
    assert again.status_code == 412
    assert again.json()["error"]["code"] == "0x80040237"


def test_patch_updates_bumps_version_and_modifiedon_and_keeps_other_columns(
    dynamics: DynamicsSimulator, client: httpx.Client, clock: TestClock
) -> None:
    contact_id = create(client, telephone1="555 0100")
    before = dynamics.contact(contact_id)
    clock.advance(90)
    response = client.patch(f"/contacts({contact_id})", json={"firstname": "Anne", "emailaddress1": None})
    assert response.status_code == 204
    assert response.headers["OData-EntityId"].endswith(f"/contacts({contact_id})")
    after = dynamics.contact(contact_id)
    assert after is not None and before is not None
    assert (after["firstname"], after["emailaddress1"], after["telephone1"]) == ("Anne", None, "555 0100")
    assert after["fullname"] == "Anne Lee"
    assert after["modifiedon"] == "2026-01-01T00:01:30Z"
    assert after["createdon"] == before["createdon"]
    assert after["versionnumber"] > before["versionnumber"]
    assert after["@odata.etag"] != before["@odata.etag"]


def test_patch_with_return_representation_answers_200(client: httpx.Client) -> None:
    contact_id = create(client)
    response = client.patch(
        f"/contacts({contact_id})", json={"lastname": "Li"}, headers={"Prefer": "return=representation"}
    )
    assert response.status_code == 200
    assert response.json()["lastname"] == "Li"


def test_if_match_412_when_the_row_changed_since_it_was_read(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    contact_id = create(client)
    etag = client.get(f"/contacts({contact_id})").json()["@odata.etag"]
    dynamics.edit_contact(contact_id, telephone1="555 0199")  # a user edits it in the app meanwhile
    stale = client.patch(f"/contacts({contact_id})", json={"firstname": "Overwrite"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json() == VERSION_MISMATCH
    row = dynamics.contact(contact_id)
    assert row is not None
    assert (row["firstname"], row["telephone1"]) == ("Ann", "555 0199")  # nothing was overwritten
    fresh = row["@odata.etag"]
    ok = client.patch(f"/contacts({contact_id})", json={"firstname": "Anne"}, headers={"If-Match": fresh})
    assert ok.status_code == 204
    # Delete honours If-Match too.
    assert client.delete(f"/contacts({contact_id})", headers={"If-Match": fresh}).status_code == 412
    assert dynamics.contact(contact_id) is not None


def test_if_match_star_updates_only_and_404s_a_missing_record(
    dynamics: DynamicsSimulator, client: httpx.Client
) -> None:
    missing = str(uuid.uuid4())
    response = client.patch(f"/contacts({missing})", json=contact_body(), headers={"If-Match": "*"})
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "0x80040217", "message": f"contact With Id = {missing} Does Not Exist"}
    }
    assert dynamics.count() == 0
    existing = create(client)
    assert client.patch(f"/contacts({existing})", json={"lastname": "Li"}, headers={"If-Match": "*"}).status_code == 204
    assert dynamics.contact(existing)["lastname"] == "Li"  # type: ignore[index]


def test_patch_without_if_match_is_an_upsert(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    new_id = str(uuid.uuid4())
    created = client.patch(f"/contacts({new_id})", json=contact_body(firstname="Up"))
    assert created.status_code == 204
    assert created.headers["OData-EntityId"].endswith(f"/contacts({new_id})")
    assert dynamics.contact(new_id)["firstname"] == "Up"  # type: ignore[index]
    # An upsert that would create must still carry the required lastname.
    assert client.patch(f"/contacts({uuid.uuid4()})", json={"firstname": "NoLast"}).status_code == 400
    # If-None-Match: * is create only.
    assert (
        client.patch(f"/contacts({new_id})", json={"lastname": "X"}, headers={"If-None-Match": "*"}).status_code == 412
    )


def test_delete_is_204_then_the_record_is_gone(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    contact_id = create(client)
    response = client.delete(f"/contacts({contact_id})")
    assert response.status_code == 204
    assert dynamics.contact(contact_id) is None
    assert client.get(f"/contacts({contact_id})").status_code == 404
    again = client.delete(f"/contacts({contact_id})")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "0x80040217"


def test_parent_account_lookup_is_set_by_bind_and_read_as_value(
    dynamics: DynamicsSimulator, client: httpx.Client
) -> None:
    created = client.post("/accounts", json={"name": "Acme Ltd"})
    assert created.status_code == 204
    account_id = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    contact_id = create(client, **{"parentcustomerid_account@odata.bind": f"/accounts({account_id})"})
    row = client.get(
        f"/contacts({contact_id})",
        params={"$select": "_parentcustomerid_value"},
        headers={"Prefer": 'odata.include-annotations="*"'},
    ).json()
    assert row["_parentcustomerid_value"] == account_id
    assert row["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    # Filter by it, clear it, and refuse a bind to an account that does not exist.
    found = client.get("/contacts", params={"$filter": f"_parentcustomerid_value eq {account_id}"}).json()["value"]
    assert [r["contactid"] for r in found] == [contact_id]
    assert (
        client.patch(f"/contacts({contact_id})", json={"parentcustomerid_account@odata.bind": None}).status_code == 204
    )
    assert dynamics.contact(contact_id)["_parentcustomerid_value"] is None  # type: ignore[index]
    ghost = str(uuid.uuid4())
    refused = client.patch(
        f"/contacts({contact_id})", json={"parentcustomerid_account@odata.bind": f"/accounts({ghost})"}
    )
    assert refused.status_code == 404
    assert refused.json()["error"]["message"] == f"account With Id = {ghost} Does Not Exist"


def test_accounts_create_get_and_list(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    ids = dynamics.load_accounts([{"name": f"Account {i}"} for i in range(3)])
    created = client.post("/accounts", json={"name": "Direct"}, headers={"Prefer": "return=representation"})
    assert created.status_code == 201
    got = client.get(f"/accounts({ids[1]})").json()
    assert (got["accountid"], got["name"]) == (ids[1], "Account 1")
    listed = client.get("/accounts", params={"$select": "name", "$orderby": "name desc"}).json()["value"]
    assert [a["name"] for a in listed] == ["Direct", "Account 2", "Account 1", "Account 0"]
    assert client.post("/accounts", json={"telephone1": "1"}).status_code == 400  # name is required


def test_seed_helpers_and_a_users_edit_and_delete(dynamics: DynamicsSimulator, clock: TestClock) -> None:
    (account,) = dynamics.load_accounts([{"name": "Acme"}])
    ids = dynamics.load_contacts(
        [
            {"firstname": "A", "lastname": "One", "parentcustomerid": account},
            {"lastname": "Two", "modifiedon": "2025-06-01T12:00:00Z", "createdon": "2025-05-01T00:00:00Z"},
        ]
    )
    assert dynamics.count() == 2
    first, second = dynamics.contact(ids[0]), dynamics.contact(ids[1])
    assert first is not None and second is not None
    assert first["_parentcustomerid_value"] == account
    assert (second["createdon"], second["modifiedon"]) == ("2025-05-01T00:00:00Z", "2025-06-01T12:00:00Z")
    clock.advance(5)
    dynamics.edit_contact(ids[1], firstname="Zed")
    edited = dynamics.contact(ids[1])
    assert edited is not None
    assert (edited["firstname"], edited["modifiedon"]) == ("Zed", "2026-01-01T00:00:05Z")
    assert edited["versionnumber"] > second["versionnumber"]
    dynamics.delete_contact(ids[0])
    assert dynamics.contact(ids[0]) is None
    assert dynamics.count() == 1
