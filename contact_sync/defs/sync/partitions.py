"""Rollout cohorts as dynamic partitions: "all" plus every cohort stored in the ledger."""

from __future__ import annotations

from typing import Final

import dagster as dg

from contact_sync.pipeline.config import ALL_COHORT

COHORT_PARTITIONS_NAME: Final = "rollout_cohort"
rollout_cohort = dg.DynamicPartitionsDefinition(name=COHORT_PARTITIONS_NAME)


def ensure_cohort_partition(instance: dg.DagsterInstance, cohort: str = ALL_COHORT) -> None:
    """Add the cohort's partition key to the instance unless it is there already."""
    if not instance.has_dynamic_partition(COHORT_PARTITIONS_NAME, cohort):
        instance.add_dynamic_partitions(COHORT_PARTITIONS_NAME, [cohort])
