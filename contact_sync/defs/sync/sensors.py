"""Sensors: alert on failed sync runs, watch the health score, apply the conflict and match decisions people made,
and (when switched on) sync as soon as either side changed.

They read the ledger named by the environment (CONTACT_SYNC_DATABASE_URL, default SQLite in the data folder)."""

import time
from typing import Final

import dagster as dg
import pandas as pd

from contact_sync.connectors.http import ConnectorError
from contact_sync.defs.sync.jobs import SYNC_JOBS, error_line
from contact_sync.defs.sync.partitions import COHORT_PARTITIONS_NAME, ensure_cohort_partition, rollout_cohort
from contact_sync.defs.sync.schedules import configured_mode_and_cohort, configured_schedule
from contact_sync.ledger import Ledger, LedgerError
from contact_sync.pipeline import alerts
from contact_sync.pipeline.change_probe import PROBE_SERVICES, probe_changes
from contact_sync.pipeline.config import ALL_COHORT, DEFAULT_CHANGE_PROBE_S, SYNC_JOB_NAMES, PipelineSettings
from contact_sync.pipeline.locks import holder_is_gone, pair_name
from contact_sync.pipeline.runs import fail_run
from contact_sync.settings import SettingsError
from contact_sync.sync.policy import PolicyError

HEALTH_INTERVAL_S: Final = 300
DECISIONS_INTERVAL_S: Final = 60


@dg.run_failure_sensor(
    name="sync_run_failure_alert",
    monitored_jobs=list(SYNC_JOBS.values()),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A sync run failed: close its run history as failed and alert (log, ledger, webhook).",
)
def sync_run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    settings = PipelineSettings.from_env()
    run = context.dagster_run
    error = getattr(context.failure_event.event_specific_data, "error", None)
    message = error_line(error) if error is not None else (context.failure_event.message or "run failed")
    where = f"sync run {run.run_id} ({run.job_name}, cohort {run.tags.get('dagster/partition', '?')})"
    with Ledger.opened(settings.database_url) as ledger:
        fail_run(ledger, pair_name(), run.run_id, where, message, settings.alert_webhook, context.log)


@dg.sensor(
    name="sync_health",
    minimum_interval_seconds=HEALTH_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts once per newly finished run while the health score (last 10 runs) is below the threshold.",
)
def sync_health(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    settings = PipelineSettings.from_env()
    with Ledger.opened(settings.database_url) as ledger:
        finished = [r for r in ledger.recent_runs(10) if r.status in ("success", "failure") and not r.dry_run]
        if not finished:
            return dg.SkipReason("no finished sync run yet")
        latest = finished[0].run_id
        if context.cursor == latest:
            return dg.SkipReason(f"run {latest} already evaluated")
        context.update_cursor(latest)
        score = ledger.health_score()
        alert = alerts.health_alert(score, settings.health_threshold, latest)
        if alert is None:
            return dg.SkipReason(f"health score {score:.1f} is at or above {settings.health_threshold:g}")
        alerts.send_alerts([alert], ledger, settings.alert_webhook, logger=context.log)
        return dg.SkipReason(f"alerted: {alert.message}")


@dg.sensor(
    name="apply_conflict_decisions",
    minimum_interval_seconds=DECISIONS_INTERVAL_S,
    job=SYNC_JOBS["bidirectional"],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a bidirectional run of the cohort holding conflicts people decided since the last tick.",
)
def apply_conflict_decisions(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    settings = PipelineSettings.from_env()
    with Ledger.opened(settings.database_url) as ledger:
        pending = ledger.pending_decisions()
        if context.cursor:
            pending = pending[pending["decided_at"] > pd.Timestamp(context.cursor)]
        if pending.empty:
            return dg.SkipReason("no new conflict decisions")
        _, cohort = configured_mode_and_cohort()
        if cohort != ALL_COHORT:
            try:
                members = set(ledger.cohort_members(cohort))
            except LedgerError:
                members = set()
            if not set(pending["crm_id"].astype(str)) <= members:
                cohort = ALL_COHORT
    ensure_cohort_partition(context.instance, ALL_COHORT)
    newest = pending["decided_at"].max().isoformat()
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"decisions-{newest}",
                partition_key=cohort,
                tags={"contact_sync/decisions": ",".join(str(i) for i in pending["id"].head(50))},
            )
        ],
        cursor=newest,
    )


@dg.sensor(
    name="apply_match_decisions",
    minimum_interval_seconds=DECISIONS_INTERVAL_S,
    jobs=list(SYNC_JOBS.values()),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a run of all contacts (in the configured mode) when pairs were accepted in the match "
    "review queue since the last tick, so they are linked.",
)
def apply_match_decisions(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    with Ledger.opened(PipelineSettings.from_env().database_url) as ledger:
        accepted = ledger.match_reviews(status="accepted")
    return _run_for_decisions(context, accepted, "matches", "match_decisions", "no newly accepted match pairs")


@dg.sensor(
    name="apply_delete_decisions",
    minimum_interval_seconds=DECISIONS_INTERVAL_S,
    jobs=list(SYNC_JOBS.values()),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a run of all contacts (in the configured mode) when deletes/unlinks held by the "
    "mass-delete guard were approved in the delete review queue since the last tick, so they are carried out.",
)
def apply_delete_decisions(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    with Ledger.opened(PipelineSettings.from_env().database_url) as ledger:
        approved = ledger.delete_reviews(status="approved")
    return _run_for_decisions(context, approved, "deletes", "delete_decisions", "no newly approved deletes")


def _run_for_decisions(
    context: dg.SensorEvaluationContext, decided: pd.DataFrame, what: str, tag: str, nothing: str
) -> dg.SensorResult | dg.SkipReason:
    """One run of all contacts in the configured mode for review-queue answers decided after the cursor."""
    if context.cursor:
        decided = decided[decided["decided_at"] > pd.Timestamp(context.cursor)]
    if decided.empty:
        return dg.SkipReason(nothing)
    mode, _ = configured_mode_and_cohort()
    ensure_cohort_partition(context.instance, ALL_COHORT)
    newest = decided["decided_at"].max().isoformat()
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"{what}-{newest}",
                job_name=SYNC_JOBS[mode].name,
                partition_key=ALL_COHORT,
                tags={f"contact_sync/{tag}": ",".join(str(i) for i in decided["id"].head(50))},
            )
        ],
        cursor=newest,
    )


@dg.sensor(
    name="rollout_cohort_partitions",
    minimum_interval_seconds=DECISIONS_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description='Adds every cohort stored in the ledger (and "all") to the rollout_cohort partitions.',
)
def rollout_cohort_partitions(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    with Ledger.opened(PipelineSettings.from_env().database_url) as ledger:
        names = [ALL_COHORT, *(c.name for c in ledger.cohorts())]
    known = set(context.instance.get_dynamic_partitions(COHORT_PARTITIONS_NAME))
    missing = [name for name in names if name not in known]
    if not missing:
        return dg.SkipReason("every cohort is a partition")
    return dg.SensorResult(dynamic_partitions_requests=[rollout_cohort.build_add_request(missing)])


ACTIVE_RUN_STATUSES: Final = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


FINISHED_RUN_STATUSES: Final = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]
MAX_FAILURE_BACKOFF_S: Final = 3600.0


def _change_probe_interval() -> float:
    try:
        return PipelineSettings.from_env().change_probe_s
    except SettingsError:
        return DEFAULT_CHANGE_PROBE_S  # each tick then says which variable is wrong


def _active_sync_run(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    runs = instance.get_runs(dg.RunsFilter(statuses=ACTIVE_RUN_STATUSES), limit=100)
    return next((run for run in runs if run.job_name in SYNC_JOB_NAMES), None)


def failure_backoff(instance: dg.DagsterInstance, interval_s: float, now: float | None = None) -> str | None:
    """Why no run may be requested yet after failed sync runs, or None. The wait doubles with each failure in a row
    (two probe intervals after one, four after two, ... at most an hour), so a sync that keeps failing is retried
    ever more rarely instead of launched, failed and alerted on every tick. A canceled run neither counts nor ends the
    series; a successful one ends it."""
    failed: list[dg.RunRecord] = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=FINISHED_RUN_STATUSES), limit=100):
        run = record.dagster_run
        if run.job_name not in SYNC_JOB_NAMES or run.status == dg.DagsterRunStatus.CANCELED:
            continue
        if run.status == dg.DagsterRunStatus.SUCCESS:
            break
        failed.append(record)
    if not failed:
        return None
    latest = failed[0]
    ended = latest.end_time if latest.end_time is not None else latest.update_timestamp.timestamp()
    wait = min(interval_s * 2 ** len(failed), MAX_FAILURE_BACKOFF_S)
    left = ended + wait - (time.time() if now is None else now)
    if left <= 0:
        return None
    return (
        f"the last {len(failed)} sync run(s) failed (latest {latest.dagster_run.run_id}): the next one is requested "
        f"no sooner than {left:.0f} s from now (the wait doubles with each failure, at most 1 h)"
    )


CHANGE_PROBE_S: Final = _change_probe_interval()


@dg.sensor(
    name="sync_on_change",
    minimum_interval_seconds=int(CHANGE_PROBE_S),
    jobs=list(SYNC_JOBS.values()),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=f"Every {CHANGE_PROBE_S:g} s (CONTACT_SYNC_CHANGE_PROBE_S) asks the CRM, then Genesys, whether a "
    "contact changed since the last sync (one cheap call each, no record read) and requests a run of the configured "
    "cohort and mode when one did, never while a sync of the pair runs: a change made during a run is found by the "
    "next tick. A run that wrote is followed by one more that finds nothing to do. After failed runs it waits twice "
    "as long each time (at most an hour). Each tick logs its API calls.",
)
def sync_on_change(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    mode, cohort, error = configured_schedule()
    if error is not None:
        return dg.SkipReason(f"not run: {error}")
    if cohort != ALL_COHORT and not context.instance.has_dynamic_partition(COHORT_PARTITIONS_NAME, cohort):
        return dg.SkipReason(f"cohort {cohort!r} does not exist; create it with `contact-sync cohort create`")
    active = _active_sync_run(context.instance)
    if active is not None:
        return dg.SkipReason(
            f"sync run {active.run_id} ({active.job_name}) is {active.status.value}: changes made meanwhile are "
            "found by the first tick after it"
        )
    try:
        settings = PipelineSettings.from_env()
        services = PROBE_SERVICES.get(settings)
    except (SettingsError, PolicyError, ConnectorError) as exc:
        return dg.SkipReason(f"not run: {exc}")
    waiting = failure_backoff(context.instance, settings.change_probe_s)
    if waiting is not None:
        return dg.SkipReason(waiting)
    instance = context.instance

    def run_is_over(run_id: str) -> bool:
        run = instance.get_run_by_id(run_id)
        return run is not None and run.is_finished

    lock = services.ledger.lock(pair_name())
    if lock is not None and not holder_is_gone(lock, run_is_over):
        return dg.SkipReason(f"run {lock['run_id']} ({lock['owner']}) holds the {pair_name()} run lock")
    probe = probe_changes(services)
    if probe.errors:
        PROBE_SERVICES.close()
    if probe.not_probed is not None:
        return dg.SkipReason(probe.not_probed)
    calls = sorted(probe.api_calls.items(), key=lambda item: item[0] == "genesys")  # the CRM, then Genesys
    per_system = ", ".join(f"{system} {count}" for system, count in calls) or "none"
    cost = (
        f"{probe.total_calls} API calls ({per_system}): about {probe.total_calls * 60 / settings.change_probe_s:.1f} "
        f"per idle minute at one probe every {settings.change_probe_s:g} s"
    )
    context.log.info(f"change probe: {cost}")
    for problem in probe.errors:
        context.log.warning(problem)
    if not probe.run_due:
        problems = f"; {'; '.join(probe.errors)}" if probe.errors else ""
        return dg.SkipReason(f"no change since the last sync; {cost}{problems}")
    ensure_cohort_partition(context.instance, cohort)
    return dg.RunRequest(
        job_name=SYNC_JOBS[mode].name,
        partition_key=cohort,
        tags={"contact_sync/trigger": "change", "contact_sync/change": "; ".join(probe.reasons)[:250]},
    )


SYNC_SENSORS: Final = [
    sync_run_failure_alert,
    sync_health,
    apply_conflict_decisions,
    apply_match_decisions,
    apply_delete_decisions,
    rollout_cohort_partitions,
    sync_on_change,
]
