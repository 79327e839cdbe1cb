"""CRM deletes and merges end to end, by policy: unlink and keep the Genesys contact (the default), or delete it."""

from __future__ import annotations

import pytest

from contact_sync_tests.scenarios.conftest import Scenario, people, write_policy

CONTACTS = 40  # two deletes stay under the default mass-delete guard (5% of linked contacts)


def test_a_crm_delete_and_merge_unlink_by_default_and_keep_the_genesys_contacts(scenario: Scenario) -> None:
    ids = scenario.load_crm(people(CONTACTS))
    scenario.sync()
    linked = {crm_id: c["id"] for crm_id, c in scenario.genesys_by_crm_id().items()}
    deleted, master, loser = ids[0], ids[1], ids[2]
    scenario.sims.salesforce.delete_contact(deleted)
    scenario.sims.salesforce.merge(master, [loser])

    outcome = scenario.sync()

    assert outcome.report["unlinked"] == 2 and outcome.report["deleted"]["genesys"] == 0
    assert scenario.sims.genesys.count() == CONTACTS
    assert scenario.sims.genesys.contact(linked[deleted]) is not None
    assert scenario.sims.genesys.contact(linked[loser]) is not None
    with scenario.ledger() as ledger:
        links = set(ledger.links("salesforce")["crm_id"])
        audit = ledger.audit_for_run(outcome.run_id)
    assert deleted not in links and loser not in links and master in links and len(links) == CONTACTS - 2
    assert set(audit.loc[audit["reason"] == "unlink", "crm_id"]) == {deleted, loser}

    again = scenario.sync()
    assert again.report["unlinked"] == 0 and again.report["created"] == {"genesys": 0, "crm": 0}
    assert scenario.sims.genesys.count() == CONTACTS


def test_with_the_delete_policy_a_crm_delete_and_merge_delete_the_genesys_contacts(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTACT_SYNC_POLICY", str(write_policy(scenario.folder, on_crm_delete="delete")))
    ids = scenario.load_crm(people(CONTACTS))
    scenario.sync()
    linked = {crm_id: c["id"] for crm_id, c in scenario.genesys_by_crm_id().items()}
    deleted, master, loser = ids[0], ids[1], ids[2]
    scenario.sims.salesforce.delete_contact(deleted)
    scenario.sims.salesforce.merge(master, [loser])

    outcome = scenario.sync()

    assert outcome.report["deleted"]["genesys"] == 2 and outcome.report["errors"] == 0
    assert scenario.sims.genesys.contact(linked[deleted]) is None
    assert scenario.sims.genesys.contact(linked[loser]) is None
    assert scenario.sims.genesys.contact(linked[master]) is not None
    assert scenario.sims.genesys.count() == CONTACTS - 2
    with scenario.ledger() as ledger:
        links = set(ledger.links("salesforce")["crm_id"])
    assert deleted not in links and loser not in links and len(links) == CONTACTS - 2
