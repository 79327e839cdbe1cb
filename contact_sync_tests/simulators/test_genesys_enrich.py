"""Genesys simulator: contact enrich and bulk enrich through the official SDK (`ContactEnrichRequest`,
`BulkContactsEnrichRequest`): the actions, identifier matching, field rules, dry runs, per-entity errors, and an
enrich sent twice (a lost answer) leaving one contact."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from PureCloudPlatformClientV2 import (
    BulkContactsEnrichRequest,
    ContactEnrichRequest,
    ContactIdentifier,
    EnrichFieldRules,
    ExternalContact,
    ExternalSource,
)
from PureCloudPlatformClientV2.rest import ApiException

from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync_tests.simulators.genesys_fixtures import client, genesys, sdk, sdk_losses, served_genesys, source

__all__ = ["client", "genesys", "sdk", "served_genesys", "source"]


def by_crm_id(source: str, crm_id: str, action: str = "Upsert", **fields: Any) -> ContactEnrichRequest:
    identifier = ContactIdentifier()
    identifier.type, identifier.value = "ExternalId", crm_id
    identifier.external_source = ExternalSource()
    identifier.external_source.id = source
    contact = ExternalContact()
    for name, value in {"last_name": "Lovelace", **fields}.items():
        setattr(contact, name, value)
    request = ContactEnrichRequest()
    request.action, request.matching_identifiers, request.contact = action, [identifier], contact
    return request


def status_of(call: Any) -> int:
    with pytest.raises(ApiException) as refused:
        call()
    return int(refused.value.status)


def test_an_upsert_sent_twice_leaves_one_contact_that_carries_the_identifier(
    genesys: GenesysSimulator, sdk: Any, client: httpx.Client, source: str
) -> None:
    first = sdk.post_externalcontacts_contacts_enrich(by_crm_id(source, "003A", first_name="Ada"))
    again = sdk.post_externalcontacts_contacts_enrich(by_crm_id(source, "003A", first_name="Augusta"))
    assert again.id == first.id and again.first_name == "Augusta" and again.last_name == "Lovelace"
    assert [(e.external_source.id, e.value) for e in again.external_ids] == [(source, "003A")]
    assert genesys.count() == 1
    raw = client.post("/contacts/enrich", json=sdk.api_client.sanitize_for_serialization(by_crm_id(source, "003A")))
    assert raw.status_code == 200 and sdk_losses(raw.json(), "ExternalContact") == []
    created = client.post("/contacts/enrich", json=sdk.api_client.sanitize_for_serialization(by_crm_id(source, "003B")))
    assert created.status_code == 201


def test_insert_update_and_identifiers_that_match_several_contacts(
    genesys: GenesysSimulator, sdk: Any, client: httpx.Client, source: str
) -> None:
    sdk.post_externalcontacts_contacts_enrich(by_crm_id(source, "003A"))
    assert status_of(lambda: sdk.post_externalcontacts_contacts_enrich(by_crm_id(source, "003A", "Insert"))) == 409
    assert status_of(lambda: sdk.post_externalcontacts_contacts_enrich(by_crm_id(source, "003Z", "Update"))) == 404
    for name in ("Ann", "Anne"):
        client.post("/contacts", json={"firstName": name, "lastName": "Lee", "workEmail": "shared@example.com"})
    shared = {"action": "Upsert", "matchingIdentifiers": [{"type": "Email", "value": "SHARED@example.com"}],
              "contact": {"lastName": "Lee"}}  # fmt: skip
    conflict = client.post("/contacts/enrich", json=shared)
    assert conflict.status_code == 409 and conflict.json()["code"] == "identifier.conflict"
    merge = client.post("/contacts/enrich", json={**shared, "action": "Merge"})
    assert merge.status_code == 400 and "Merge is not simulated" in merge.json()["message"]
    cookie = client.post("/contacts/enrich", json={**shared, "matchingIdentifiers": [{"type": "Cookie", "value": "c"}]})
    assert cookie.status_code == 400 and "matchingIdentifiers[0].type" in cookie.text
    assert genesys.count() == 3


def test_field_rules_and_dry_runs(genesys: GenesysSimulator, sdk: Any, source: str) -> None:
    made = sdk.post_externalcontacts_contacts_enrich(by_crm_id(source, "003A", first_name="Ada"))
    keep = by_crm_id(source, "003A", first_name="Augusta", title="Countess")
    keep.field_rules = EnrichFieldRules()
    keep.field_rules.default_action = "PreferExisting"
    kept = sdk.post_externalcontacts_contacts_enrich(keep)
    assert (kept.first_name, kept.title) == ("Ada", "Countess")  # an existing value kept, a missing one filled
    dry = sdk.post_externalcontacts_contacts_enrich(by_crm_id(source, "003A", first_name="Dry"), dry_run=True)
    assert dry.first_name == "Dry" and genesys.contact(made.id)["firstName"] == "Ada"
    sdk.post_externalcontacts_contacts_enrich(by_crm_id(source, "003B"), dry_run=True)
    assert genesys.count() == 1


def test_bulk_enrich_answers_each_entity_and_a_later_one_sees_an_earlier_one(
    genesys: GenesysSimulator, sdk: Any, client: httpx.Client, source: str
) -> None:
    request = BulkContactsEnrichRequest()
    request.entities = [
        by_crm_id(source, "003A", first_name="Ada"),
        by_crm_id(source, "003A", first_name="Augusta"),  # the same person again in one call: an update
        by_crm_id(source, "003B", "Update"),  # nobody to update
        by_crm_id(source, "003C", first_name="Grace"),
    ]
    answer = sdk.post_externalcontacts_bulk_contacts_enrich(request)
    assert answer.error_count == 1 and len(answer.results) == 4
    [failure] = [r for r in answer.results if not r.success]
    assert failure.status == 404 and failure.error.entity.matching_identifiers[0].value == "003B"
    names = sorted(r.entity.first_name for r in answer.results if r.success)
    assert names == ["Ada", "Augusta", "Grace"] and genesys.count() == 2
    raw = client.post("/bulk/contacts/enrich", json=sdk.api_client.sanitize_for_serialization(request)).json()
    assert sdk_losses(raw, "BulkContactsEnrichResponse") == [] and genesys.count() == 2
