"""The blocking plan check: a plan that fails it stops every write of the run."""

import dataclasses

import dagster as dg
import pandas as pd

from contact_sync.defs.io_managers import ContactSyncIOManager
from contact_sync.defs.resources import ContactSyncResource, sync_resources
from contact_sync.defs.sync.assets import contact_matches, crm_contacts, genesys_contacts, genesys_writes
from contact_sync.defs.sync.checks import plan_problems, reconciliation_is_valid
from contact_sync.defs.sync.partitions import rollout_cohort
from contact_sync.ledger import Ledger
from contact_sync.pipeline import runs
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.planning import plan_cohort
from contact_sync.pipeline.snapshots import Snapshot
from contact_sync.simulators import RunningSimulators
from contact_sync.sync.matching import MatchResult
from contact_sync.sync.plan import SyncPlan


def _corrupt(plan: SyncPlan) -> SyncPlan:
    """The real plan with one row whose action no writer knows (what a bug in the plan builder could produce)."""
    recon = plan.reconciliation.copy()
    recon.loc[recon.index[0], "action"] = "overwrite_everything"
    return dataclasses.replace(plan, reconciliation=recon)


@dg.asset(name="reconciliation", partitions_def=rollout_cohort)
def broken_reconciliation(
    context: dg.AssetExecutionContext,
    contact_sync: ContactSyncResource,
    crm_contacts: Snapshot,
    genesys_contacts: Snapshot,
    contact_matches: MatchResult,
) -> SyncPlan:
    plan = plan_cohort(contact_sync.services, crm_contacts, genesys_contacts, contact_matches, "one_way", "all")
    return _corrupt(plan)


def test_an_invalid_plan_blocks_every_write(
    sims: RunningSimulators, sync_env: dict[str, str], sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    sims.salesforce.load_contacts([{"LastName": "Gate", "Email": "gate@example.com"}, {"LastName": "Keeper"}])
    result = dg.materialize(
        [
            crm_contacts,
            genesys_contacts,
            contact_matches,
            broken_reconciliation,
            reconciliation_is_valid,
            genesys_writes,
        ],
        instance=dagster_instance,
        partition_key="all",
        resources={**sync_resources(PipelineSettings.from_env()), "io_manager": ContactSyncIOManager()},
        raise_on_error=False,
    )
    assert not result.success
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert "ReconciliationRow" in evaluation.metadata["details"].value
    assert "genesys_writes" not in {e.step_key for e in result.get_step_success_events()}
    assert sims.genesys.count() == 0  # the two creates of the plan were never sent
    assert sync_ledger.links().empty


def test_plan_problems_names_writes_to_records_missing_from_the_snapshot() -> None:
    import pandas as pd

    from contact_sync.sync.plan import RECONCILIATION_COLUMNS, build_plan
    from contact_sync.sync.policy import load_policy

    row = {name: None for name in RECONCILIATION_COLUMNS}
    row.update(
        crm_id="003000000000001AAA", genesys_id="gone", field="phone", changed_on="crm", conflict=False,
        policy="last_write_wins", winner="crm", action="write_genesys", new_value="+14155550100", base_update=True,
    )  # fmt: skip
    recon = pd.DataFrame([row]).astype(object).astype({"conflict": bool, "base_update": bool})
    # Ids are object columns in every MatchResult frame, empty or not (an empty list would make them float64).
    no_rows = {name: pd.Series([], dtype=object) for name in ("crm_id", "genesys_id", "rule", "score")}
    empty = MatchResult(*(pd.DataFrame(no_rows) for _ in range(9)))
    plan = build_plan(recon, empty, load_policy())
    crm = Snapshot(system="salesforce")
    problems = plan_problems(plan, crm, Snapshot(system="genesys"), cohort=["003000000000002AAA"])
    assert any("Genesys write(s) target contacts not in the snapshot" in p for p in problems)
    assert any("outside the cohort" in p for p in problems)
    assert plan_problems(plan, crm, Snapshot(system="genesys"), cohort=None) != []


LOSSY_CONTACT = {"LastName": "Lossy", "Email": "lossy@example.com", "Phone": "415-555-0140"}
FORGOTTEN_CONTACT = {"LastName": "Forgotten", "Email": "forgotten@example.com"}


@dg.asset(name="reconciliation", partitions_def=rollout_cohort)
def lossy_reconciliation(
    context: dg.AssetExecutionContext,
    contact_sync: ContactSyncResource,
    crm_contacts: Snapshot,
    genesys_contacts: Snapshot,
    contact_matches: MatchResult,
    ledger: dg.ResourceParam[Ledger],
) -> SyncPlan:
    """The real plan with two hand-made losses: Lossy's new phone written as nothing, Forgotten's create dropped."""
    runs.begin_run(ledger, context.run.run_id, "one_way", "all", None)
    plan = plan_cohort(contact_sync.services, crm_contacts, genesys_contacts, contact_matches, "one_way", "all")
    recon = plan.reconciliation.copy()
    recon.loc[(recon["field"] == "phone") & (recon["action"] == "write_genesys"), "new_value"] = None
    forgotten = set(crm_contacts.contacts.loc[crm_contacts.contacts["last_name"] == "Forgotten", "record_id"])
    recon = recon[~recon["crm_id"].isin(forgotten)]
    creates = plan.genesys_creates[~plan.genesys_creates["crm_id"].isin(forgotten)]
    return dataclasses.replace(plan, reconciliation=recon, genesys_creates=creates)


def test_each_loss_guard_fails_on_a_hand_made_loss_and_lists_the_records(
    sims: RunningSimulators, sync_env: dict[str, str], sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    from contact_sync.defs.sync.assets import conflict_report, crm_writes, reconciliation, sync_report
    from contact_sync.defs.sync.checks import loss_guards
    from contact_sync_tests.defs.conftest import run_job

    [lossy, twin] = sims.salesforce.load_contacts([LOSSY_CONTACT, {"LastName": "Twin", "Email": "twin@example.com"}])
    first, _ = run_job(dagster_instance)
    assert first.success
    assert {e.check_name: e.passed for e in first.get_asset_check_evaluations()} == {
        "reconciliation_is_valid": True,
        "errors_within_limit": True,
        "no_unexplained_blanks": True,
        "every_crm_contact_has_a_counterpart": True,
        "no_genesys_contact_linked_twice": True,
        "health_above_threshold": True,
    }
    links = sync_ledger.links()
    lossy_genesys = links.loc[links["crm_id"] == lossy, "genesys_id"].item()
    # A second CRM sharing the ledger links Lossy's Genesys contact too (the ledger refuses it only within one CRM).
    sync_ledger.add_links(pd.DataFrame([{"crm_system": "hubspot", "crm_id": "HS-0000001", "genesys_id":
                                         lossy_genesys, "rule": "email", "score": 1.0}]))  # fmt: skip
    sims.salesforce.edit_contact(lossy, Phone="415-555-0199")
    [forgotten] = sims.salesforce.load_contacts([FORGOTTEN_CONTACT])

    result = dg.materialize(
        [crm_contacts, genesys_contacts, contact_matches, lossy_reconciliation, genesys_writes, crm_writes,
         conflict_report, sync_report, loss_guards],
        instance=dagster_instance,
        partition_key="all",
        resources={**sync_resources(PipelineSettings.from_env()), "io_manager": ContactSyncIOManager()},
        raise_on_error=False,
    )  # fmt: skip
    assert reconciliation.key == lossy_reconciliation.key
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert {name: c.passed for name, c in checks.items()} == {
        "no_unexplained_blanks": False,
        "every_crm_contact_has_a_counterpart": False,
        "no_genesys_contact_linked_twice": False,
    }
    assert all(c.severity == dg.AssetCheckSeverity.ERROR for c in checks.values())
    blanks = checks["no_unexplained_blanks"].metadata["listed"].value
    assert lossy_genesys in blanks and "phone" in blanks and "nothing asked for the blank" in blanks
    assert checks["no_unexplained_blanks"].metadata["records"].value == 1
    orphans = checks["every_crm_contact_has_a_counterpart"].metadata["listed"].value
    assert forgotten in orphans and lossy not in orphans and twin not in orphans
    twice = checks["no_genesys_contact_linked_twice"].metadata["listed"].value
    assert lossy_genesys in twice and "HS-0000001" in twice and lossy in twice
