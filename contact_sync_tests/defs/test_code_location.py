"""The code location checks the settings and the policy file when it loads, so the Dagster UI shows a bad file's
one-line reason at once instead of failing every run later."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from contact_sync.crms import CRM_KINDS

BAD_POLICY = "mode: one_way\nfields:\n  - name: email\n    direction: sideways\n"


def validate(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    dagster = Path(sys.executable).with_name("dagster")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONTACT_SYNC_")}
    return subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "contact_sync.definitions"],
        env={**clean, "DAGSTER_HOME": str(tmp_path), "CONTACT_SYNC_DATA_DIR": str(tmp_path / "data"), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"CONTACT_SYNC_POLICY": "{policy}"}, "{policy}: line 1: link_field: required key is missing"),
        ({"CONTACT_SYNC_CRM": "hubspott"}, f"CONTACT_SYNC_CRM must be one of {', '.join(CRM_KINDS)}, got 'hubspott'"),
    ],
)
def test_a_bad_setting_stops_the_code_location_from_loading_with_its_reason(
    tmp_path: Path, env: dict[str, str], reason: str
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(BAD_POLICY)
    result = validate(tmp_path, **{k: v.format(policy=policy) for k, v in env.items()})
    assert result.returncode != 0
    assert reason.format(policy=policy) in result.stdout + result.stderr


def test_the_shipped_settings_load(tmp_path: Path) -> None:
    result = validate(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
