"""Matching and deduplication end to end: existing Genesys contacts are found by email (any case) and by phone (any
format) instead of being duplicated, CRM duplicates become one Genesys contact and are reported, colleagues on one
office line stay two people, and the match review queue decides the pairs with thin evidence (CLI and next run)."""

from __future__ import annotations

import json

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


def test_office_line_colleagues_stay_two_people_and_the_review_queue_decides_the_thin_pairs(
    scenario: Scenario,
) -> None:
    genesys = scenario.sims.genesys
    tom, thin_ann, thin_bo = genesys.load_contacts(
        [
            {"firstName": "Tom", "lastName": "Brown", "workEmail": "tom.brown@acme.com",
             "workPhone": {"display": "+1 212-555-0100"}},
            {"title": "Caller", "workPhone": {"display": "+1 212-555-0111"}},
            {"title": "Caller", "workPhone": {"display": "+1 212-555-0122"}},
        ]
    )  # fmt: skip
    maria, ann, bo = scenario.load_crm(
        [
            {"first_name": "Maria", "last_name": "Garcia", "email": "maria.garcia@acme.com", "phone": "212 555 0100"},
            {"first_name": "Ann", "last_name": "Lee", "phone": "212 555 0111"},
            {"first_name": "Bo", "last_name": "Ek", "phone": "212 555 0122"},
        ]
    )

    first = scenario.sync()

    # Maria shares Tom's office line: two people, so she is created and Tom is left as he was.
    linked = scenario.genesys_by_crm_id()
    assert set(linked) == {maria} and linked[maria]["id"] != tom
    assert first.report["match_review"] == 2
    assert next(c for c in scenario.genesys_contacts() if c["id"] == tom)["firstName"] == "Tom"
    # A phone alone is a question: both pairs wait for review and neither CRM contact is created meanwhile.
    listed = scenario.cli("matches", "list", "--json")
    assert listed.exit_code == 0, listed.output
    queue = {(r["crm_id"], r["genesys_id"]): r for r in json.loads(listed.output.strip().splitlines()[-1])}
    assert set(queue) == {(ann, thin_ann), (bo, thin_bo)}
    assert queue[(ann, thin_ann)]["evidence"].startswith("email missing, phone equal")
    event = scenario.instance.get_latest_materialization_event(dg.AssetKey("contact_matches"))
    assert event is not None and event.asset_materialization is not None
    assert event.asset_materialization.metadata["held_for_review"].value == 2
    assert scenario.sync().report["created"]["genesys"] == 0  # still held, nothing created twice

    accepted = scenario.cli("matches", "accept", str(queue[(ann, thin_ann)]["id"]), "--by", "qa")
    rejected = scenario.cli("matches", "reject", str(queue[(bo, thin_bo)]["id"]), "--by", "qa")
    assert accepted.exit_code == 0 and rejected.exit_code == 0, accepted.output + rejected.output

    after = scenario.sync()

    linked = scenario.genesys_by_crm_id()
    assert linked[ann]["id"] == thin_ann and linked[ann]["firstName"] == "Ann"  # linked, then written one way
    assert linked[bo]["id"] != thin_bo and after.report["created"]["genesys"] == 1  # Bo is a new contact
    with scenario.ledger() as ledger:
        links = ledger.links(scenario.crm.kind).set_index("crm_id")
        assert links.loc[ann, "rule"] == "accepted"
        assert links.loc[maria, "rule"] == "created"
        reviews = ledger.match_reviews(status="all").set_index("crm_id")
        assert reviews.loc[ann, "status"] == "applied" and reviews.loc[bo, "status"] == "rejected"
        audit = ledger.audit_for_ids([thin_ann, thin_bo])
    assert set(audit.loc[audit["field"] == "link", "reason"]) >= {"match accepted", "match rejected"}
    # The rejected pair is never proposed again, and the trace says why Ann is linked.
    assert scenario.sync().report["match_review"] == 0
    traced = json.loads(scenario.cli("trace", ann, "--json").output.strip().splitlines()[-1])
    assert traced["links"][0]["evidence"] == "accepted in the match review queue"


def test_a_genesys_contact_with_unreadable_tags_is_held_and_every_other_contact_syncs(scenario: Scenario) -> None:
    genesys = scenario.sims.genesys
    (odd,) = genesys.load_contacts(
        [{"firstName": "Odd", "lastName": "Tags", "workEmail": "odd@example.com", "customFields": {"tags": 7}}]
    )
    ann, odd_crm = scenario.load_crm(
        [
            {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"},
            {"first_name": "Odd", "last_name": "Tags", "email": "odd@example.com"},
        ]
    )

    outcome = scenario.sync()

    assert outcome.plan is not None
    rejected = outcome.plan.rejected.set_index("record_id")
    assert "customFields.tags is not text or a list of text: 7" in rejected.loc[odd, "reason"]
    assert set(scenario.genesys_by_crm_id()) == {ann}  # Ann synced; the odd contact is left as it was
    assert odd_crm not in scenario.linked_ids()
