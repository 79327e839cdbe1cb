"""Genesys simulator: what the official SDK (`PureCloudPlatformClientV2`) reads it can write back, with the field
types of its models (`PhoneNumber.extension` an integer)."""

from __future__ import annotations

import httpx
import pytest

from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync_tests.simulators.genesys_fixtures import client, genesys, sdk, sdk_losses, served_genesys

__all__ = ["client", "genesys", "sdk", "served_genesys"]


def test_a_contact_with_an_extension_survives_the_sdks_read_modify_put(
    genesys: GenesysSimulator, client: httpx.Client, sdk: object
) -> None:
    created = client.post("/contacts", json={"lastName": "Ext", "workPhone": {"display": "(317) 555-7000 x204"}})
    assert created.status_code == 200 and created.json()["workPhone"]["extension"] == 204
    contact = sdk.get_externalcontacts_contact(created.json()["id"])  # type: ignore[attr-defined]
    assert contact.work_phone.extension == 204
    contact.first_name = "Edited"
    contact.work_phone.extension = 205
    saved = sdk.put_externalcontacts_contact(contact.id, contact)  # type: ignore[attr-defined]
    assert saved.first_name == "Edited" and saved.work_phone.extension == 205
    assert genesys.contact(contact.id)["workPhone"]["extension"] == 205


@pytest.mark.parametrize(("extension", "stored"), [(12, 12), ("12", 12), ("", None), (None, None)])
def test_an_extension_is_stored_as_an_integer(client: httpx.Client, extension: object, stored: object) -> None:
    phone = {"display": "317-555-7000", "extension": extension}
    made = client.post("/contacts", json={"lastName": "Ext", "workPhone": phone})
    assert made.status_code == 200, made.text
    assert made.json()["workPhone"].get("extension") == stored


@pytest.mark.parametrize("extension", ["x12", 1.5, True, -1, {"n": 1}])
def test_an_extension_that_is_no_integer_is_refused(client: httpx.Client, extension: object) -> None:
    made = client.post("/contacts", json={"lastName": "Ext", "workPhone": {"display": "317-555-7000",
                                                                          "extension": extension}})  # fmt: skip
    assert made.status_code == 400 and "workPhone.extension" in made.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/contacts/unmerge"),
        ("GET", "/contacts/lookup"),
        ("POST", "/contacts/not-a-uuid"),
        ("GET", "/contacts/not-a-uuid"),
        ("PUT", "/organizations/search"),
        ("GET", "/contacts/exports/not-a-uuid"),
    ],
)
def test_a_path_the_simulator_does_not_serve_is_a_404_naming_it(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path, json={})
    assert response.status_code == 404 and response.json()["code"] == "not.found"
    assert path in response.json()["message"]


def test_every_shape_the_simulator_serves_is_the_sdks_model(client: httpx.Client) -> None:
    source = client.post("/externalsources", json={"name": "Salesforce"}).json()
    org = client.post(
        "/organizations", json={"name": "Acme", "externalIds": [{"externalSource": {"id": source["id"]}, "value": "1"}]}
    ).json()
    body = {
        "firstName": "Ann", "middleName": "Q", "lastName": "Lee", "salutation": "Dr", "title": "CTO",
        "workEmail": "ann@x.com", "personalEmail": "a@y.com", "otherEmail": "o@z.com",
        "workPhone": {"display": "(317) 555-7000 x204"}, "cellPhone": {"display": "+44 20 7946 0958"},
        "address": {"address1": "1 Main", "city": "Indy", "state": "IN", "postalCode": "46204", "countryCode": "US"},
        "twitterId": {"screenName": "ann"}, "externalOrganization": {"id": org["id"]},
        "externalIds": [{"externalSource": {"id": source["id"]}, "value": "003A"}],
    }  # fmt: skip
    contact = client.post("/contacts", json=body)
    assert contact.status_code == 200, contact.text
    served = {
        "ExternalContact": contact.json(),
        "ExternalOrganization": org,
        "ExternalSource": source,
        "CursorContactListing": client.get("/scan/contacts").json(),
        "CursorOrganizationListing": client.get("/scan/organizations").json(),
        "ContactListing": client.get("/contacts").json(),
        "CursorExternalSourceListing": client.get("/externalsources").json(),
        "ExternalOrganizationListing": client.get("/organizations", params={"q": "acme"}).json(),
        "ContactListing (POST search)": client.post(
            "/contacts/search",
            json={"operation": {"simpleSearch": {"query": "ann"}}, "expand": ["externalOrganization"]},
        ).json(),
        "ContactIdentifierListing": client.get(f"/contacts/{contact.json()['id']}/identifiers").json(),
    }
    for model, raw in served.items():
        assert sdk_losses(raw, model.split(" ")[0]) == [], model
