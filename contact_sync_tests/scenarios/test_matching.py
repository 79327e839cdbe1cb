"""Matching and deduplication end to end: existing Genesys contacts are found by email (any case) and by phone (any
format) instead of being duplicated, and CRM duplicates become one Genesys contact and are reported."""

from __future__ import annotations

import dagster as dg

from contact_sync_tests.scenarios.conftest import Scenario, digits


def test_existing_genesys_contacts_are_matched_by_email_case_and_phone_format_not_duplicated(
    scenario: Scenario,
) -> None:
    genesys = scenario.sims.genesys
    by_email, by_phone, only_in_genesys = genesys.load_contacts(
        [
            {"firstName": "Ada", "lastName": "Lovelace", "workEmail": "ADA.Lovelace@Example.COM", "title": "Countess"},
            {"firstName": "Alan", "lastName": "Turing", "workPhone": {"display": "+1 415-555-0102"}},
            {"firstName": "Lin", "lastName": "Yu", "workEmail": "lin@example.com"},
        ]
    )
    ada, alan, grace = scenario.load_crm(
        [
            {"first_name": "Ada", "last_name": "Lovelace", "email": "ada.lovelace@example.com"},
            {"first_name": "Alan", "last_name": "Turing", "phone": "(415) 555 0102"},
            {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"},
        ]
    )

    outcome = scenario.sync()

    assert outcome.report["created"]["genesys"] == 1  # only Grace, who had no Genesys contact
    assert genesys.count() == 4
    linked = scenario.genesys_by_crm_id()
    assert linked[ada]["id"] == by_email and linked[alan]["id"] == by_phone
    assert linked[ada]["title"] == "Countess"  # the existing contact was linked and kept, not replaced
    assert digits(linked[alan]["workPhone"]["display"]) == "4155550102"
    assert linked[grace]["workEmail"] == "grace@example.com"
    with scenario.ledger() as ledger:
        links = ledger.links(scenario.crm.kind)
        rules = dict(zip(links["crm_id"], links["rule"], strict=True))
    assert rules[ada] == "email" and rules[alan] == "phone" and rules[grace] == "created"
    # The UI says why the Genesys-only contact was left alone.
    event = scenario.instance.get_latest_materialization_event(dg.AssetKey("contact_matches"))
    assert event is not None and event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    assert metadata["unmatched_genesys"].value == 1 and metadata["unmatched_genesys_only_in_genesys"].value == 1
    assert f"| {only_in_genesys} | only in Genesys |" in metadata["unmatched_genesys_reasons"].value


def test_crm_duplicates_create_one_genesys_contact_and_are_reported(scenario: Scenario) -> None:
    first, second, other = scenario.load_crm(
        [
            {"first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.mil", "phone": "415-555-0103"},
            {"first_name": "Grace", "last_name": "Hopper", "email": "Grace@Navy.mil"},
            {"first_name": "Edsger", "last_name": "Dijkstra", "email": "edsger@example.com"},
        ]
    )

    outcome = scenario.sync()

    assert scenario.sims.genesys.count() == 2  # one Grace, one Edsger
    graces = [c for c in scenario.genesys_contacts() if c.get("firstName") == "Grace"]
    assert len(graces) == 1
    assert outcome.plan is not None
    assert set(outcome.plan.crm_duplicates["record_id"]) >= {first, second}
    assert other not in set(outcome.plan.crm_duplicates["record_id"])
    # What the Dagster UI shows for the run.
    event = scenario.instance.get_latest_materialization_event(dg.AssetKey("contact_matches"))
    assert event is not None and event.asset_materialization is not None and event.run_id == outcome.run_id
    assert event.asset_materialization.metadata["crm_duplicate_records"].value == 2

    again = scenario.sync()
    assert again.report["created"]["genesys"] == 0 and scenario.sims.genesys.count() == 2
