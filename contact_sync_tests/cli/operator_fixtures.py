"""Shared by the trace, rollback and status command tests: the environment of a user pointing contact-sync at the
simulators (fresh data folder, so a fresh ledger, CRM mirror and Dagster home), and helpers that run the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from contact_sync.cli import main
from contact_sync.simulators import RunningSimulators
from contact_sync_tests.defs.conftest import PIPELINE_VARIABLES


@pytest.fixture
def cli_env(sims: RunningSimulators, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The simulators' environment and a fresh data folder (returned); DAGSTER_HOME unset, so the commands use
    `<data folder>/dagster_home`."""
    for name in (*PIPELINE_VARIABLES, "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in sims.env.items():
        monkeypatch.setenv(name, value)
    data = tmp_path / "data"
    monkeypatch.setenv("CONTACT_SYNC_DATA_DIR", str(data))
    return data


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def json_of(*args: str) -> dict[str, Any]:
    """Run a command with --json that must succeed; its last stdout line as JSON."""
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def fails_in_one_line(*args: str) -> str:
    """Run a command that must fail with exit status 1 and a one-line error; the line."""
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]
