"""End to end through the real Dagster sync jobs, on the simulators over HTTP, with the ledger on SQLite."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from contact_sync.definitions import defs
from contact_sync.launcher import failure_message
from contact_sync.ledger import Ledger
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.snapshots import Mirror
from contact_sync.simulators import RunningSimulators
from contact_sync.sync.policy import DEFAULT_POLICY_PATH
from contact_sync_tests.defs.conftest import PEOPLE, genesys_by_crm_id, run_job


def test_definitions_load_and_validate() -> None:
    dg.Definitions.validate_loadable(defs)
    assert {job.name for job in defs.jobs} >= {"sync_one_way", "sync_bidirectional"}  # type: ignore[union-attr]


def test_one_way_creates_then_updates_only_changed_fields_and_never_writes_back(
    sims: RunningSimulators, sync_env: dict[str, str], sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    ids = sims.salesforce.load_contacts(PEOPLE)

    result, report = run_job(dagster_instance)
    assert result.success and report is not None
    assert report["created"] == {"genesys": 4, "crm": 0} and report["errors"] == 0
    linked = genesys_by_crm_id(sims)
    assert set(linked) == set(ids)
    assert linked[ids[0]]["workEmail"] == "ada@example.com"
    assert sync_ledger.links("salesforce")["crm_id"].nunique() == 4

    # A second run right after writes nothing.
    before = {k: v["modifyDate"] for k, v in genesys_by_crm_id(sims).items()}
    result, report = run_job(dagster_instance)
    assert result.success and report is not None
    assert report["created"] == {"genesys": 0, "crm": 0} and report["updated"] == {"genesys": 0, "crm": 0}
    assert {k: v["modifyDate"] for k, v in genesys_by_crm_id(sims).items()} == before

    # CRM phone change + an unmanaged Genesys field, and an agent's Genesys edit of a mapped field.
    ada, alan = linked[ids[0]], linked[ids[1]]
    sims.genesys.edit_contact(ada["id"], {"title": "Countess"})
    sims.genesys.edit_contact(alan["id"], {"firstName": "Alan M."})
    sims.salesforce.edit_contact(ids[0], Phone="415-555-0199")
    result, report = run_job(dagster_instance)
    assert result.success and report is not None
    assert report["updated"] == {"genesys": 2, "crm": 0}
    after = genesys_by_crm_id(sims)
    assert after[ids[0]]["workPhone"]["e164"] == "+14155550199"
    assert after[ids[0]]["title"] == "Countess"  # unmanaged field preserved by the whole-contact update
    assert after[ids[0]]["firstName"] == "Ada"
    assert after[ids[1]]["firstName"] == "Alan"  # one-way: Genesys mirrors the CRM...
    assert sims.salesforce.contact(ids[1])["FirstName"] == "Alan"  # ...and its edits are never written back
    audit = sync_ledger.audit_for_run(report["run_id"]).sort_values("field")
    assert audit[["record_id", "field", "old_value", "new_value"]].to_dict("records") == [
        {"record_id": alan["id"], "field": "first_name", "old_value": "Alan M.", "new_value": "Alan"},
        {
            "record_id": ada["id"],
            "field": "phone",
            "old_value": ada["workPhone"]["display"],
            "new_value": "415-555-0199",
        },
    ]
    assert set(audit["system"]) == {"genesys"}
    assert sync_ledger.run(report["run_id"]).status == "success"


def test_bidirectional_genesys_phone_edit_reaches_the_crm(
    sims: RunningSimulators, sync_env: dict[str, str], sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    ids = sims.salesforce.load_contacts(PEOPLE[:2])
    assert run_job(dagster_instance)[0].success
    grace = genesys_by_crm_id(sims)[ids[1]]
    sims.genesys.edit_contact(grace["id"], {"workPhone": {"display": "+1 628 555 0177"}})
    edited = sims.genesys.contact(grace["id"])["workPhone"]["display"]

    result, report = run_job(dagster_instance, mode="bidirectional")
    assert result.success and report is not None
    assert report["updated"] == {"genesys": 0, "crm": 1} and report["errors"] == 0
    assert sims.salesforce.contact(ids[1])["Phone"] == edited
    assert sims.salesforce.contact(ids[0])["Phone"] == "(415) 555-0101"
    # The run's log tells the story a person reads on the Runs page: each read, the decision, each side's writes.
    lines = [e.user_message for e in dagster_instance.all_logs(result.run_id) if e.user_message]
    assert any(line.startswith("Salesforce: read ") and "(incremental)" in line for line in lines), lines
    assert any(line.startswith("Genesys: read ") for line in lines)
    assert any(line.startswith("decided 2 records of cohort all (bidirectional, full)") for line in lines)
    assert any(line.startswith("Salesforce: wrote 0 created, 1 updated") for line in lines)

    again, report = run_job(dagster_instance, mode="bidirectional")
    assert again.success and report is not None
    assert report["updated"] == {"genesys": 0, "crm": 0} and report["created"] == {"genesys": 0, "crm": 0}


def test_pilot_cohort_run_touches_only_its_contacts(
    sims: RunningSimulators, sync_env: dict[str, str], sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    from contact_sync.pipeline.cohorts import create_cohort
    from contact_sync.pipeline.services import open_services

    rows = [{"LastName": f"Pilot{i:02d}", "Email": f"p{i}@example.com"} for i in range(30)]
    sims.salesforce.load_contacts(rows)
    with open_services() as services:  # before any sync: the cohort is picked from the CRM itself
        cohort = create_cohort(services, "pilot-001", 10)
    members = sync_ledger.cohort_members("pilot-001")
    assert cohort.size == 10 and len(members) == 10

    result, report = run_job(dagster_instance, cohort="pilot-001")
    assert result.success and report is not None
    assert report["cohort"] == "pilot-001" and report["created"]["genesys"] == 10
    assert set(genesys_by_crm_id(sims)) == set(members)


def test_dry_run_computes_the_plan_and_writes_nothing(
    sims: RunningSimulators, sync_env: dict[str, str], sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    sims.salesforce.load_contacts(PEOPLE)
    result, report = run_job(dagster_instance, dry_run=True)
    assert result.success and report is not None
    assert report["created"] == {"genesys": 4, "crm": 0}  # what the run would do
    assert sims.genesys.count() == 0
    assert sync_ledger.recent_runs() == [] and sync_ledger.links().empty
    assert sync_ledger.watermark("salesforce_contacts") is None
    assert not Mirror(PipelineSettings.from_env().data_dir, "salesforce").exists()
    # Its report is its own asset's: never the latest sync_report, nor a point of the health view.
    latest = dagster_instance.get_latest_materialization_event
    assert latest(dg.AssetKey("sync_report")) is None and latest(dg.AssetKey("sync_health")) is None
    dry = latest(dg.AssetKey("sync_dry_run_report"))
    assert dry is not None and dry.run_id == result.run_id
    assert dry.asset_materialization.metadata["created_genesys"].value == 4  # type: ignore[union-attr]


def test_the_health_view_has_one_row_and_one_point_per_real_run(
    sims: RunningSimulators, sync_env: dict[str, str], sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    sims.salesforce.load_contacts(PEOPLE)
    first, _ = run_job(dagster_instance)
    assert run_job(dagster_instance, dry_run=True)[0].success
    second, report = run_job(dagster_instance)
    assert first.success and second.success and report is not None

    events = dagster_instance.fetch_materializations(dg.AssetKey("sync_health"), limit=10).records
    assert [e.run_id for e in events] == [second.run_id, first.run_id]  # newest first; the dry run is not a point
    metadata = events[0].asset_materialization.metadata  # type: ignore[union-attr]
    rows = metadata["runs"].value.records
    assert [r.data["run_id"] for r in rows] == [second.run_id, first.run_id]
    assert rows[1].data["created"] == 4 and rows[0].data["created"] == 0
    assert metadata["latest_run"].value == second.run_id and metadata["latest_created"].value == 0
    assert metadata["health_score"].value == round(sync_ledger.health_score() or 0, 1)
    assert metadata["health_threshold"].value == PipelineSettings.from_env().health_threshold
    [check] = [e for e in second.get_asset_check_evaluations() if e.check_name == "health_above_threshold"]
    assert check.passed
    # The first run's log says how far its writes went, batch by batch.
    lines = [e.user_message for e in dagster_instance.all_logs(first.run_id) if e.step_key == "genesys_writes"]
    assert "write Genesys: creates: 4 of 4 sent" in lines


def test_manual_conflict_is_held_once_then_the_decision_is_applied_and_marked(
    sims: RunningSimulators,
    sync_env: dict[str, str],
    sync_ledger: Ledger,
    dagster_instance: dg.DagsterInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = (Path(DEFAULT_POLICY_PATH).read_text()).replace(
        "conflict: last_write_wins\n    compare: phone", "conflict: manual\n    compare: phone"
    )
    (tmp_path / "policy.yaml").write_text(policy)
    monkeypatch.setenv("CONTACT_SYNC_POLICY", str(tmp_path / "policy.yaml"))
    [crm_id] = sims.salesforce.load_contacts([PEOPLE[0]])
    assert run_job(dagster_instance, mode="bidirectional")[0].success
    genesys_id = genesys_by_crm_id(sims)[crm_id]["id"]
    sims.genesys.edit_contact(genesys_id, {"workPhone": {"display": "628-555-0111"}})
    sims.salesforce.edit_contact(crm_id, Phone="415-555-0222")

    for _ in range(2):  # held, and found again without a second review item
        result, report = run_job(dagster_instance, mode="bidirectional")
        assert result.success and report is not None and report["conflicts"] == 1
        assert report["updated"] == {"genesys": 0, "crm": 0} and report["conflicts_held"] == 1
        event = dagster_instance.get_latest_materialization_event(dg.AssetKey("conflict_report"))
        assert event is not None and event.asset_materialization is not None
        preview = event.asset_materialization.metadata["preview"].value
        # The values a person compares come first, the long ids last, so a narrow page still shows them.
        assert [c.strip() for c in preview.splitlines()[0].split("|")[1:4]] == ["field", "crm_value", "genesys_value"]
        assert "415-555-0222" in preview
    [held] = sync_ledger.open_conflicts().to_dict("records")
    assert (held["field"], held["crm_value"]) == ("phone", "415-555-0222")
    genesys_phone = held["genesys_value"]

    sync_ledger.decide(int(held["id"]), "genesys", by="reviewer")
    result, report = run_job(dagster_instance, mode="bidirectional")
    assert result.success and report is not None and report["updated"] == {"genesys": 0, "crm": 1}
    assert sims.salesforce.contact(crm_id)["Phone"] == genesys_phone
    assert sync_ledger.conflict(int(held["id"])).status == "applied"
    assert len(sync_ledger.conflicts()) == 1
    audit = sync_ledger.audit_for_run(report["run_id"])
    assert audit[["system", "field", "reason"]].values.tolist() == [["salesforce", "phone", "decision"]]


@pytest.mark.parametrize("mode", ["one_way", "bidirectional"])
def test_a_sync_launched_without_a_partition_is_refused_before_any_call(
    sims: RunningSimulators, sync_env: dict[str, str], dagster_instance: dg.DagsterInstance, mode: str
) -> None:
    sims.salesforce.load_contacts([{"LastName": "Unpartitioned"}])
    before = sum(sims.salesforce.calls.values()) + sum(sims.genesys.calls.values())
    result = defs.resolve_job_def(f"sync_{mode}").execute_in_process(instance=dagster_instance, raise_on_error=False)
    assert not result.success
    message = failure_message(result) or ""
    assert "\n" not in message and f"sync_{mode} syncs one rollout cohort: launch it with a partition" in message
    assert '"dagster/partition": "all"' in message
    assert sum(sims.salesforce.calls.values()) + sum(sims.genesys.calls.values()) == before  # no API was called
    assert sims.genesys.count() == 0
