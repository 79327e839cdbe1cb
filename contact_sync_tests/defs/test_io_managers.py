"""The IO manager's paths: a cohort (partition) name is one encoded file name, never a path of its own."""

from pathlib import Path

import dagster as dg
import pytest

from contact_sync.defs.io_managers import ContactSyncIOManager


@pytest.mark.parametrize("cohort", ["../../escaped", "..", "/abs", 'pilot 001 "q" 🚀', "all"])
def test_each_cohort_is_one_file_name_under_its_asset(tmp_path: Path, cohort: str) -> None:
    manager = ContactSyncIOManager(base_dir=str(tmp_path))
    context = dg.build_output_context(
        asset_key=dg.AssetKey(["reconciliation"]),
        partition_key=cohort,
        asset_partitions_def=dg.StaticPartitionsDefinition([cohort]),
    )
    path = manager._path(context)
    assert path.parent == tmp_path / "reconciliation"
    assert path.name.startswith("p=") and "/" not in path.name and path.resolve().parent == path.parent.resolve()
