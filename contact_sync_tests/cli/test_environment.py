"""One Dagster home everywhere: every command loads the working folder's `.env` first (its values win, as in
`dagster dev`), so in the demo folder the CLI sees the demo's runs; a run that a UI started in a Dagster project
folder would not show is said on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from contact_sync.cli.environment import home_warning, load_folder_env

COMMAND = str(Path(sys.executable).with_name("contact-sync"))
BASE_VARIABLES = ("PATH", "HOME", "LANG", "TMPDIR")


def test_the_folder_env_is_loaded_and_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", "/elsewhere")
    monkeypatch.delenv("CONTACT_SYNC_CRM", raising=False)
    (tmp_path / ".env").write_text(f"DAGSTER_HOME={tmp_path / 'home'}\nCONTACT_SYNC_CRM=hubspot\n# a comment\nEMPTY\n")
    assert load_folder_env(tmp_path) == ["CONTACT_SYNC_CRM", "DAGSTER_HOME"]
    assert os.environ["DAGSTER_HOME"] == str(tmp_path / "home") and os.environ["CONTACT_SYNC_CRM"] == "hubspot"
    assert load_folder_env(tmp_path / "no-such-folder") == []


def test_a_fallback_home_in_a_dagster_project_folder_is_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = tmp_path / "data" / "dagster_home"
    assert home_warning(home, tmp_path) is None  # not a Dagster project folder: nothing a UI here would miss
    (tmp_path / "workspace.yaml").write_text("load_from: []\n")
    warning = home_warning(home, tmp_path)
    assert warning is not None and f"Set DAGSTER_HOME={home}" in warning and "workspace.yaml" in warning
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert home_warning(home, tmp_path) is None


def test_in_the_demo_folder_the_cli_sees_the_demos_runs_with_nothing_set(demo_run: tuple[Path, str]) -> None:
    folder = demo_run[0]
    env = {k: v for k, v in os.environ.items() if k in BASE_VARIABLES}  # no DAGSTER_HOME, no CONTACT_SYNC_*
    done = subprocess.run(
        [COMMAND, "status", "--json"], cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Warning" not in done.stderr
    status = json.loads(done.stdout.strip().splitlines()[-1])
    assert status["scheduling"]["dagster_home"] == str(folder / "dagster_home")
    instance = dg.DagsterInstance.from_config(str(folder / "dagster_home"))
    try:
        demo_runs = {r.run_id for r in instance.get_runs()}
    finally:
        instance.dispose()
    assert {r["run_id"] for r in status["runs"]} == demo_runs and len(demo_runs) == 5
