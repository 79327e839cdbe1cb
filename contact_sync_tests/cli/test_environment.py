"""One Dagster home everywhere: every command loads the working folder's `.env` first (its values win, as in
`dagster dev`); a run that a UI started in a Dagster project folder would not show is said on stderr. (That the CLI in
the demo folder sees the demo's runs is tested in test_demo_cli.py, beside the demo run it shares.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contact_sync.cli.environment import home_warning, load_folder_env


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
