"""Rolling back sync runs end to end: real runs of the Dagster sync job on the simulators, then `rollback_run`, with
the end state checked through the services' APIs and the ledger."""

from __future__ import annotations

import dagster as dg
import pytest

from contact_sync.ledger import Ledger
from contact_sync.pipeline.rollback import RollbackError, rollback_run
from contact_sync.pipeline.services import open_services
from contact_sync.simulators import RunningSimulators
from contact_sync_tests.defs import conftest as pipeline_fixtures
from contact_sync_tests.defs.conftest import run_job
from contact_sync_tests.defs.test_sync_job import genesys_by_crm_id

# The Dagster tests' fixtures: the environment pointing the pipeline at the simulators, and its ledger.
sync_env = pipeline_fixtures.sync_env
sync_ledger = pipeline_fixtures.sync_ledger

PEOPLE = [
    {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com", "Phone": "(415) 555-0101"},
    {"FirstName": "Alan", "LastName": "Turing", "Email": "alan@example.com", "Phone": "415-555-0102"},
    {"FirstName": "Grace", "LastName": "Hopper", "Email": "grace@example.com", "Phone": "+1 415 555 0103"},
]


def sync(instance: dg.DagsterInstance, mode: str = "one_way") -> str:
    result, report = run_job(instance, mode=mode)
    assert result.success and report is not None
    return str(report["run_id"])


def test_rollback_restores_unchanged_fields_and_refuses_re_changed_ones(
    sims: RunningSimulators, sync_env: dict[str, str], sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    ids = sims.salesforce.load_contacts(PEOPLE)
    # Grace already exists in Genesys: the first run links her (externalIds) instead of creating her.
    (grace_gid,) = sims.genesys.load_contacts(
        [{"firstName": "Grace", "lastName": "Hopper", "workEmail": "GRACE@example.com"}]
    )
    first = sync(dagster_instance)
    linked = genesys_by_crm_id(sims)
    ada_gid, alan_gid = linked[ids[0]]["id"], linked[ids[1]]["id"]
    assert linked[ids[2]]["id"] == grace_gid

    sims.salesforce.edit_contact(ids[0], Phone="415-555-0199", LastName="King")
    sims.salesforce.edit_contact(ids[1], FirstName="Alan M.")
    second = sync(dagster_instance)
    assert sims.genesys.contact(ada_gid)["workPhone"]["e164"] == "+14155550199"
    # After the run an agent edits one of the fields it wrote: that field must survive the rollback.
    sims.genesys.edit_contact(alan_gid, {"firstName": "Al"})

    with open_services() as services:
        plan = rollback_run(services, second, dry_run=True)
    changes = plan.changes.set_index(["record_id", "field"])
    # Genesys had normalized the phone's display when the second run read it.
    assert changes.loc[(ada_gid, "phone"), ["before", "written", "action"]].tolist() == [
        "+1 415-555-0101",
        "415-555-0199",
        "restore",
    ]
    assert changes.loc[(ada_gid, "last_name"), "action"] == "restore"
    assert changes.loc[(alan_gid, "first_name"), ["live", "action"]].tolist() == ["Al", "refuse"]
    assert plan.rollback_run_id is None
    # The dry run wrote nothing anywhere.
    assert sims.genesys.contact(ada_gid)["workPhone"]["e164"] == "+14155550199"
    assert [r.run_id for r in sync_ledger.recent_runs()] == [second, first]

    with open_services() as services:
        done = rollback_run(services, second)
    assert done.counts()["restored"] == 2 and done.counts()["refused"] == 1
    ada, alan = sims.genesys.contact(ada_gid), sims.genesys.contact(alan_gid)
    assert ada["workPhone"]["display"] == "+1 415-555-0101" and ada["lastName"] == "Lovelace"
    assert ada["firstName"] == "Ada" and ada["workEmail"] == "ada@example.com"
    assert alan["firstName"] == "Al"
    refused = done.changes[done.changes["action"] == "refused"]
    assert refused[["record_id", "field"]].values.tolist() == [[alan_gid, "first_name"]]
    assert "changed since the run" in refused["why"].iloc[0]

    run = sync_ledger.run(str(done.rollback_run_id))
    assert run.mode == "rollback" and run.status == "success"
    assert run.counts["rolled_back_run"] == second and run.counts["restored"] == 2
    audit = sync_ledger.audit_for_run(str(done.rollback_run_id)).sort_values("field")
    assert audit[["record_id", "field", "old_value", "new_value", "reason"]].values.tolist() == [
        [ada_gid, "last_name", "King", "Lovelace", "rollback"],
        [ada_gid, "phone", "415-555-0199", "+1 415-555-0101", "rollback"],
    ]

    # Bad input: a rollback of the rollback, the same run again, an unknown run: one clear line, nothing written.
    runs_before = len(sync_ledger.recent_runs())
    with open_services() as services:
        with pytest.raises(RollbackError, match=r"is itself a rollback \(of run .*\) and cannot be rolled back"):
            rollback_run(services, str(done.rollback_run_id))
        with pytest.raises(RollbackError, match=f"already rolled back by run {done.rollback_run_id}"):
            rollback_run(services, second)
        with pytest.raises(RollbackError, match="no run with id 'no-such-run'"):
            rollback_run(services, "no-such-run")
    assert len(sync_ledger.recent_runs()) == runs_before

    # Rolling back the first run: created contacts are unlinked and kept; the link to Grace is kept too.
    with open_services() as services:
        undo = rollback_run(services, first)
    created = undo.created.set_index("crm_id")
    assert set(created.index) == {ids[0], ids[1]}
    assert set(created["action"]) == {"unlinked"}
    assert sims.genesys.contact(ada_gid) is not None and sims.genesys.count() == 3
    assert set(sync_ledger.links("salesforce")["crm_id"]) == {ids[2]}
    kept = undo.changes[undo.changes["action"] == "kept"]
    assert kept[["record_id", "field"]].values.tolist() == [[grace_gid, "externalIds"]]

    # Again, with --delete-created: the contacts it created go from Genesys.
    with open_services() as services:
        deleted = rollback_run(services, first, delete_created=True)
    assert set(deleted.created["action"]) == {"deleted"}
    assert sims.genesys.contact(ada_gid) is None and sims.genesys.contact(alan_gid) is None
    assert sims.genesys.count() == 1
    assert sync_ledger.run(str(deleted.rollback_run_id)).counts["deleted"] == {"genesys": 2, "crm": 0}


def test_rollback_restores_crm_values_a_bidirectional_run_wrote(
    sims: RunningSimulators, sync_env: dict[str, str], sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    ids = sims.salesforce.load_contacts(PEOPLE[:2])
    sync(dagster_instance)
    alan_gid = genesys_by_crm_id(sims)[ids[1]]["id"]
    sims.genesys.edit_contact(alan_gid, {"workPhone": {"display": "+1 628 555 0177"}})
    run = sync(dagster_instance, mode="bidirectional")
    assert sims.salesforce.contact(ids[1])["Phone"] == "+1 628-555-0177"  # as Genesys normalized it

    with open_services() as services:
        done = rollback_run(services, run)
    assert done.counts()["restored"] == 1
    assert sims.salesforce.contact(ids[1])["Phone"] == "415-555-0102"
    audit = sync_ledger.audit_for_run(str(done.rollback_run_id))
    assert audit[["system", "record_id", "field", "old_value", "new_value"]].values.tolist() == [
        ["salesforce", ids[1], "phone", "+1 628-555-0177", "415-555-0102"]
    ]

    # The restored CRM value is the newer edit now: the next bidirectional run copies it to Genesys.
    sync(dagster_instance, mode="bidirectional")
    assert sims.genesys.contact(alan_gid)["workPhone"]["e164"] == "+14155550102"
    assert sims.salesforce.contact(ids[1])["Phone"] == "415-555-0102"
