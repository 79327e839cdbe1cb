"""The launcher is the pipeline's API for running syncs: what stops a sync before it starts is its own one-line
error (no click in it), raised before any Dagster run is made."""

from __future__ import annotations

import pytest

from contact_sync.launcher import LaunchError, open_instance, run_sync


def test_a_sync_that_cannot_start_raises_a_launch_error_and_makes_no_run(cli_env: dict[str, str]) -> None:
    with pytest.raises(LaunchError, match=r"no cohort named 'nope' \(known: all\)"):
        run_sync("one_way", "nope")
    with pytest.raises(LaunchError, match="mode must be one of"):
        run_sync("sideways", "all")  # type: ignore[arg-type]
    with open_instance() as instance:
        assert instance.get_runs() == []


def test_a_broken_instance_configuration_is_one_line(cli_env: dict[str, str]) -> None:
    folder = cli_env["DAGSTER_HOME"]
    with open(f"{folder}/dagster.yaml", "w") as handle:
        handle.write("run_storage: [not, a, mapping]\n")
    with pytest.raises(LaunchError, match="cannot open the Dagster instance") as caught, open_instance():
        pass
    assert "\n" not in str(caught.value)
