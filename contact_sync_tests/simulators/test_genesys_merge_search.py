"""Genesys simulator through the official SDK: contact merge, contact identifiers (list, claim, release), POST contact
search, organization search and bulk organization update, each with its refusals."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from PureCloudPlatformClientV2 import (
    BulkOrganizationsRequest,
    ContactIdentifier,
    ContactSearchOperation,
    ContactSearchRequest,
    ContactSimpleSearch,
    ExternalContact,
    ExternalSource,
    IdentifierClaimRequest,
    MergeContactsRequest,
)
from PureCloudPlatformClientV2.rest import ApiException

from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync_tests.simulators.genesys_fixtures import client, genesys, sdk, sdk_losses, served_genesys, source

__all__ = ["client", "genesys", "sdk", "served_genesys", "source"]


def made(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/contacts", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def refused(call: Any) -> ApiException:
    with pytest.raises(ApiException) as caught:
        call()
    return caught.value


def merge_request(ids: list[str], **override: Any) -> MergeContactsRequest:
    request = MergeContactsRequest()
    request.contact_ids = ids
    if override:
        request.value_override = ExternalContact()
        for name, value in override.items():
            setattr(request.value_override, name, value)
    return request


def external(source: str, value: str) -> dict[str, Any]:
    return {"externalSource": {"id": source}, "value": value}


def test_a_merge_makes_one_contact_that_keeps_every_identifier_and_the_merged_ones_are_gone(
    genesys: GenesysSimulator, sdk: Any, client: httpx.Client, source: str
) -> None:
    older = made(
        client, firstName="Ann", lastName="Lee", workEmail="ann@acme.com", workPhone={"display": "317-555-7000"},
        externalIds=[external(source, "003A")],
    )  # fmt: skip
    newer = made(
        client, firstName="Annie", lastName="Lee", workEmail="ann.lee@gmail.com", title="CTO",
        cellPhone={"display": "317-555-7001"}, externalIds=[external(source, "003B")],
    )  # fmt: skip
    merged = sdk.post_externalcontacts_contacts_merge(merge_request([older["id"], newer["id"]], last_name="Lee-Ng"))
    assert merged.id not in (older["id"], newer["id"])
    assert (merged.first_name, merged.last_name, merged.title) == ("Annie", "Lee-Ng", "CTO")
    assert {merged.work_email, merged.personal_email} == {"ann.lee@gmail.com", "ann@acme.com"}
    assert {merged.work_phone.e164, merged.cell_phone.e164} == {"+13175557000", "+13175557001"}
    assert sorted(e.value for e in merged.external_ids) == ["003A", "003B"]
    assert {r.id for r in merged.merged_from} == {r.id for r in merged.merge_set} == {older["id"], newer["id"]}
    assert genesys.count() == 1
    for gone in (older["id"], newer["id"]):
        assert refused(lambda gone=gone: sdk.get_externalcontacts_contact(gone)).status == 404
    raw = client.get(f"/contacts/{merged.id}").json()
    assert sdk_losses(raw, "ExternalContact") == []
    lookup = client.post(
        "/identifierlookup/contacts", json={"type": "ExternalId", "value": "003A", "externalSource": {"id": source}}
    )
    assert lookup.json()["id"] == merged.id


def test_a_merge_that_cannot_keep_every_identifier_is_refused_and_changes_nothing(
    genesys: GenesysSimulator, sdk: Any, client: httpx.Client
) -> None:
    emails = ("workEmail", "personalEmail", "otherEmail")
    full = made(client, lastName="A", **{f: f"a{n}@x.com" for n, f in enumerate(emails)})
    other = made(client, lastName="B", workEmail="b@x.com")
    error = refused(lambda: sdk.post_externalcontacts_contacts_merge(merge_request([full["id"], other["id"]])))
    assert error.status == 400 and "no free email slot" in error.body
    assert genesys.count() == 2
    one = refused(lambda: sdk.post_externalcontacts_contacts_merge(merge_request([full["id"]])))
    assert one.status == 400 and "contactIds" in one.body
    missing = refused(
        lambda: sdk.post_externalcontacts_contacts_merge(
            merge_request([full["id"], "00000000-0000-4000-8000-000000000000"])
        )
    )
    assert missing.status == 404


def test_identifiers_are_listed_claimed_from_other_contacts_and_released(
    genesys: GenesysSimulator, sdk: Any, client: httpx.Client, source: str
) -> None:
    ann = made(client, lastName="Ann", workEmail="Ann@Acme.com", externalIds=[external(source, "003A")])
    bob = made(client, lastName="Bob", workEmail="shared@acme.com", workPhone={"display": "317-555-7000"})
    listed = sdk.get_externalcontacts_contact_identifiers(ann["id"])
    assert sorted((i.type, i.value) for i in listed.entities) == [("Email", "ann@acme.com"), ("ExternalId", "003A")]
    assert next(i for i in listed.entities if i.type == "ExternalId").external_source.name == "Salesforce"

    claim = IdentifierClaimRequest()
    claim.operation, claim.identifier = "Claim", ContactIdentifier()
    claim.identifier.type, claim.identifier.value = "Email", "shared@acme.com"
    claimed = sdk.patch_externalcontacts_contact_identifiers(ann["id"], claim)
    assert (claimed.type, claimed.value) == ("Email", "shared@acme.com")
    assert genesys.contact(ann["id"])["personalEmail"] == "shared@acme.com"
    assert "workEmail" not in genesys.contact(bob["id"])

    claim.identifier.type, claim.identifier.value = "ExternalId", "003A"
    claim.identifier.external_source = ExternalSource()
    claim.identifier.external_source.id = source
    sdk.patch_externalcontacts_contact_identifiers(bob["id"], claim)
    assert [e["value"] for e in genesys.contact(bob["id"])["externalIds"]] == ["003A"]
    assert "externalIds" not in genesys.contact(ann["id"])

    claim.operation = "Release"
    sdk.patch_externalcontacts_contact_identifiers(bob["id"], claim)
    assert "externalIds" not in genesys.contact(bob["id"])
    assert refused(lambda: sdk.patch_externalcontacts_contact_identifiers(bob["id"], claim)).status == 404
    assert client.patch(f"/contacts/{bob['id']}/identifiers", json={"operation": "Steal"}).status_code == 400


def search_request(query: str | None = None, sort: list[str] | None = None, ids: list[str] | None = None,
                   **fields: Any) -> ContactSearchRequest:  # fmt: skip
    request = ContactSearchRequest()
    request.operation = ContactSearchOperation()
    request.operation.simple_search = ContactSimpleSearch()
    simple = request.operation.simple_search
    simple.query, simple.sort_order, simple.ids = query, sort, ids
    for name, value in fields.items():
        setattr(request, name, value)
    return request


def test_post_search_finds_by_words_restricted_to_ids_and_divisions_sorted_and_paged(
    genesys: GenesysSimulator, sdk: Any, client: httpx.Client
) -> None:
    ids = [made(client, firstName=name, lastName="Lee")["id"] for name in ("Cy", "Ann", "Bo")]
    made(client, firstName="Ann", lastName="Other")
    found = sdk.post_externalcontacts_contacts_search(search_request("lee", ["firstName:asc"]))
    assert [c.first_name for c in found.entities] == ["Ann", "Bo", "Cy"] and found.total == 3
    page = sdk.post_externalcontacts_contacts_search(
        search_request("lee", ["firstName:desc"], page_size=2, page_number=2)
    )
    assert [c.first_name for c in page.entities] == ["Ann"] and page.page_count == 2
    only = sdk.post_externalcontacts_contacts_search(search_request(None, None, ids[:2]))
    assert {c.id for c in only.entities} == set(ids[:2])
    elsewhere = sdk.post_externalcontacts_contacts_search(search_request("lee", division_ids=["other-division"]))
    assert elsewhere.total == 0
    too_deep = refused(lambda: sdk.post_externalcontacts_contacts_search(search_request(page_size=100, page_number=11)))
    assert too_deep.status == 400
    assert refused(lambda: sdk.post_externalcontacts_contacts_search(search_request(sort=["title:up"]))).status == 400
    assert client.post("/contacts/search", json={"operation": {"fetchXml": "<x/>"}}).status_code == 400


def test_organizations_are_searched_by_name_sorted_and_updated_in_bulk(sdk: Any, client: httpx.Client) -> None:
    orgs = [
        client.post("/organizations", json={"name": name, "industry": industry}).json()
        for name, industry in (("Acme Tools", "Retail"), ("Acme Labs", "Science"), ("Globex", "Retail"))
    ]
    found = sdk.get_externalcontacts_organizations(q="acme", sort_order="name:asc")
    assert [o.name for o in found.entities] == ["Acme Labs", "Acme Tools"] and found.total == 2
    retail = sdk.get_externalcontacts_organizations(q="retail", sort_order="name:desc", page_size=1)
    assert [o.name for o in retail.entities] == ["Globex"] and retail.page_count == 2
    assert refused(lambda: sdk.get_externalcontacts_organizations(page_size=500, page_number=3)).status == 400

    request = BulkOrganizationsRequest()
    request.entities = [
        {**orgs[0], "name": "Acme Tooling"},
        {"id": "00000000-0000-4000-8000-000000000000", "name": "Nobody"},
        {**orgs[2], "name": ""},
    ]
    answer = sdk.post_externalcontacts_bulk_organizations_update(request)
    assert answer.error_count == 2
    outcomes = {r.id: r.success for r in answer.results}
    assert outcomes == {orgs[0]["id"]: True, "00000000-0000-4000-8000-000000000000": False, orgs[2]["id"]: False}
    assert client.get(f"/organizations/{orgs[0]['id']}").json()["name"] == "Acme Tooling"
    assert client.get(f"/organizations/{orgs[2]['id']}").json()["name"] == "Globex"
