"""The Genesys adapter's write shapes and organization mapping, against the Genesys and Salesforce simulators."""

from __future__ import annotations

from contact_sync.pipeline.genesys_adapter import organization_accounts
from contact_sync.pipeline.genesys_snapshot import refresh_genesys_snapshot
from contact_sync.pipeline.services import Services
from contact_sync.simulators import RunningSimulators


def test_organizations_reuse_known_ones_and_create_the_missing_under_the_crm_account_name(
    sims: RunningSimulators, services: Services
) -> None:
    acme, globex = sims.salesforce.load_accounts([{"Name": "Acme"}, {"Name": "Globex"}])
    adapter = services.genesys_adapter
    first = adapter.organizations([acme, None, acme])
    assert list(first) == [acme]
    known = refresh_genesys_snapshot(services.genesys_adapter, services.settings).organizations

    both = adapter.organizations([globex, acme], known)
    assert both[acme] == first[acme]  # found in the snapshot's table, not made again
    orgs = organization_accounts(services.genesys.scan_organizations(), services.crm.external_source)
    assert sorted(orgs["account_id"]) == sorted([acme, globex]) and len(orgs) == 2
    names = {o["id"]: o["name"] for o in services.genesys.scan_organizations()}
    assert names[both[globex]] == "Globex"
    assert adapter.organizations([]) == {}


def test_update_paths_set_custom_fields_one_by_one_and_an_unknown_account_clears_the_organization(
    services: Services,
) -> None:
    adapter = services.genesys_adapter
    paths = adapter.update_paths(
        {"first_name": "Ann", "phone": "(415) 555-0101", "lead_score": 7, "account_id": "001A"}, {"001A": "org-1"}
    )
    assert paths["firstName"] == "Ann" and paths["customFields.leadScore"] == 7
    assert paths["workPhone"]["display"] == "(415) 555-0101"  # a phone is one object, not paths
    assert paths["externalOrganization"] == {"id": "org-1"}
    assert adapter.update_paths({"account_id": "001B"}, {"001A": "org-1"}) == {"externalOrganization": None}


def test_create_body_carries_the_crm_link_and_leaves_empty_values_out(services: Services) -> None:
    adapter = services.genesys_adapter
    body = adapter.create_body(
        {"first_name": "Ann", "last_name": "Lee", "email": None, "phone": None, "tags": None, "account_id": "001A"},
        {"001A": "org-1"},
        "003000000000001AAA",
    )
    assert body["firstName"] == "Ann" and "workEmail" not in body and "workPhone" not in body
    assert "customFields" not in body
    assert body["externalOrganization"] == {"id": "org-1"}
    [link] = body["externalIds"]
    assert link["value"] == "003000000000001AAA" and link["externalSource"]["id"] == adapter.source["id"]
    assert adapter.link_paths("003X") == {
        "externalIds": {"externalSource": {"id": adapter.source["id"]}, "value": "003X"}
    }
