"""HubSpot simulator: single-record contact and company calls through the official client (create, read, update,
archive, list pages, associations, merge) and the rules behind them (email uniqueness, validation, stamps)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hubspot import HubSpot
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyInput
from hubspot.crm.contacts import (
    ApiException,
    PublicMergeInput,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)

from contact_sync.simulators import serve_simulator
from contact_sync.simulators.hubspot import HubSpotSimulator
from contact_sync_tests.simulators.hubspot_fixtures import (
    CONTACTS,
    body_of,
    client,
    clock,
    contact_rows,
    http,
    hubspot,
    hubspot_client,
    served_hubspot,
)
from contact_sync_tests.simulators.shared_fixtures import TestClock

__all__ = ["client", "clock", "http", "hubspot", "served_hubspot"]


def create(client: HubSpot, **properties: str) -> str:
    return client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties=properties)).id


def test_create_and_get_through_the_client(client: HubSpot, hubspot: HubSpotSimulator) -> None:
    created = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "Ann.Lee@Example.com", "firstname": "Ann", "phone": "+1"})
    )
    assert created.id.isdigit()
    assert created.archived is False
    assert created.properties["email"] == "ann.lee@example.com"  # stored lower-cased
    assert created.properties["hs_object_id"] == created.id
    assert created.properties["createdate"].endswith("Z") and len(created.properties["createdate"]) == 24
    assert created.created_at == created.updated_at

    fetched = client.crm.contacts.basic_api.get_by_id(created.id, properties=["phone", "lastname", "nosuchprop"])
    assert fetched.properties == {
        "createdate": created.properties["createdate"],
        "hs_object_id": created.id,
        "lastmodifieddate": created.properties["lastmodifieddate"],
        "lastname": None,
        "phone": "+1",
    }
    defaults = client.crm.contacts.basic_api.get_by_id(created.id)
    assert set(defaults.properties) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    assert hubspot.contact(created.id)["properties"]["phone"] == "+1"
    assert hubspot.calls["POST /crm/v3/objects/contacts"] == 1
    assert hubspot.calls["GET /crm/v3/objects/contacts/{contactId}"] == 2


def test_ids_increase_and_companies_use_their_own_range(client: HubSpot) -> None:
    first, second = create(client, email="a@example.com"), create(client, email="b@example.com")
    assert int(second) > int(first)
    company = client.crm.companies.basic_api.create(CompanyInput(properties={"name": "Acme", "domain": "acme.com"}))
    assert int(company.id) >= 10_000_001
    assert set(company.properties) >= {"name", "domain", "hs_lastmodifieddate", "hs_object_id", "createdate"}
    assert "lastmodifieddate" not in company.properties  # companies only have hs_lastmodifieddate


def test_duplicate_email_is_a_409_naming_the_existing_id(client: HubSpot) -> None:
    existing = create(client, email="dup@example.com")
    with pytest.raises(ApiException) as err:
        create(client, email="DUP@example.com")
    assert err.value.status == 409
    body = body_of(err.value)
    assert body["message"] == f"Contact already exists. Existing ID: {existing}"
    assert body["category"] == "CONFLICT" and body["status"] == "error" and body["correlationId"]
    other = create(client, email="other@example.com")
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.update(other, SimplePublicObjectInput(properties={"email": "dup@example.com"}))
    assert err.value.status == 409


def test_archived_contacts_free_their_email(client: HubSpot, hubspot: HubSpotSimulator) -> None:
    cid = create(client, email="gone@example.com")
    client.crm.contacts.basic_api.archive(cid)
    assert hubspot.count_contacts() == 0
    assert hubspot.count_contacts(archived=True) == 1
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.get_by_id(cid)
    assert err.value.status == 404
    assert body_of(err.value)["category"] == "OBJECT_NOT_FOUND"
    archived = client.crm.contacts.basic_api.get_by_id(cid, archived=True)
    assert archived.archived is True and archived.archived_at is not None
    assert create(client, email="gone@example.com") != cid
    client.crm.contacts.basic_api.archive("987654")  # unknown ids answer 204 too


def test_invalid_email_and_unknown_property_are_400_validation_errors(client: HubSpot) -> None:
    with pytest.raises(ApiException) as err:
        create(client, email="not-an-email")
    body = body_of(err.value)
    assert err.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["code"] == "INVALID_EMAIL"
    assert body["errors"][0]["context"] == {"propertyName": ["email"]}
    assert "Property values were not valid" in body["message"]

    with pytest.raises(ApiException) as err:
        create(client, email="ok@example.com", favourite_colour="blue", hs_object_id="5")
    body = body_of(err.value)
    assert err.value.status == 400
    codes = {e["code"]: e["context"]["propertyName"] for e in body["errors"]}
    assert codes == {"PROPERTY_DOESNT_EXIST": ["favourite_colour"], "READ_ONLY_VALUE": ["hs_object_id"]}


def test_custom_properties_and_get_by_unique_id_property(client: HubSpot, hubspot: HubSpotSimulator) -> None:
    cid = create(client, email="ext@example.com", genesys_id="g-123")
    by_ext = client.crm.contacts.basic_api.get_by_id("g-123", id_property="genesys_id", properties=["genesys_id"])
    assert by_ext.id == cid and by_ext.properties["genesys_id"] == "g-123"
    by_email = client.crm.contacts.basic_api.get_by_id("EXT@example.com", id_property="email")
    assert by_email.id == cid
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.get_by_id("x", id_property="firstname")
    assert err.value.status == 400

    with pytest.raises(ApiException):
        create(client, email="t@example.com", tier="gold")
    hubspot.add_property("contacts", "tier")
    assert client.crm.contacts.basic_api.get_by_id(create(client, tier="gold"), properties=["tier"]).properties["tier"]


def test_update_moves_lastmodifieddate_strictly_forward_on_a_frozen_clock(
    client: HubSpot, hubspot: HubSpotSimulator, clock: TestClock
) -> None:
    cid = create(client, email="s@example.com", firstname="A")
    stamps = [hubspot.contact(cid)["properties"]["lastmodifieddate"]]
    for name in ("B", "C", "D"):
        updated = client.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"firstname": name}))
        stamps.append(updated.properties["lastmodifieddate"])
    hubspot.edit_contact(cid, {"lastname": "UI edit"})
    stamps.append(hubspot.contact(cid)["properties"]["lastmodifieddate"])
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert stamps[0] == "2026-01-01T00:00:00.000Z" and stamps[1] == "2026-01-01T00:00:00.001Z"
    cleared = client.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"firstname": ""}))
    assert "firstname" not in cleared.properties
    assert hubspot.contact(cid)["createdAt"] == "2026-01-01T00:00:00.000Z"
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.update("424242", SimplePublicObjectInput(properties={"firstname": "x"}))
    assert err.value.status == 404


def test_list_pages_until_the_last_page_has_no_paging(client: HubSpot, hubspot: HubSpotSimulator) -> None:
    ids = hubspot.load_contacts(contact_rows(25))
    seen, after, pages = [], None, 0
    while True:
        page = client.crm.contacts.basic_api.get_page(limit=10, after=after, properties=["email"])
        pages += 1
        seen += [r.id for r in page.results]
        assert all(
            set(r.properties) == {"createdate", "email", "hs_object_id", "lastmodifieddate"} for r in page.results
        )
        if page.paging is None:
            break
        assert page.paging.next.link.startswith(hubspot.url + CONTACTS + "?")
        after = page.paging.next.after
    assert seen == ids and pages == 3
    assert len(client.crm.contacts.basic_api.get_page().results) == 10  # the default limit
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.get_page(limit=101)
    assert err.value.status == 400
    hubspot.archive_contact(ids[3])
    archived = client.crm.contacts.basic_api.get_page(archived=True)
    assert [r.id for r in archived.results] == [ids[3]] and archived.results[0].archived


def test_associations_on_create_v4_put_and_reads(client: HubSpot, hubspot: HubSpotSimulator) -> None:
    acme = client.crm.companies.basic_api.create(CompanyInput(properties={"name": "Acme"})).id
    globex = client.crm.companies.basic_api.create(CompanyInput(properties={"name": "Globex"})).id
    created = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"email": "assoc@example.com"},
            associations=[
                {"to": {"id": acme}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}
            ],
        )
    )
    answer = client.crm.associations.v4.basic_api.create_default("contacts", created.id, "companies", globex)
    assert answer.status == "COMPLETE"
    assert {(r._from.id, r.to.id, r.association_spec.association_type_id) for r in answer.results} == {
        (created.id, globex, 279),
        (globex, created.id, 280),
    }
    fetched = client.crm.contacts.basic_api.get_by_id(created.id, associations=["companies"])
    assert [(a.id, a.type) for a in fetched.associations["companies"].results] == [
        (acme, "contact_to_company"),
        (globex, "contact_to_company"),
    ]
    listed = client.crm.contacts.basic_api.get_page(associations=["companies"]).results[0]
    assert len(listed.associations["companies"].results) == 2
    company = client.crm.companies.basic_api.get_by_id(acme, associations=["contacts"])
    assert company.associations["contacts"].results[0].id == created.id
    v4 = client.crm.associations.v4.basic_api.get_page("contacts", created.id, "companies")
    assert sorted(r.to_object_id for r in v4.results) == sorted([acme, globex])
    client.crm.associations.v4.basic_api.archive("contacts", created.id, "companies", acme)
    again = client.crm.contacts.basic_api.get_by_id(created.id, associations=["companies"])
    assert [a.id for a in again.associations["companies"].results] == [globex]
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(
                properties={"email": "bad-assoc@example.com"},
                associations=[
                    {
                        "to": {"id": "999"},
                        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
                    }
                ],
            )
        )
    assert err.value.status == 400
    assert hubspot.count_contacts() == 1


def test_merge_gives_a_new_record_and_both_old_ids_resolve(client: HubSpot, hubspot: HubSpotSimulator) -> None:
    company = hubspot.load_companies([{"name": "Acme"}])[0]
    primary = create(client, email="main@example.com", firstname="Main")
    other = create(client, email="second@example.com", firstname="Second", phone="+4420")
    hubspot.associate(other, company)

    merged = client.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id=primary, object_id_to_merge=other))

    assert merged.id not in (primary, other)
    assert merged.properties["firstname"] == "Main"  # the primary's values win
    assert merged.properties["phone"] == "+4420"  # the other's fill the gaps
    assert merged.properties["hs_merged_object_ids"] == f"{primary};{other}"
    assert merged.properties["hs_additional_emails"] == "second@example.com"
    for old in (primary, other):
        assert client.crm.contacts.basic_api.get_by_id(old).id == merged.id
    assert [c["id"] for c in hubspot.contacts()] == [merged.id]
    assert hubspot.contacts(archived=True) == []
    with_company = client.crm.contacts.basic_api.get_by_id(merged.id, associations=["companies"])
    assert with_company.associations["companies"].results[0].id == company
    with pytest.raises(ApiException) as err:
        create(client, email="second@example.com")  # the other's email still belongs to the merged contact
    assert body_of(err.value)["message"] == f"Contact already exists. Existing ID: {merged.id}"
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id=primary, object_id_to_merge=merged.id))
    assert err.value.status == 400  # both name the same record now


def test_merge_keeping_the_primary_id() -> None:
    with serve_simulator(HubSpotSimulator(merge_new_id=False, rate_limit_per_10s=None)) as sim:
        client = hubspot_client(sim)
        a, b = sim.load_contacts([{"email": "a@example.com"}, {"email": "b@example.com", "lastname": "B"}])
        merged = client.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id=a, object_id_to_merge=b))
        assert merged.id == a and merged.properties["lastname"] == "B"
        assert client.crm.contacts.basic_api.get_by_id(b).id == a
        assert sim.count_contacts() == 1


def test_state_survives_a_restart_on_the_same_folder(tmp_path: Path) -> None:
    with serve_simulator(HubSpotSimulator(tmp_path)) as sim:
        cid = create(hubspot_client(sim), email="kept@example.com")
        token = sim.issue_token()
        sim.add_property("contacts", "loyalty", unique=True)
    assert (tmp_path / "hubspot.sqlite3").exists()
    with serve_simulator(HubSpotSimulator(tmp_path)) as again:
        client = hubspot_client(again, token)  # the OAuth token issued before the restart still works
        assert (
            client.crm.contacts.basic_api.get_by_id(cid, properties=["email"]).properties["email"] == "kept@example.com"
        )
        assert create(client, email="new@example.com", loyalty="x") == str(int(cid) + 1)
