"""The IO manager's paths: one folder per run, so runs never read each other's values; a cohort (partition) name is
one encoded file name, never a path of its own; inputs come from the run that produced them, or the newest."""

import os
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from contact_sync.defs.io_managers import ContactSyncIOManager

KEY = dg.AssetKey(["reconciliation"])
COHORTS = dg.StaticPartitionsDefinition(["all"])


def output(run_id: str) -> dg.OutputContext:
    return dg.build_output_context(asset_key=KEY, partition_key="all", asset_partitions_def=COHORTS, run_id=run_id)


def input_from(upstream: dg.OutputContext | None) -> dg.InputContext:
    return dg.build_input_context(
        asset_key=KEY, partition_key="all", asset_partitions_def=COHORTS, upstream_output=upstream
    )


@pytest.mark.parametrize("cohort", ["../../escaped", "..", "/abs", 'pilot 001 "q" 🚀', "all"])
def test_each_cohort_is_one_file_name_under_its_asset(tmp_path: Path, cohort: str) -> None:
    manager = ContactSyncIOManager(base_dir=str(tmp_path))
    context = dg.build_output_context(
        asset_key=KEY, partition_key=cohort, asset_partitions_def=dg.StaticPartitionsDefinition([cohort]), run_id="r1"
    )
    path = manager._path(context)
    assert path.parent == tmp_path / "runs" / "r1" / "reconciliation"
    assert path.name.startswith("p=") and "/" not in path.name and path.resolve().parent == path.parent.resolve()


def test_two_runs_keep_their_own_values_and_a_reader_gets_its_producers(tmp_path: Path) -> None:
    manager = ContactSyncIOManager(base_dir=str(tmp_path))
    manager.handle_output(output("run-a"), {"plan": "a"})
    manager.handle_output(output("run-b"), pd.DataFrame({"plan": ["b"]}))
    # Each run (or a re-execution of it, whose upstream is the parent run) reads what its producer wrote.
    assert manager.load_input(input_from(output("run-a"))) == {"plan": "a"}
    assert manager.load_input(input_from(output("run-b")))["plan"].tolist() == ["b"]
    # An input no run of the job produced (an asset materialized alone) is the newest value.
    assert manager.load_input(input_from(None))["plan"].tolist() == ["b"]
    # A retried step replaces its own run's value, whatever its type was, leaving no scratch file behind.
    manager.handle_output(output("run-a"), pd.DataFrame({"plan": ["a2"]}))
    assert manager.load_input(input_from(output("run-a")))["plan"].tolist() == ["a2"]
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert not (tmp_path / "runs" / "run-a" / "reconciliation" / "p=all.pickle").exists()
    with pytest.raises(FileNotFoundError, match="no stored value for reconciliation"):
        manager.load_input(input_from(output("run-c")))


def test_old_run_folders_are_pruned_unless_they_hold_the_newest_value(tmp_path: Path) -> None:
    manager = ContactSyncIOManager(base_dir=str(tmp_path), keep_hours=1)
    other = dg.build_output_context(asset_key=dg.AssetKey(["crm_contacts"]), run_id="old-newest")
    manager.handle_output(output("old"), {"v": 1})
    manager.handle_output(other, {"v": 2})
    manager.handle_output(output("recent"), {"v": 3})
    two_hours_ago = time.time() - 7200
    for name in ("old", "old-newest"):
        os.utime(tmp_path / "runs" / name, (two_hours_ago, two_hours_ago))
    manager.handle_output(output("new"), {"v": 4})
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["new", "old-newest", "recent"]
