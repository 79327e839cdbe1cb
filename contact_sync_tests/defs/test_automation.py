"""Schedules, sensors and the instance configuration, evaluated on a test instance (no daemon)."""

import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from contact_sync.definitions import defs
from contact_sync.defs.sync.jobs import PAIR_TAG
from contact_sync.defs.sync.schedules import DEFAULT_RUNNING, SYNC_SCHEDULES
from contact_sync.defs.sync.sensors import (
    apply_conflict_decisions,
    apply_delete_decisions,
    apply_match_decisions,
    failure_backoff,
    rollout_cohort_partitions,
    sync_health,
    sync_run_failure_alert,
)
from contact_sync.ledger import Ledger

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO = defs.get_repository_def()


def test_schedules_cover_the_guide_frequencies_with_only_30_minutes_on(dagster_instance: dg.DagsterInstance) -> None:
    crons = {s.name: s.cron_schedule for s in SYNC_SCHEDULES}
    assert crons == {
        "sync_every_5_minutes": "*/5 * * * *",
        "sync_every_15_minutes": "*/15 * * * *",
        "sync_every_30_minutes": "*/30 * * * *",
        "sync_hourly": "0 * * * *",
        "sync_daily": "0 2 * * *",
    }
    running = {s.name for s in SYNC_SCHEDULES if s.default_status == dg.DefaultScheduleStatus.RUNNING}
    assert running == {DEFAULT_RUNNING}
    schedule = next(s for s in SYNC_SCHEDULES if s.name == DEFAULT_RUNNING)
    assert schedule.job_name == "sync_one_way"
    [request] = (
        schedule.evaluate_tick(dg.build_schedule_context(instance=dagster_instance, repository_def=REPO)).run_requests
        or []
    )
    assert request.partition_key == "all"


def test_schedule_skips_a_cohort_that_does_not_exist(
    monkeypatch: pytest.MonkeyPatch, dagster_instance: dg.DagsterInstance
) -> None:
    import importlib

    import contact_sync.defs.sync.schedules as schedules

    monkeypatch.setenv("CONTACT_SYNC_COHORT", "pilot-404")
    monkeypatch.setenv("CONTACT_SYNC_MODE", "bidirectional")
    fresh = importlib.reload(schedules)
    try:
        schedule = next(s for s in fresh.SYNC_SCHEDULES if s.name == DEFAULT_RUNNING)
        assert schedule.job_name == "sync_bidirectional"
        data = schedule.evaluate_tick(dg.build_schedule_context(instance=dagster_instance, repository_def=REPO))
        assert not data.run_requests and "pilot-404" in (data.skip_message or "")
        dagster_instance.add_dynamic_partitions("rollout_cohort", ["pilot-404"])
        data = schedule.evaluate_tick(dg.build_schedule_context(instance=dagster_instance, repository_def=REPO))
        assert [r.partition_key for r in data.run_requests or []] == ["pilot-404"]
    finally:
        monkeypatch.undo()
        importlib.reload(schedules)


def test_a_bad_schedule_setting_loads_and_each_tick_says_which_variable(
    monkeypatch: pytest.MonkeyPatch, dagster_instance: dg.DagsterInstance
) -> None:
    import importlib

    import contact_sync.defs.sync.schedules as schedules

    monkeypatch.setenv("CONTACT_SYNC_MODE", "sideways")
    fresh = importlib.reload(schedules)
    try:
        schedule = next(s for s in fresh.SYNC_SCHEDULES if s.name == DEFAULT_RUNNING)
        data = schedule.evaluate_tick(dg.build_schedule_context(instance=dagster_instance, repository_def=REPO))
        assert not data.run_requests and "CONTACT_SYNC_MODE must be one of" in (data.skip_message or "")
    finally:
        monkeypatch.undo()
        importlib.reload(schedules)


def test_decisions_sensor_requests_one_run_per_new_batch_of_decisions(
    sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    context = dg.build_sensor_context(repository_def=REPO, instance=dagster_instance)
    assert apply_conflict_decisions(context).__class__ is dg.SkipReason
    [conflict_id] = sync_ledger.add_conflicts(
        __import__("pandas").DataFrame(
            [
                {"crm_id": "003000000000001AAA", "genesys_id": "g-1", "field": "phone", "base": "1",
                 "crm_value": "2", "genesys_value": "3", "policy": "manual", "winner": None}
            ]
        )
    )  # fmt: skip
    sync_ledger.decide(conflict_id, "genesys", by="test")
    result = apply_conflict_decisions(dg.build_sensor_context(repository_def=REPO, instance=dagster_instance))
    assert isinstance(result, dg.SensorResult)
    [request] = result.run_requests or []
    assert request.partition_key == "all" and str(conflict_id) in request.tags["contact_sync/decisions"]
    again = apply_conflict_decisions(
        dg.build_sensor_context(repository_def=REPO, instance=dagster_instance, cursor=result.cursor)
    )
    assert isinstance(again, dg.SkipReason)


def test_match_decisions_sensor_requests_a_run_of_all_contacts_when_pairs_are_accepted(
    sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    import pandas as pd

    context = dg.build_sensor_context(repository_def=REPO, instance=dagster_instance)
    assert isinstance(apply_match_decisions(context), dg.SkipReason)
    pair = {"rule": "phone", "score": 0.5, "evidence": "email missing, phone equal -> 0.500", "reason": "below",
            "crm_record": {"first_name": "Ann"}, "genesys_record": {}}  # fmt: skip
    accepted, rejected = sync_ledger.add_match_reviews(
        pd.DataFrame(
            [{"crm_id": "003A", "genesys_id": "g-1", **pair}, {"crm_id": "003B", "genesys_id": "g-2", **pair}]
        ),
        "salesforce",
    )
    sync_ledger.decide_match(rejected, "reject", by="test")
    assert isinstance(apply_match_decisions(context), dg.SkipReason)  # a rejection needs no run
    sync_ledger.decide_match(accepted, "accept", by="test")
    result = apply_match_decisions(dg.build_sensor_context(repository_def=REPO, instance=dagster_instance))
    assert isinstance(result, dg.SensorResult)
    [request] = result.run_requests or []
    assert request.partition_key == "all" and request.job_name == "sync_one_way"
    assert request.tags["contact_sync/match_decisions"] == str(accepted)
    again = apply_match_decisions(
        dg.build_sensor_context(repository_def=REPO, instance=dagster_instance, cursor=result.cursor)
    )
    assert isinstance(again, dg.SkipReason)


def test_delete_decisions_sensor_requests_a_run_when_held_deletes_are_approved(
    sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    import pandas as pd

    context = dg.build_sensor_context(repository_def=REPO, instance=dagster_instance)
    assert isinstance(apply_delete_decisions(context), dg.SkipReason)
    held = pd.DataFrame({"crm_id": ["003A", "003B"], "genesys_id": ["g-1", "g-2"], "action": "unlink", "reason": "x"})
    approved, rejected = sync_ledger.add_delete_reviews(held, "salesforce")
    sync_ledger.decide_delete(rejected, "reject", by="test")
    assert isinstance(apply_delete_decisions(context), dg.SkipReason)  # a rejection needs no run
    sync_ledger.decide_delete(approved, "approve", by="test")
    result = apply_delete_decisions(dg.build_sensor_context(repository_def=REPO, instance=dagster_instance))
    assert isinstance(result, dg.SensorResult)
    [request] = result.run_requests or []
    assert request.partition_key == "all" and request.tags["contact_sync/delete_decisions"] == str(approved)
    again = apply_delete_decisions(
        dg.build_sensor_context(repository_def=REPO, instance=dagster_instance, cursor=result.cursor)
    )
    assert isinstance(again, dg.SkipReason)


def test_health_sensor_alerts_once_per_finished_run_below_the_threshold(
    sync_ledger: Ledger, dagster_instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTACT_SYNC_HEALTH_THRESHOLD", "90")
    sync_ledger.start_run("r-1", "one_way", "all")
    sync_ledger.finish_run("r-1", "success", counts={"errors": 4}, duration_s=12.0)  # 100 - 20 - 12 / 6 = 78
    context = dg.build_sensor_context(repository_def=REPO, instance=dagster_instance)
    sync_health(context)
    [alert] = sync_ledger.recent_alerts()
    assert alert.kind == "low_health" and "78.0" in alert.message
    sync_health(dg.build_sensor_context(repository_def=REPO, instance=dagster_instance, cursor=context.cursor))
    assert len(sync_ledger.recent_alerts()) == 1


def test_failure_sensor_closes_the_run_and_alerts(sync_ledger: Ledger, dagster_instance: dg.DagsterInstance) -> None:
    @dg.op
    def explode() -> None:
        raise RuntimeError("Genesys is down")

    @dg.job(name="sync_one_way")
    def failing() -> None:
        explode()

    result = failing.execute_in_process(instance=dagster_instance, raise_on_error=False)
    sync_ledger.start_run(result.run_id, "one_way", "all")
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    context = dg.build_run_status_sensor_context(
        sensor_name="sync_run_failure_alert",
        dagster_event=failure,
        dagster_instance=dagster_instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()
    sync_run_failure_alert(context)
    assert sync_ledger.run(result.run_id).status == "failure"
    [alert] = sync_ledger.recent_alerts()
    assert alert.kind == "run_failed" and alert.run_id == result.run_id


def test_instance_config_queues_a_second_run_of_the_same_pair(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert {"key": PAIR_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    workspace = (REPO_ROOT / "workspace.yaml").read_text()
    assert "contact_sync.definitions" in workspace


def test_the_change_sensor_waits_twice_as_long_after_each_failed_run_in_a_row(
    dagster_instance: dg.DagsterInstance,
) -> None:
    def finished(status: dg.DagsterRunStatus, job: str = "sync_bidirectional") -> None:
        dagster_instance.add_run(dg.DagsterRun(job_name=job, run_id=str(uuid.uuid4()), status=status))

    now = time.time()
    assert failure_backoff(dagster_instance, 45, now) is None
    finished(dg.DagsterRunStatus.FAILURE)
    finished(dg.DagsterRunStatus.FAILURE, job="rollback")  # not a sync: neither counts nor ends the series
    one = failure_backoff(dagster_instance, 45, now)
    assert one is not None and one.startswith("the last 1 sync run(s) failed")
    assert failure_backoff(dagster_instance, 45, now + 91) is None  # two intervals after one failure
    finished(dg.DagsterRunStatus.FAILURE)
    finished(dg.DagsterRunStatus.CANCELED)  # someone stopped a run: not a failure, and not a success either
    assert "the last 2 sync run(s) failed" in (failure_backoff(dagster_instance, 45, now + 91) or "")
    assert failure_backoff(dagster_instance, 45, now + 181) is None
    for _ in range(10):
        finished(dg.DagsterRunStatus.FAILURE)
    assert failure_backoff(dagster_instance, 45, now + 3500) is not None
    assert failure_backoff(dagster_instance, 45, now + 3601) is None  # at most an hour
    finished(dg.DagsterRunStatus.SUCCESS)
    assert failure_backoff(dagster_instance, 45, now) is None


def test_cohorts_in_the_ledger_become_partitions(sync_ledger: Ledger, dagster_instance: dg.DagsterInstance) -> None:
    sync_ledger.create_cohort("pilot-001", ["003000000000001AAA"])
    result = rollout_cohort_partitions(dg.build_sensor_context(repository_def=REPO, instance=dagster_instance))
    assert isinstance(result, dg.SensorResult)
    [request] = result.dynamic_partitions_requests or []
    assert list(request.partition_keys) == ["pilot-001"]
