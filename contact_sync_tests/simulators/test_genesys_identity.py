"""Genesys simulator: phone normalization, external sources, external ids, identifier lookup and organizations."""

from __future__ import annotations

import random
import uuid

import httpx
import pytest

from contact_sync.simulators import serve_simulator
from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync.simulators.genesys.phones import parse_phone, parse_phone_reference
from contact_sync_tests.simulators.genesys_fixtures import api_client, client, contact_body, genesys, served_genesys

__all__ = ["client", "genesys", "served_genesys"]


@pytest.mark.parametrize(
    ("sent", "display", "e164"),
    [
        ("317-555-7000", "+1 317-555-7000", "+13175557000"),
        ("(317) 555-7000", "+1 317-555-7000", "+13175557000"),
        ("+1 317.555.7000", "+1 317-555-7000", "+13175557000"),
        ("3175557000", "+1 317-555-7000", "+13175557000"),
        ("+44 20 7946 0958", "+44 20 7946 0958", "+442079460958"),
        ("+49 30 123456", "+49 30 123456", "+4930123456"),
        ("317-555-7000 x12", "+1 317-555-7000 ext. 12", "+13175557000"),
    ],
)
def test_phones_that_parse_get_e164_and_an_international_display(
    client: httpx.Client, sent: str, display: str, e164: str
) -> None:
    body = client.post("/contacts", json=contact_body(workPhone={"display": sent})).json()
    phone = body["workPhone"]
    assert phone["display"] == display
    assert phone["e164"] == e164
    assert phone["userInput"] == sent


@pytest.mark.parametrize("sent", ["12", "call me", "555-0100", "020 7946 0958"])
def test_phones_that_do_not_parse_keep_the_display_and_get_no_e164(client: httpx.Client, sent: str) -> None:
    body = client.post("/contacts", json=contact_body(homePhone={"display": sent})).json()
    assert body["homePhone"]["display"] == sent
    assert "e164" not in body["homePhone"]


def test_national_numbers_use_the_default_country_or_the_phone_hint(client: httpx.Client) -> None:
    hinted = client.post(
        "/contacts", json=contact_body(workPhone={"display": "020 7946 0958", "normalizationCountryCode": "GB"})
    ).json()
    assert hinted["workPhone"]["e164"] == "+442079460958"
    sim = GenesysSimulator(rate_limit_per_minute=None, default_country="GB")
    with serve_simulator(sim), api_client(sim) as c:
        body = c.post("/contacts", json=contact_body(workPhone={"display": "020 7946 0958"})).json()
    assert body["workPhone"]["e164"] == "+442079460958"
    assert body["workPhone"]["display"] == "+44 20 7946 0958"


def test_echoing_a_read_phone_back_keeps_it_stable(client: httpx.Client) -> None:
    created = client.post("/contacts", json=contact_body(cellPhone={"display": "317.555.7000"})).json()
    again = client.put(f"/contacts/{created['id']}", json=created).json()
    assert again["cellPhone"] == created["cellPhone"]


def test_fast_phone_path_agrees_with_the_phonenumbers_library() -> None:
    rnd = random.Random(11)
    shapes = ["{a}-{b}-{c}", "({a}) {b}-{c}", "+1 {a} {b} {c}", "1.{a}.{b}.{c}", "{a}{b}{c}", "+1-{a}-{b}-{c}"]
    samples = [
        rnd.choice(shapes).format(
            a=rnd.randint(200, 999), b=f"{rnd.randint(0, 999):03d}", c=f"{rnd.randint(0, 9999):04d}"
        )
        for _ in range(4000)
    ]
    # Caribbean and Canadian area codes exercise the library's region walk.
    samples += [
        f"{npa}{rnd.randint(200, 999)}{rnd.randint(0, 9999):04d}"
        for npa in ("268", "809", "876", "613", "340")
        for _ in range(100)
    ]
    mismatches = [s for s in samples if parse_phone(s) != parse_phone_reference(s)]
    assert mismatches == []
    assert sum(parse_phone(s) is not None for s in samples) > 500  # the sample holds valid numbers too


def test_external_sources_crud_and_unique_name(client: httpx.Client) -> None:
    created = client.post(
        "/externalsources",
        json={"name": "Salesforce", "linkConfiguration": {"uriTemplate": "https://x/{{externalId.value}}"}},
    )
    assert created.status_code == 200
    source = created.json()
    assert source["active"] is True and source["selfUri"].endswith(source["id"])
    duplicate = client.post("/externalsources", json={"name": "salesforce"})
    assert duplicate.status_code == 409
    assert client.get(f"/externalsources/{source['id']}").json()["name"] == "Salesforce"
    renamed = client.put(f"/externalsources/{source['id']}", json={"name": "SFDC", "active": False}).json()
    assert renamed["name"] == "SFDC" and renamed["active"] is False and "createDate" not in renamed
    listed = client.get("/externalsources").json()["entities"]
    assert [s["name"] for s in listed] == ["SFDC"]
    assert client.post("/externalsources", json={"name": "x" * 201}).status_code == 400
    assert client.post("/externalsources", json={}).status_code == 400
    assert client.delete(f"/externalsources/{source['id']}").status_code == 200
    assert client.get(f"/externalsources/{source['id']}").status_code == 404


def test_external_ids_rules(client: httpx.Client) -> None:
    source = client.post("/externalsources", json={"name": "CRM"}).json()
    ref = {"id": source["id"]}
    ok = client.post("/contacts", json=contact_body(externalIds=[{"externalSource": ref, "value": "003A"}]))
    assert ok.status_code == 200
    assert ok.json()["externalIds"] == [
        {"externalSource": {"id": source["id"], "name": "CRM", "selfUri": source["selfUri"]}, "value": "003A"}
    ]
    unknown_source = [{"externalSource": {"id": str(uuid.uuid4())}, "value": "1"}]
    assert client.post("/contacts", json=contact_body(externalIds=unknown_source)).status_code == 400
    too_long = [{"externalSource": ref, "value": "v" * 256}]
    assert client.post("/contacts", json=contact_body(externalIds=too_long)).status_code == 400
    eleven = [{"externalSource": ref, "value": str(i)} for i in range(11)]
    assert client.post("/contacts", json=contact_body(externalIds=eleven)).status_code == 400
    ten = [{"externalSource": ref, "value": str(i)} for i in range(10)]
    assert client.post("/contacts", json=contact_body(externalIds=ten)).status_code == 200


def test_identifier_lookup_by_email_phone_and_external_id(client: httpx.Client) -> None:
    source = client.post("/externalsources", json={"name": "CRM"}).json()
    created = client.post(
        "/contacts",
        json=contact_body(
            workEmail="Ann.Lee@Example.com",
            cellPhone={"display": "(317) 555-7000"},
            externalIds=[{"externalSource": {"id": source["id"]}, "value": "003XYZ"}],
        ),
    ).json()
    lookups = [
        {"type": "Email", "value": "ann.lee@example.com"},
        {"type": "Phone", "value": "+13175557000"},
        {"type": "Phone", "value": "317-555-7000"},
        {"type": "ExternalId", "value": "003XYZ", "externalSource": {"id": source["id"]}},
    ]
    for body in lookups:
        found = client.post("/identifierlookup/contacts", json=body)
        assert found.status_code == 200, body
        assert found.json()["id"] == created["id"]
    missing = client.post("/identifierlookup/contacts", json={"type": "Email", "value": "nobody@example.com"})
    assert missing.status_code == 404
    assert client.post("/identifierlookup/contacts", json={"type": "Shoe", "value": "x"}).status_code == 400
    no_source = client.post("/identifierlookup/contacts", json={"type": "ExternalId", "value": "003XYZ"})
    assert no_source.status_code == 400
    # After a change the old identifier no longer finds the contact.
    client.put(f"/contacts/{created['id']}", json=contact_body(workEmail="new@example.com"))
    assert client.post("/identifierlookup/contacts", json=lookups[0]).status_code == 404
    assert client.post("/identifierlookup/contacts", json=lookups[3]).status_code == 404
    assert (
        client.post("/identifierlookup/contacts", json={"type": "Email", "value": "NEW@example.com"}).json()["id"]
        == created["id"]
    )


def test_reverse_whitepages_lookup_by_email_or_phone(genesys: GenesysSimulator, client: httpx.Client) -> None:
    ids = genesys.load_contacts(
        [contact_body(workEmail="dup@example.com", cellPhone={"display": "317-555-7000"}) for _ in range(30)]
    )
    by_email = client.get("/reversewhitepageslookup", params={"lookupVal": "DUP@example.com"}).json()
    assert len(by_email["contacts"]) == 25 and set(c["id"] for c in by_email["contacts"]) <= set(ids)
    by_phone = client.get("/reversewhitepageslookup", params={"lookupVal": "+13175557000"}).json()
    assert len(by_phone["contacts"]) == 25
    none = client.get("/reversewhitepageslookup", params={"lookupVal": "+442079460958"}).json()
    assert none == {"contacts": [], "externalOrganizations": []}
    assert client.get("/reversewhitepageslookup").status_code == 400


def test_organizations_create_get_put_scan_and_external_ids(genesys: GenesysSimulator, client: httpx.Client) -> None:
    source = client.post("/externalsources", json={"name": "CRM"}).json()
    created = client.post(
        "/organizations",
        json={"name": "Acme", "externalIds": [{"externalSource": {"id": source["id"]}, "value": "001A"}]},
    )
    assert created.status_code == 200
    org = created.json()
    assert org["externalIds"][0]["value"] == "001A" and org["selfUri"].endswith(org["id"])
    assert client.get(f"/organizations/{org['id']}").json() == org
    replaced = client.put(f"/organizations/{org['id']}", json={"name": "Acme Inc"}).json()
    assert replaced["name"] == "Acme Inc" and "externalIds" not in replaced
    assert client.post("/organizations", json={"industry": "no name"}).status_code == 400
    assert client.get(f"/organizations/{uuid.uuid4()}").status_code == 404
    loaded = genesys.load_organizations([{"name": f"Org {i}"} for i in range(25)])
    seen: list[str] = []
    url: str | None = "/scan/organizations?limit=10"
    while url:
        page = client.get(url.removeprefix("/api/v2/externalcontacts")).json()
        seen += [o["id"] for o in page["entities"]]
        url = page.get("nextUri")
    assert sorted(seen) == sorted([*loaded, org["id"]])
    assert client.delete(f"/organizations/{org['id']}").status_code == 200
    assert client.get(f"/organizations/{org['id']}").status_code == 404
