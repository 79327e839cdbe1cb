"""The guide's sync frequencies as schedules. The 30-minute one ("Recommendation: start with 30 minutes") runs by
default for the configured cohort and mode (CONTACT_SYNC_COHORT, CONTACT_SYNC_MODE, read as every other setting by
`PipelineSettings`); the others are there to turn on. A bad setting does not stop the code location from loading:
each tick then skips, saying which variable is wrong."""

from typing import Final

import dagster as dg

from contact_sync.defs.sync.jobs import SYNC_JOBS
from contact_sync.defs.sync.partitions import COHORT_PARTITIONS_NAME, ensure_cohort_partition
from contact_sync.pipeline.config import ALL_COHORT, PipelineSettings
from contact_sync.settings import SettingsError

FREQUENCIES: Final = (
    ("sync_every_5_minutes", "*/5 * * * *", "Every 5 min: real-time, high API load (critical data)."),
    ("sync_every_15_minutes", "*/15 * * * *", "Every 15 min: near real-time, medium load (normal operations)."),
    ("sync_every_30_minutes", "*/30 * * * *", "Every 30 min: balanced, the recommended start (standard)."),
    ("sync_hourly", "0 * * * *", "Hourly: low cost, up to an hour of delay (low priority)."),
    ("sync_daily", "0 2 * * *", "Daily at 02:00 UTC: very low cost (batch jobs)."),
)
DEFAULT_RUNNING: Final = "sync_every_30_minutes"


def configured_schedule() -> tuple[str, str, str | None]:
    """(mode, cohort, error) of scheduled runs; a bad setting gives the defaults and the one-line error."""
    try:
        settings = PipelineSettings.from_env()
    except SettingsError as exc:
        return "one_way", ALL_COHORT, str(exc)
    return settings.mode, settings.cohort, None


def configured_mode_and_cohort() -> tuple[str, str]:
    """The mode and cohort scheduled runs sync (the defaults when a setting is bad: see `configured_schedule`)."""
    mode, cohort, _ = configured_schedule()
    return mode, cohort


def _schedule(name: str, cron: str, description: str) -> dg.ScheduleDefinition:
    mode, cohort, error = configured_schedule()

    @dg.schedule(
        name=name,
        cron_schedule=cron,
        job=SYNC_JOBS[mode],
        execution_timezone="UTC",
        description=f"{description} Syncs cohort {cohort!r} ({mode}).",
        default_status=dg.DefaultScheduleStatus.RUNNING
        if name == DEFAULT_RUNNING
        else dg.DefaultScheduleStatus.STOPPED,
    )
    def _sync_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if error is not None:
            return dg.SkipReason(f"not run: {error}")
        if cohort == ALL_COHORT:
            ensure_cohort_partition(context.instance, ALL_COHORT)
        elif not context.instance.has_dynamic_partition(COHORT_PARTITIONS_NAME, cohort):
            return dg.SkipReason(f"cohort {cohort!r} does not exist; create it with `contact-sync cohort create`")
        return dg.RunRequest(partition_key=cohort, tags={"contact_sync/schedule": name})

    return _sync_schedule


SYNC_SCHEDULES: Final = [_schedule(*frequency) for frequency in FREQUENCIES]
