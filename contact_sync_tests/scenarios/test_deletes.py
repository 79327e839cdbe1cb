"""CRM deletes and merges end to end, by policy: unlink and keep the Genesys contact (the default), or delete it.

Deletes run on every CRM (Dynamics reports them as `$deletedEntity` rows of its change-tracking delta, HubSpot as
archived contacts); merges only on Salesforce, whose merge leaves the loser deleted with `MasterRecordId` set: the
Dynamics simulator has no merge, and a HubSpot merge makes a new record of both (its own scenario, in
test_hubspot_merge.py)."""

from __future__ import annotations

import json

import pytest

from contact_sync_tests.scenarios.conftest import Scenario, people, write_policy

CONTACTS = 40  # each run removes one record, under the default mass-delete guard (5% of linked contacts)


def remove(scenario: Scenario, how: str, record: str, master: str) -> None:
    """A user deletes `record`, or merges it into `master`, in the CRM."""
    if how == "merge":
        scenario.crm.merge(master, [record])
    else:
        scenario.crm.delete(record)


@pytest.mark.parametrize(
    ("crm_kind", "how"),
    [("salesforce", "delete"), ("dynamics", "delete"), ("hubspot", "delete"), ("salesforce", "merge")],
)
def test_a_crm_delete_or_merge_unlinks_by_default_and_deletes_with_the_delete_policy(
    scenario: Scenario, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen = scenario.sims.genesys
    ids = scenario.load_crm(people(CONTACTS))
    scenario.sync()
    linked = {crm_id: c["id"] for crm_id, c in scenario.genesys_by_crm_id().items()}
    master, unlinked, deleted = ids[0], ids[1], ids[2]

    # The default policy: the link is dropped, the Genesys contact kept.
    remove(scenario, how, unlinked, master)
    outcome = scenario.sync()

    assert outcome.report["unlinked"] == 1 and outcome.report["deleted"]["genesys"] == 0
    assert outcome.report["errors"] == 0
    assert gen.count() == CONTACTS and gen.contact(linked[unlinked]) is not None
    with scenario.ledger() as ledger:
        audit = ledger.audit_for_run(outcome.run_id)
    assert set(audit.loc[audit["reason"] == "unlink", "crm_id"]) == {unlinked}
    links = scenario.linked_ids()
    assert unlinked not in links and master in links and len(links) == CONTACTS - 1

    # `on_crm_delete: delete`: the Genesys contact goes too.
    monkeypatch.setenv("CONTACT_SYNC_POLICY", str(write_policy(scenario.folder, on_crm_delete="delete")))
    remove(scenario, how, deleted, master)
    outcome = scenario.sync()

    assert outcome.report["deleted"]["genesys"] == 1 and outcome.report["errors"] == 0
    assert gen.contact(linked[deleted]) is None and gen.contact(linked[master]) is not None
    assert gen.count() == CONTACTS - 1
    links = scenario.linked_ids()
    assert deleted not in links and master in links and len(links) == CONTACTS - 2

    again = scenario.sync()
    assert again.report["unlinked"] == 0 and again.report["deleted"] == {"genesys": 0, "crm": 0}
    assert again.report["created"] == {"genesys": 0, "crm": 0} and gen.count() == CONTACTS - 1


def test_the_mass_delete_guard_holds_many_deletes_and_says_so(scenario: Scenario) -> None:
    ids = scenario.load_crm(people(CONTACTS))
    scenario.sync()
    for record in ids[:12]:  # 30% of the links and more than 10: above both limits
        scenario.crm.delete(record)

    outcome = scenario.sync()

    assert outcome.report["held_deletes"] == 12 and outcome.report["unlinked"] == 0
    assert outcome.report["delete_guard"].startswith("mass-delete guard: 12 of 40 linked contacts would be unlinked")
    assert len(scenario.linked_ids()) == CONTACTS  # nothing unlinked
    with scenario.ledger() as ledger:
        held = [a for a in ledger.recent_alerts(10) if a.kind == "mass_delete_guard" and a.run_id == outcome.run_id]
    assert len(held) == 1 and "12 wait in the delete review queue" in held[0].message

    # Listed in the queue and in status; a second run neither queues them twice nor alerts again.
    queue = json.loads(scenario.cli("deletes", "list", "--json").output)
    assert sorted(r["crm_id"] for r in queue) == sorted(ids[:12]) and {r["action"] for r in queue} == {"unlink"}
    assert json.loads(scenario.cli("status", "--json").output)["waiting_for_review"]["deletes"] == 12
    waiting = scenario.sync()
    assert waiting.report["held_deletes"] == 12 and waiting.report["delete_guard"] is None
    assert waiting.report["unlinked"] == 0
    with scenario.ledger() as ledger:
        assert not [a for a in ledger.recent_alerts(10) if a.kind == "mass_delete_guard" and a.run_id == waiting.run_id]
        assert len(ledger.delete_reviews()) == 12

    # Two approved, one rejected: the next run unlinks exactly the approved ones, keeps the rejected pair linked,
    # and the other nine keep waiting (approving some never lets the rest through).
    by_crm = {r["crm_id"]: r["id"] for r in queue}
    approved, kept = [by_crm[ids[0]], by_crm[ids[1]]], by_crm[ids[2]]
    result = scenario.cli("deletes", "approve", *map(str, approved), "--by", "ops")
    assert result.exit_code == 0 and "2 delete review(s) approved" in result.output
    assert scenario.cli("deletes", "reject", str(kept), "--by", "ops").exit_code == 0
    applied = scenario.sync()
    assert applied.report["unlinked"] == 2 and applied.report["held_deletes"] == 9
    assert scenario.linked_ids() == set(ids) - {ids[0], ids[1]}
    with scenario.ledger() as ledger:
        reviews = ledger.delete_reviews(status="all").set_index("crm_id")
        trail = ledger.audit_for_ids([ids[0], ids[2]])
    assert reviews.loc[ids[0], "status"] == "applied" and reviews.loc[ids[0], "applied_run_id"] == applied.run_id
    assert reviews.loc[ids[2], "status"] == "rejected" and (reviews.loc[ids[3:12], "status"] == "open").all()
    assert {"delete approved", "unlink", "delete rejected"} <= set(trail["reason"])
    assert set(trail.loc[trail["reason"] == "delete approved", "crm_id"]) == {ids[0]}

    # The rest approved at once: carried out, and nothing is left waiting.
    assert "9 delete review(s) approved" in scenario.cli("deletes", "approve", "--all").output
    final = scenario.sync()
    assert final.report["unlinked"] == 9 and final.report["held_deletes"] == 0
    assert scenario.linked_ids() == set(ids[12:]) | {ids[2]}
    assert json.loads(scenario.cli("deletes", "list", "--json").output) == []
    refused = scenario.cli("deletes", "approve", str(approved[0]))
    assert refused.exit_code == 1 and "already applied by run" in refused.output
