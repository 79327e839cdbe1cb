"""Rolling back sync runs end to end: real runs of the Dagster sync job on the simulators, then `rollback_run`, with
the end state checked through the services' APIs and the ledger."""

from __future__ import annotations

import dagster as dg

from contact_sync.ledger import Ledger
from contact_sync.pipeline.rollback import rollback_run
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


def test_rollback_restores_crm_values_and_refuses_fields_a_later_run_wrote(
    sims: RunningSimulators, sync_env: dict[str, str], sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    ids = sims.salesforce.load_contacts(PEOPLE[:2])
    sync(dagster_instance)
    alan_gid = genesys_by_crm_id(sims)[ids[1]]["id"]
    sims.genesys.edit_contact(alan_gid, {"workPhone": {"display": "+1 628 555 0177"}})
    run = sync(dagster_instance, mode="bidirectional")
    assert sims.salesforce.contact(ids[1])["Phone"] == "+1 628-555-0177"  # as Genesys normalized it
    sims.genesys.edit_contact(alan_gid, {"workPhone": {"display": "+1 628 555 0188"}})
    later = sync(dagster_instance, mode="bidirectional")
    assert sims.salesforce.contact(ids[1])["Phone"] == "+1 628-555-0188"

    # The field the first bidirectional run wrote was written again by a later run: refused, nothing recorded.
    with open_services() as services:
        refused = rollback_run(services, run)
    assert refused.changes[["system", "record_id", "field", "action", "why"]].values.tolist() == [
        ["salesforce", ids[1], "phone", "refused", f"written again by run {later} (genesys change)"]
    ]
    assert refused.rollback_run_id is None
    assert sims.salesforce.contact(ids[1])["Phone"] == "+1 628-555-0188"
    assert [r.run_id for r in sync_ledger.recent_runs(1)] == [later]

    # The later run itself rolls back: the CRM gets the value from before it, recorded as a rollback run.
    with open_services() as services:
        done = rollback_run(services, later)
    assert done.counts()["restored"] == 1
    assert sims.salesforce.contact(ids[1])["Phone"] == "+1 628-555-0177"
    record = sync_ledger.run(str(done.rollback_run_id))
    assert (record.mode, record.status, record.counts["rolled_back_run"]) == ("rollback", "success", later)
    assert record.counts["updated"] == {"genesys": 0, "crm": 1}
    audit = sync_ledger.audit_for_run(str(done.rollback_run_id))
    assert audit[["system", "record_id", "field", "old_value", "new_value", "reason"]].values.tolist() == [
        ["salesforce", ids[1], "phone", "+1 628-555-0188", "+1 628-555-0177", "rollback"]
    ]
    assert sims.salesforce.contact(ids[0])["Phone"] == "(415) 555-0101"  # nothing else touched
