"""Creates, updates and edits end to end, for each CRM: one-way creates carry the CRM id, updates write only what
changed and keep unmanaged Genesys fields, Genesys edits are written back only in bidirectional mode, a second run
writes nothing; a CRM record edited between the snapshot and the CRM write is left alone and synced next run; the
CRM's 429s are waited out."""

from __future__ import annotations

import threading
import time

import dagster as dg
import pytest

from contact_sync_tests.scenarios.conftest import Scenario, digits, people


def crm_writes_metadata(scenario: Scenario, run_id: str) -> dict[str, object]:
    """The `crm_writes` asset's metadata of that run, as the Dagster UI shows it."""
    event = scenario.instance.get_latest_materialization_event(dg.AssetKey("crm_writes"))
    assert event is not None and event.asset_materialization is not None and event.run_id == run_id
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_creates_updates_and_edits_in_one_way_then_bidirectional_mode(scenario: Scenario) -> None:
    crm, gen = scenario.crm, scenario.sims.genesys
    ada, alan, grace = scenario.load_crm(people(3))

    created = scenario.sync()

    assert created.report["created"] == {"genesys": 3, "crm": 0} and created.report["errors"] == 0
    linked = scenario.genesys_by_crm_id()  # keyed by the CRM id under the CRM's external source
    assert set(linked) == {ada, alan, grace}
    assert linked[ada]["workEmail"] == "person000@example.com" and linked[ada]["firstName"] == "Person000"
    assert scenario.linked_ids() == {ada, alan, grace}
    stamps = {g["id"]: g["modifyDate"] for g in linked.values()}
    assert scenario.sync().report["updated"] == {"genesys": 0, "crm": 0}
    assert {g["id"]: g["modifyDate"] for g in scenario.genesys_contacts()} == stamps

    # One way: a CRM edit reaches Genesys (an unmanaged Genesys field kept); a Genesys edit is overwritten, not sent.
    gen.edit_contact(linked[ada]["id"], {"title": "Countess"})
    gen.edit_contact(linked[alan]["id"], {"firstName": "Alan M."})
    crm.edit(ada, phone="415-555-0199")
    crm_alan = crm.stamp(alan)

    one_way = scenario.sync()

    assert one_way.report["updated"] == {"genesys": 2, "crm": 0} and one_way.report["errors"] == 0
    # Both sides were read from their watermarks (minus the overlap window, so here every recent record again).
    assert [one_way.report["read"][side]["how"] for side in ("crm", "genesys")] == ["incremental", "incremental"]
    assert one_way.report["read"]["crm"]["records"] >= 1 and one_way.report["read"]["genesys"]["records"] >= 2
    # Only the two edited pairs are decided again (issue 12, item 3); Grace's is at rest.
    assert one_way.report["decided"] == {"records": 2, "how": "incremental"}
    assert digits(gen.contact(linked[ada]["id"])["workPhone"]["display"]) == "4155550199"
    assert gen.contact(linked[ada]["id"])["title"] == "Countess"
    assert gen.contact(linked[alan]["id"])["firstName"] == "Person001"
    assert crm.get(alan)["first_name"] == "Person001" and crm.stamp(alan) == crm_alan

    # Bidirectional: a Genesys phone edit reaches the CRM, and only that record is written.
    gen.edit_contact(linked[grace]["id"], {"workPhone": {"display": "+1 628 555 0177"}})
    crm_ada = crm.stamp(ada)

    both = scenario.sync(mode="bidirectional")

    assert both.report["updated"] == {"genesys": 0, "crm": 1} and both.report["errors"] == 0
    assert digits(crm.get(grace)["phone"]) == "6285550177"
    assert crm.stamp(ada) == crm_ada
    again = scenario.sync(mode="bidirectional")
    assert again.report["updated"] == {"genesys": 0, "crm": 0} and again.report["created"] == {"genesys": 0, "crm": 0}


# Dynamics only: its updates send the snapshot's ETag as If-Match and the service answers 412 to a stale one; the
# Salesforce connector's stamp check is tested against its simulator in contact_sync_tests/connectors.
@pytest.mark.parametrize("crm_kind", ["dynamics"])
def test_a_crm_record_edited_after_the_snapshot_is_not_overwritten_and_syncs_next_run(scenario: Scenario) -> None:
    crm, gen, dynamics = scenario.crm, scenario.sims.genesys, scenario.sims.dynamics
    ada, alan = scenario.load_crm(people(2))
    scenario.sync()
    linked = {crm_id: c["id"] for crm_id, c in scenario.genesys_by_crm_id().items()}
    for crm_id, phone in ((ada, "+1 628 555 0101"), (alan, "+1 628 555 0102")):
        gen.edit_contact(linked[crm_id], {"workPhone": {"display": phone}})
    time.sleep(crm.later)  # the user's CRM edit below is the later one
    # The CRM updates (one $batch, each PATCH with its snapshot ETag) are held for 2 s; meanwhile a user edits one of
    # those records in the CRM.
    dynamics.set_faults([{"kind": "slow", "method": "POST", "path": r"/\$batch", "count": 1, "delay": 2.0}])
    edited: list[str] = []

    def user_edits_the_held_record() -> None:
        deadline = time.monotonic() + 60
        while not dynamics.faults.fired and time.monotonic() < deadline:
            time.sleep(0.02)
        if dynamics.faults.fired:
            crm.edit(ada, phone="212-555-0100")
            edited.append(ada)

    user = threading.Thread(target=user_edits_the_held_record)
    user.start()
    outcome = scenario.sync(mode="bidirectional")
    user.join()

    assert len(edited) == 1 and edited[0] in {ada, alan}
    (held,) = edited
    (other,) = {ada, alan} - {held}
    assert outcome.report["updated"]["crm"] == 1 and outcome.report["errors"] == 0
    assert crm_writes_metadata(scenario, outcome.run_id)["changed_since_read"] == 1
    assert digits(crm.get(held)["phone"]) == "2125550100"  # the user's edit was not overwritten
    assert digits(crm.get(other)["phone"]) == digits(gen.contact(linked[other])["workPhone"]["display"])

    dynamics.set_faults([])
    following = scenario.sync(mode="bidirectional")

    assert following.report["errors"] == 0 and following.report["updated"]["genesys"] == 1
    assert digits(crm.get(held)["phone"]) == "2125550100"
    assert digits(gen.contact(linked[held])["workPhone"]["display"]) == "2125550100"


# Dynamics only: the service-protection limit (requests per client per sliding window, 429 with Retry-After) is a
# Dataverse behaviour its simulator models; the Salesforce simulator limits daily API requests instead.
@pytest.mark.parametrize("crm_kind", ["dynamics"])
def test_service_protection_429s_are_waited_out_and_no_record_fails(scenario: Scenario) -> None:
    crm, gen, dynamics = scenario.crm, scenario.sims.genesys, scenario.sims.dynamics
    ids = scenario.load_crm(people(8))
    scenario.sync()
    linked = {crm_id: c["id"] for crm_id, c in scenario.genesys_by_crm_id().items()}
    for n, crm_id in enumerate(ids):
        gen.edit_contact(linked[crm_id], {"workPhone": {"display": f"+1 628 555 {3000 + n:04d}"}})
    # The run's updates are one $batch (a batch counts as one request): a limit of 1 a window refuses its second call.
    dynamics.set_service_protection(1, window_s=2)
    dynamics.calls.clear()

    outcome = scenario.sync(mode="bidirectional")

    assert outcome.report["errors"] == 0 and outcome.report["updated"]["crm"] == len(ids)
    assert {digits(crm.get(i)["phone"]) for i in ids} == {f"628555{3000 + n:04d}" for n in range(len(ids))}
    assert dynamics.rate_limiter.refused > 0  # some calls were refused with 429 and sent again after Retry-After
    # Every request the simulator served, the refused ones included, was counted by the connector (the PATCHes inside
    # the $batch are the simulator's count of its parts, not requests).
    served = sum(n for (method, _), n in dynamics.calls.items() if method != "PATCH")
    assert sum(n for name, n in outcome.report["api_calls"].items() if name.startswith("dynamics ")) == served


def test_a_crm_id_removed_from_a_genesys_contact_is_put_back_and_audited(scenario: Scenario) -> None:
    ann, bob = scenario.load_crm(people(2))
    scenario.sync()
    contact = scenario.genesys_by_crm_id()[ann]
    scenario.sims.genesys.edit_contact(contact["id"], {"externalIds": []})  # someone removed it in Genesys
    assert set(scenario.genesys_by_crm_id()) == {bob}

    outcome = scenario.sync()

    assert scenario.genesys_by_crm_id()[ann]["id"] == contact["id"]  # the same contact, linked again
    assert len(scenario.genesys_contacts()) == 2
    with scenario.ledger() as ledger:
        audit = ledger.audit_for_run(outcome.run_id)
    restored = audit[audit["reason"] == "link restored"]
    assert restored[["record_id", "field", "new_value"]].values.tolist() == [[contact["id"], "externalIds", ann]]
    assert scenario.sync().report["updated"]["genesys"] == 0  # settled: nothing to put back again


@pytest.mark.parametrize("crm_kind", ["salesforce"])
def test_salesforce_write_backs_from_the_threshold_run_as_one_bulk_ingest_job(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SALESFORCE_BULK_WRITE_THRESHOLD", "3")
    crm, gen = scenario.crm, scenario.sims.genesys
    ids = scenario.load_crm(people(4))
    scenario.sync()
    linked = {crm_id: c["id"] for crm_id, c in scenario.genesys_by_crm_id().items()}
    for n, crm_id in enumerate(ids):
        gen.edit_contact(linked[crm_id], {"workPhone": {"display": f"+1 628 555 01{n:02d}"}})

    both = scenario.sync(mode="bidirectional")

    assert both.report["updated"] == {"genesys": 0, "crm": 4} and both.report["errors"] == 0
    assert [job.operation for job in scenario.sims.salesforce.api.ingest.all()] == ["update"]
    assert [digits(crm.get(i)["phone"]) for i in ids] == [f"62855501{n:02d}" for n in range(4)]
    assert scenario.sync(mode="bidirectional").report["updated"] == {"genesys": 0, "crm": 0}
