"""Applying a plan twice (a retried write step) writes nothing twice."""

from contact_sync.pipeline.genesys_snapshot import refresh_genesys_snapshot
from contact_sync.pipeline.planning import match_snapshots, plan_cohort
from contact_sync.pipeline.services import Services
from contact_sync.pipeline.snapshots import refresh_crm_snapshot
from contact_sync.pipeline.writes import apply_to_genesys
from contact_sync.simulators import RunningSimulators


def test_a_retried_genesys_write_step_creates_and_updates_nothing_twice(
    sims: RunningSimulators, services: Services
) -> None:
    ids = sims.salesforce.load_contacts([{"LastName": f"R{i}", "Email": f"r{i}@example.com"} for i in range(3)])
    crm, genesys = (
        refresh_crm_snapshot(services.crm, services.ledger, services.settings.data_dir),
        refresh_genesys_snapshot(services.genesys_adapter, services.settings),
    )
    plan = plan_cohort(
        services, crm, genesys, match_snapshots(services, crm, genesys, "one_way", "all"), "one_way", "all"
    )
    services.ledger.start_run("run-1", "one_way", "all")
    first = apply_to_genesys(services.genesys_adapter, services.ledger, plan, genesys, "run-1")
    again = apply_to_genesys(services.genesys_adapter, services.ledger, plan, genesys, "run-1")
    assert (first.created, again.created, again.errors) == (3, 0, 0)
    assert sims.genesys.count() == 3

    sims.salesforce.edit_contact(ids[0], Email="r0@example.org")
    crm, genesys = (
        refresh_crm_snapshot(services.crm, services.ledger, services.settings.data_dir),
        refresh_genesys_snapshot(services.genesys_adapter, services.settings),
    )
    plan = plan_cohort(
        services, crm, genesys, match_snapshots(services, crm, genesys, "one_way", "all"), "one_way", "all"
    )
    services.ledger.start_run("run-2", "one_way", "all")
    first = apply_to_genesys(services.genesys_adapter, services.ledger, plan, genesys, "run-2")
    again = apply_to_genesys(services.genesys_adapter, services.ledger, plan, genesys, "run-2")
    assert (first.updated, again.updated, again.changed_since_read) == (1, 0, 1)
    assert len(services.ledger.audit_for_run("run-2")) == 1
