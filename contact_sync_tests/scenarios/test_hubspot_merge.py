"""HubSpot merges end to end: a merge makes a new record of two contacts, and both old ids come back as merged into it.

A link of one of them moves to the new record (no second Genesys contact, the Genesys contact keeps its history and
gets the merged values); when both were linked, which Genesys contact goes waits in the delete review queue."""

from __future__ import annotations

import json

import pytest

from contact_sync_tests.scenarios.conftest import Scenario, digits, genesys_value, people, write_policy

CONTACTS = 40

pytestmark = pytest.mark.parametrize("crm_kind", ["hubspot"])  # the merge that makes a new record is HubSpot's


def test_a_merge_with_an_unsynced_contact_moves_the_link_to_the_merged_record(scenario: Scenario) -> None:
    gen = scenario.sims.genesys
    ids = scenario.load_crm(people(CONTACTS))
    scenario.sync()
    linked = {crm_id: c["id"] for crm_id, c in scenario.genesys_by_crm_id().items()}
    primary = ids[0]
    # A duplicate someone typed in later, not synced yet, with a phone the primary lacks.
    scenario.crm.edit(primary, phone=None)
    (typed,) = scenario.crm.load([{"first_name": "Person000", "last_name": "Example", "phone": "(628) 555-0199"}])

    merged = scenario.crm.merge(primary, [typed])
    outcome = scenario.sync()

    assert merged not in (primary, typed)
    assert outcome.report["errors"] == 0 and outcome.report["created"]["genesys"] == 0
    assert outcome.report["deleted"]["genesys"] == 0 and gen.count() == CONTACTS
    links = scenario.linked_ids()
    assert merged in links and primary not in links and len(links) == CONTACTS
    contact = gen.contact(linked[primary])
    assert contact is not None and digits(genesys_value(contact, "phone")) == "6285550199"
    assert scenario.genesys_by_crm_id()[merged]["id"] == linked[primary]  # externalIds names the merged record
    with scenario.ledger() as ledger:
        trail = ledger.audit_for_ids([primary])
    assert "unlink" in set(trail["reason"])

    again = scenario.sync()
    assert again.report["created"] == {"genesys": 0, "crm": 0} and again.report["unlinked"] == 0
    assert again.report["updated"]["genesys"] == 0 and gen.count() == CONTACTS


def test_a_merge_of_two_synced_contacts_waits_for_a_person_then_one_genesys_contact_goes(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen = scenario.sims.genesys
    monkeypatch.setenv("CONTACT_SYNC_POLICY", str(write_policy(scenario.folder, on_crm_delete="delete")))
    ids = scenario.load_crm(people(CONTACTS))
    scenario.sync()
    linked = {crm_id: c["id"] for crm_id, c in scenario.genesys_by_crm_id().items()}
    primary, other = ids[0], ids[1]

    merged = scenario.crm.merge(primary, [other])
    held = scenario.sync()

    # Nothing deleted, unlinked or created: the two links wait in the delete review queue.
    assert held.report["held_deletes"] == 2 and held.report["deleted"]["genesys"] == 0
    assert held.report["created"]["genesys"] == 0 and held.report["unlinked"] == 0 and gen.count() == CONTACTS
    queue = json.loads(scenario.cli("deletes", "list", "--json").output)
    assert sorted(r["crm_id"] for r in queue) == sorted([primary, other])
    assert all(f"merged into {merged} with another linked record" in r["reason"] for r in queue)

    # The operator lets the other's Genesys contact go: deleted; the primary's link then moves to the merged record.
    review = next(r["id"] for r in queue if r["crm_id"] == other)
    assert scenario.cli("deletes", "approve", str(review), "--by", "ops").exit_code == 0
    applied = scenario.sync()
    assert applied.report["deleted"]["genesys"] == 1 and gen.contact(linked[other]) is None
    moved = scenario.sync()
    assert moved.report["errors"] == 0 and moved.report["created"]["genesys"] == 0
    assert gen.count() == CONTACTS - 1 and gen.contact(linked[primary]) is not None
    links = scenario.linked_ids()
    assert merged in links and not {primary, other} & links and len(links) == CONTACTS - 1
    assert json.loads(scenario.cli("deletes", "list", "--json").output) == []

    again = scenario.sync()
    assert again.report["created"] == {"genesys": 0, "crm": 0} and again.report["unlinked"] == 0
    assert again.report["deleted"]["genesys"] == 0 and gen.count() == CONTACTS - 1
