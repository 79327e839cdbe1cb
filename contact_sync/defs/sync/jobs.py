"""One sync job per mode. Each run materializes the shared snapshots and matches, then the chosen cohort's
partition of the reconciliation, writes and reports (`partition_key` = cohort). Run config: only
`{"resources": {"contact_sync": {"config": {"dry_run": true}}}}` for a dry run.

Runs carry the tag `contact_sync/pair`; `dagster.yaml` limits that tag to one run at a time per value, so two syncs
of the same CRM/Genesys pair never overlap (the run queue holds the second)."""

from __future__ import annotations

from typing import Any, Final

import dagster as dg

from contact_sync.defs.sync.assets import MODE_TAG, SYNC_ASSETS
from contact_sync.pipeline.config import job_name
from contact_sync.pipeline.locks import pair_name

__all__ = ["PAIR_TAG", "SYNC_JOBS", "error_line", "job_name", "sync_bidirectional", "sync_one_way"]

PAIR_TAG: Final = "contact_sync/pair"
MODES: Final = ("one_way", "bidirectional")


def _job(mode: str) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        job_name(mode),
        selection=dg.AssetSelection.assets(*SYNC_ASSETS),
        description=f"Sync contacts ({mode.replace('_', '-')}) for one rollout cohort (the partition key).",
        tags={MODE_TAG: mode, PAIR_TAG: pair_name()},
        executor_def=dg.in_process_executor,
    )


sync_one_way = _job("one_way")
sync_bidirectional = _job("bidirectional")
SYNC_JOBS: Final = {"one_way": sync_one_way, "bidirectional": sync_bidirectional}


def error_line(error: Any) -> str:
    """One line of a Dagster error (SerializableErrorInfo): the exception our code raised, not Dagster's wrapper."""
    while (error.cls_name or "").startswith("Dagster") and error.cause is not None:
        error = error.cause
    message = (error.message or "").strip()
    first = message.splitlines()[0] if message else (error.cls_name or "error")
    head, _, rest = first.partition(": ")
    return f"{head.rsplit('.', 1)[-1]}: {rest}" if rest and "." in head and " " not in head else first
