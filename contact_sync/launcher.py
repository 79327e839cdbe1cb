"""Run the sync jobs in process through Dagster, against the instance in `DAGSTER_HOME` (or the project's
`<data dir>/dagster_home` when unset), so every run started outside the UI also shows there with its lineage: the API
the command line and the demo share.

`run_sync` returns the run id, its status and the run report (the object `contact-sync sync --json` prints);
`open_instance` and `open_ledger` open what a run records into. While a run executes, each step's start, the last
line it logs and its end are reported to `contact_sync.pipeline.progress` (what `contact-sync sync` shows as progress),
taken from the run's Dagster events as the instance stores them. Whatever stops a run before it starts (a bad setting,
an unknown cohort, an unusable instance or ledger, a sync of the pair already in progress) is a one-line
`LaunchError`; a run that fails returns status "failure", closed in the ledger and alerted.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, get_args

import dagster as dg

from contact_sync.defs.sync.assets import MODE_TAG
from contact_sync.defs.sync.jobs import PAIR_TAG, error_line, job_name, pair_name
from contact_sync.defs.sync.partitions import ensure_cohort_partition
from contact_sync.ledger import Ledger, LedgerError
from contact_sync.pipeline import runs
from contact_sync.pipeline.config import ALL_COHORT, PipelineSettings
from contact_sync.pipeline.locks import process_is_gone, this_process
from contact_sync.pipeline.progress import SIDE_LABELS, ProgressCallback, ProgressEvent, installed
from contact_sync.pipeline.services import check_configuration
from contact_sync.settings import SettingsError
from contact_sync.sync.plan import SyncPlan
from contact_sync.sync.policy import Mode, PolicyError

DEFAULT_HOME_NAME: Final = "dagster_home"
REPO_DAGSTER_YAML: Final = Path(__file__).resolve().parents[2] / "dagster.yaml"
FALLBACK_DAGSTER_YAML: Final = (
    "# Dagster instance of the contact-sync command (SQLite storage in this folder).\ntelemetry:\n  enabled: false\n"
)
ACTIVE_STATUSES: Final = (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED)
LAUNCH_TAG: Final = "contact_sync/launched_by"
OWNER_TAG: Final = "contact_sync/owner"
"""host:pid of the process a command-line run executes in, so the next command can tell that it died."""
DRY_RUN_TAG: Final = "contact_sync/dry_run"
COUNT_KEYS: Final = ("created", "updated", "deleted")
_QUIET: Final = logging.getLogger("contact_sync.cli.quiet")
"""Alerts the command shows itself (in its report) are not logged a second time."""
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False
PROGRESS_STEPS: Final[Mapping[str, tuple[str, str | None, int, int]]] = {
    # Dagster step: (progress step, side, which part of that step it is, how many parts it has)
    "crm_contacts": ("read", "crm", 1, 1),
    "genesys_contacts": ("read", "genesys", 1, 1),
    "contact_matches": ("decide", None, 1, 2),
    "reconciliation": ("decide", None, 2, 2),
    "genesys_writes": ("write", "genesys", 1, 1),
    "crm_writes": ("write", "crm", 1, 1),
    "sync_report": ("report", None, 1, 1),
}
"""The sync jobs' steps a person follows; the others (checks, conflict_report, health) take no time worth showing."""


class LaunchError(Exception):
    """Why a sync could not start (or a command could not open the instance or ledger), in one line."""


@dataclass
class SyncOutcome:
    """What one run did: its Dagster run id, "success" or "failure", and the run report."""

    run_id: str
    status: str
    report: dict[str, Any]
    """The `contact-sync sync --json` object (on failure: what the steps that finished did, plus "error")."""
    dry_run: bool = False
    plan: SyncPlan | None = None
    """The cohort's plan (the reconciliation step's output), when that step ran."""
    error: str | None = None
    """One line saying why the run failed."""
    dagster_home: Path | None = None
    """The folder of the Dagster instance holding the run (None for an in-memory instance)."""
    health_score: float | None = None
    simulated: bool = False
    """True when the run went to the built-in simulators (no credentials set)."""
    alerts: list[str] = field(default_factory=list)
    """The alerts the run raised ("kind: message")."""

    @property
    def succeeded(self) -> bool:
        return self.status == "success"


def settings_from_env() -> PipelineSettings:
    """The pipeline settings, or a one-line `LaunchError` naming the bad variable."""
    try:
        return PipelineSettings.from_env()
    except SettingsError as exc:
        raise LaunchError(str(exc)) from None


def dagster_home(settings: PipelineSettings | None = None) -> Path:
    """`DAGSTER_HOME` when set (made absolute and created), else `<data dir>/dagster_home`; a home without a
    `dagster.yaml` gets the repository's (its run queue limits then apply to every run), or a minimal SQLite one
    when the package is installed without the repository."""
    configured = (os.environ.get("DAGSTER_HOME") or "").strip()
    if configured:
        home = Path(configured).expanduser().resolve()
    else:
        home = ((settings or settings_from_env()).data_dir / DEFAULT_HOME_NAME).resolve()
    try:
        home.mkdir(parents=True, exist_ok=True)
        config = home / "dagster.yaml"
        if not config.exists():
            staged = home / f".dagster.yaml.{os.getpid()}"
            if REPO_DAGSTER_YAML.is_file():
                shutil.copyfile(REPO_DAGSTER_YAML, staged)
            else:
                staged.write_text(FALLBACK_DAGSTER_YAML)
            staged.replace(config)  # atomic: a concurrent command never reads half a file
    except OSError as exc:
        raise LaunchError(f"Dagster home {home} is not usable: {exc.strerror or exc}") from None
    return home


@contextmanager
def _home_lock(home: Path) -> Iterator[None]:
    """An exclusive lock on the Dagster home while its storage is created or migrated: two first commands at the
    same moment would otherwise both run Dagster's migrations and leave two Alembic heads."""
    with (home / ".contact-sync-instance.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def open_instance(settings: PipelineSettings | None = None) -> Iterator[dg.DagsterInstance]:
    """The Dagster instance of `dagster_home()`; a broken `dagster.yaml` is a one-line error."""
    home = dagster_home(settings)
    try:
        with _home_lock(home):
            instance = dg.DagsterInstance.from_config(str(home))
            # Create (or migrate) the run, event log and schedule storages now, under the lock.
            instance.get_runs(limit=1)
            instance.get_latest_materialization_event(dg.AssetKey("contact_matches"))
            instance.all_instigator_state()
    except Exception as exc:  # Dagster raises several config error types; all mean the same to the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LaunchError(f"cannot open the Dagster instance in {home}: {first}") from None
    try:
        yield instance
    finally:
        instance.dispose()


@contextmanager
def open_ledger(settings: PipelineSettings | None = None) -> Iterator[Ledger]:
    """The ledger the pipeline uses (migrated); an unreachable database is a one-line error."""
    settings = settings or settings_from_env()
    with ExitStack() as stack:
        try:
            ledger = stack.enter_context(Ledger.opened(settings.database_url))
        except LedgerError as exc:
            raise LaunchError(f"the ledger is not reachable: {exc}") from None
        except OSError as exc:
            raise LaunchError(
                f"the ledger's folder cannot be created (CONTACT_SYNC_DATABASE_URL): {exc.strerror or exc}"
            ) from None
        yield ledger


def check_cohort(ledger: Ledger, cohort: str) -> None:
    """Refuse an unknown cohort with the names that exist."""
    if cohort == ALL_COHORT:
        return
    try:
        ledger.cohort(cohort)
    except LedgerError:
        known = [ALL_COHORT, *(c.name for c in ledger.cohorts())]
        raise LaunchError(
            f"no cohort named {cohort!r} (known: {', '.join(known)}); create one with "
            f"`contact-sync cohort create {cohort} --size N`"
        ) from None


def refuse_overlap(instance: dg.DagsterInstance, pair: str, settings: PipelineSettings) -> None:
    """One sync per CRM/Genesys pair at a time: refuse while the instance has one in progress. A run marked in
    progress whose process is gone (killed, crashed, the machine rebooted) is closed as failed first, with a
    run_failed alert, and no longer counts. (The pair's lock in the ledger makes the rule hold for runs started
    at the same moment too; see `contact_sync.pipeline.locks`.)"""
    active = instance.get_runs(filters=dg.RunsFilter(statuses=list(ACTIVE_STATUSES), tags={PAIR_TAG: pair}))
    lock = None
    if active:
        with open_ledger(settings) as ledger:
            lock = ledger.lock(pair)
    for run in active:
        # Runs the CLI started carry their process; others (UI, schedule) are known by the lock they hold.
        owner = run.tags.get(OWNER_TAG) or (str(lock["owner"]) if lock and lock["run_id"] == run.run_id else None)
        if owner is None or not process_is_gone(owner):
            raise LaunchError(
                f"another sync of {pair} is in progress (run {run.run_id}, {run.status.value}); wait for it to "
                "finish, or terminate it in the Dagster UI if its process is gone"
            )
        _heal(instance, run, pair, settings, owner)


def _heal(instance: dg.DagsterInstance, run: dg.DagsterRun, pair: str, settings: PipelineSettings, owner: str) -> None:
    """Close a run whose process is gone: failed in Dagster and in the ledger, its lock given back, an alert."""
    error = f"its process {owner} is gone (killed or crashed); closed by the next sync"
    instance.report_run_failed(run, error)
    mode = (run.tags.get(MODE_TAG) or run.job_name.removeprefix("sync_")).strip()
    cohort = run.tags.get("dagster/partition", ALL_COHORT)
    report = {"run_id": run.run_id, "mode": mode, "cohort": cohort, "status": "failure", "duration_s": 0.0,
              "api_calls": {}, **dict.fromkeys(("unlinked", "skipped", "errors", "conflicts"), 0),
              **{key: {"genesys": 0, "crm": 0} for key in COUNT_KEYS}}  # fmt: skip
    _fail(settings, pair, report, error, record=run.tags.get(DRY_RUN_TAG) != "true")


def run_sync(
    mode: Mode | None = None,
    cohort: str | None = None,
    *,
    dry_run: bool = False,
    full: bool = False,
    instance: dg.DagsterInstance | None = None,
    log_level: str = "CRITICAL",
    tags: Mapping[str, str] | None = None,
) -> SyncOutcome:
    """Run the sync job of `mode` (default CONTACT_SYNC_MODE) for `cohort` (default CONTACT_SYNC_COHORT) in process,
    recorded in `instance` (default: `open_instance()`). Bad arguments, an unknown cohort, an unusable ledger or a
    sync already in progress raise `LaunchError`; a run that fails returns status "failure" (and, unless it
    was a dry run, closes the run in the ledger and sends the run_failed alert). `full` decides every record of the
    cohort, not only those that can have changed since its last run."""
    settings = settings_from_env()
    try:
        check_configuration()
    except (SettingsError, PolicyError) as exc:
        raise LaunchError(str(exc)) from None
    mode = mode or settings.mode
    cohort = cohort or settings.cohort
    if mode not in get_args(Mode):
        raise LaunchError(f"mode must be one of {', '.join(get_args(Mode))}, got {mode!r}")
    with open_ledger(settings) as ledger:
        check_cohort(ledger, cohort)
    if instance is None:
        with open_instance(settings) as opened:
            return _execute(opened, settings, mode, cohort, dry_run, log_level, tags, full)
    return _execute(instance, settings, mode, cohort, dry_run, log_level, tags, full)


def _execute(
    instance: dg.DagsterInstance,
    settings: PipelineSettings,
    mode: str,
    cohort: str,
    dry_run: bool,
    log_level: str,
    tags: Mapping[str, str] | None,
    full: bool = False,
) -> SyncOutcome:
    with warnings.catch_warnings():
        # Dagster's notice that partitioned asset checks are a preview feature is nothing a user can act on.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        from contact_sync.definitions import defs

    refuse_overlap(instance, pair_name(), settings)
    ensure_cohort_partition(instance, cohort)
    started = time.monotonic()
    result = _execute_job(instance, defs, mode, cohort, dry_run, log_level, tags, full)
    elapsed = time.monotonic() - started
    plan = _output(result, "reconciliation")
    report = _report(result)
    error: str | None = None
    if result.success and report is not None:
        extra: dict[str, Any] = {
            "health_score": _health(result),
            "simulated": bool(_materialization_metadata(result, "sync_report").get("simulated_services")),
        }
    else:
        error = failure_message(result) or "the run did not produce its report"
        report = _partial_report(result, mode, cohort, plan, elapsed, error)
        _fail(settings, pair_name(), report, error, record=not dry_run)
        extra = {"error": error}
    return SyncOutcome(
        alerts=[] if dry_run else _run_alerts(settings, result.run_id),
        run_id=result.run_id,
        status="failure" if error else "success",
        report={**report, "dry_run": dry_run},
        dry_run=dry_run,
        plan=plan,
        dagster_home=Path(instance.root_directory) if instance.is_persistent else None,
        **extra,
    )


class _StepProgress:
    """Reports a run's steps (`PROGRESS_STEPS`) to `target` from its Dagster events: a step's start, each INFO line
    it logs, and its success with the last of those lines (what it read, decided or wrote).

    Listening to the instance is the one way Dagster offers to see an in-process run's events as they happen
    (`execute_in_process` returns them only at the end; hooks and loggers would have to be part of the job): the
    instance calls the listener each time it stores one of the run's events, in the thread running the step. The
    target is the callback installed when the run started, called directly: a step may install its own meanwhile
    (to log its batches), and a report sent to that one would be logged again, and heard again, here."""

    def __init__(self, target: ProgressCallback) -> None:
        self.target = target
        self.said: dict[str, str] = {}

    def __call__(self, entry: dg.EventLogEntry) -> None:
        if entry.step_key not in PROGRESS_STEPS:
            return
        step, side, part, parts = PROGRESS_STEPS[entry.step_key]
        event = entry.dagster_event
        try:
            if event is None:  # a line the step logged
                if entry.level >= logging.INFO and entry.user_message:
                    self.said[entry.step_key] = _without_label(entry.user_message.strip().splitlines()[0], step, side)
                    self.target(ProgressEvent(step, side, part - 1, parts, self.said[entry.step_key]))
            elif event.event_type == dg.DagsterEventType.STEP_START:
                self.target(ProgressEvent(step, side, part - 1, parts))
            elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
                self.target(ProgressEvent(step, side, part, parts, self.said.get(entry.step_key, "")))
        except Exception:  # showing progress must never fail the run it shows
            logging.getLogger(__name__).debug("progress display failed", exc_info=True)


def _without_label(line: str, step: str, side: str | None) -> str:
    """A step's log line without the label the progress display puts before it anyway ("Genesys: read 206 records"
    and "write Genesys: updates: 400 of 1,200 sent" would read "read Genesys: Genesys: read 206 records"...)."""
    for label in (ProgressEvent(step, side, 0, None).label, SIDE_LABELS.get(side or "")):
        if label and line.startswith(f"{label}: "):
            return line.removeprefix(f"{label}: ")
    return line


def _execute_job(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    mode: str,
    cohort: str,
    dry_run: bool,
    log_level: str,
    tags: Mapping[str, str] | None,
    full: bool = False,
) -> dg.ExecuteInProcessResult:
    run_id = str(uuid.uuid4())  # chosen here so the listener is in place before the run's first event
    target = installed()
    if target is not None:  # someone shows progress (the command line); nobody else pays for listening
        instance.add_event_listener(run_id, _StepProgress(target))
    return defs.resolve_job_def(job_name(mode)).execute_in_process(
        instance=instance,
        run_id=run_id,
        partition_key=cohort,
        run_config={
            "resources": {"contact_sync": {"config": {"dry_run": dry_run, "full_decision": full}}},
            "loggers": {"console": {"config": {"log_level": log_level}}},
        },
        tags={LAUNCH_TAG: "cli", DRY_RUN_TAG: str(dry_run).lower(), OWNER_TAG: this_process(), **(tags or {})},
        raise_on_error=False,
    )


def _output(result: dg.ExecuteInProcessResult, node: str) -> Any:
    if not result.is_node_success(node):
        return None
    try:
        return result.output_for_node(node)
    except Exception:  # the value's file is gone or unreadable: the report still stands without it
        return None


def _materialization_metadata(result: dg.ExecuteInProcessResult, node: str) -> dict[str, Any]:
    if not result.is_node_success(node):
        return {}
    found = result.asset_materializations_for_node(node)
    return {k: getattr(v, "value", v) for k, v in found[-1].metadata.items()} if found else {}


def _report(result: dg.ExecuteInProcessResult) -> dict[str, Any] | None:
    """The run report, as the sync_report asset recorded it in its materialization (what the UI shows)."""
    report = _materialization_metadata(result, "sync_report").get("report")
    if isinstance(report, dict):
        return dict(report)
    value = _output(result, "sync_report")
    return dict(value) if isinstance(value, dict) else None


def _health(result: dg.ExecuteInProcessResult) -> float | None:
    score = _materialization_metadata(result, "sync_report").get("health_score")
    return float(score) if isinstance(score, int | float) else None


def failure_message(result: dg.ExecuteInProcessResult) -> str | None:
    """One line: the error of the first failed step (the exception our code raised, not Dagster's wrapper)."""
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        if error is not None:
            return f"{event.step_key}: {error_line(error)}"
    failure = result.get_run_failure_event() if not result.success else None
    error = getattr(failure.event_specific_data, "error", None) if failure is not None else None
    if error is not None:  # e.g. the run's resources could not open: the cause, not Dagster's "An exception..."
        return error_line(error)
    if failure is not None and failure.message:
        return failure.message.strip().splitlines()[0]
    skipped = [str(e.step_key) for e in result.get_step_skipped_events()]
    if skipped:
        return f"a blocking check failed, so these steps did not run: {', '.join(skipped)}"
    return None


def _partial_report(
    result: dg.ExecuteInProcessResult, mode: str, cohort: str, plan: SyncPlan | None, elapsed: float, error: str
) -> dict[str, Any]:
    """The report of a failed run: the write steps that finished count, the rest are zero."""
    genesys, crm = _output(result, "genesys_writes"), _output(result, "crm_writes")
    report: dict[str, Any] = {
        "run_id": result.run_id,
        "status": "failure",
        "mode": mode,
        "cohort": cohort,
        **{key: {"genesys": getattr(genesys, key, 0), "crm": getattr(crm, key, 0)} for key in COUNT_KEYS},
        "unlinked": getattr(genesys, "unlinked", 0),
        "skipped": 0,
        "errors": getattr(genesys, "errors", 0) + getattr(crm, "errors", 0),
        **runs.plan_figures(plan),
        "failures": runs.failure_rows(genesys, crm),
        "duration_s": round(elapsed, 3),
        "api_calls": {},
        "error": error,
    }
    return report


def _fail(settings: PipelineSettings, pair: str, report: Mapping[str, Any], error: str, record: bool) -> None:
    """End a failed run (`runs.fail_run`: lock given back; unless a dry run, history closed and alerted, a run that
    failed before its plan step recorded first). A ledger that cannot be reached here is not a second error: the
    failure is what to show."""
    run_id = str(report["run_id"])
    where = f"sync run {run_id} ({report['mode']}, cohort {report['cohort']})"
    try:
        with open_ledger(settings) as ledger:
            runs.fail_run(ledger, pair, run_id, where, error, settings.alert_webhook, _QUIET, report, record)
    except (LaunchError, LedgerError):
        pass


def _run_alerts(settings: PipelineSettings, run_id: str) -> list[str]:
    try:
        with open_ledger(settings) as ledger:
            return [f"{a.kind}: {a.message}" for a in reversed(ledger.recent_alerts(50)) if a.run_id == run_id]
    except (LaunchError, LedgerError):
        return []
