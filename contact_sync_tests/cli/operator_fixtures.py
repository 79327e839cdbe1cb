"""Shared by the trace, rollback and status command tests: the environment of a user pointing contact-sync at the
simulators (fresh data folder, so a fresh ledger, CRM mirror and Dagster home), and helpers that run the command.

Shared by every command test that checks readable output: `piped` and `on_terminal` set what Rich (so `console()`)
sees, `run_piped` runs a command in a real process with stdout a pipe, and `assert_whole` / `assert_fits` check that
nothing was cut."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from contact_sync.cli import main
from contact_sync.simulators import RunningSimulators
from contact_sync_tests.defs.conftest import PIPELINE_VARIABLES

COMMAND = str(Path(sys.executable).with_name("contact-sync"))
TERMINAL_VARIABLES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR")
"""What Rich reads to decide that output is (or is not) a terminal, besides isatty()."""
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


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


def piped(monkeypatch: pytest.MonkeyPatch, columns: int = 80) -> None:
    """Output as in a pipe opened from a terminal of `columns` (CliRunner's stdout is no terminal): COLUMNS set,
    nothing that would make Rich call it a terminal."""
    for name in TERMINAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", str(columns))


def on_terminal(monkeypatch: pytest.MonkeyPatch, columns: int = 200) -> None:
    """Rich takes stdout (CliRunner's) for a terminal of `columns` columns: `TTY_COMPATIBLE=1` is what its
    `Console.is_terminal` honours, which is what `console()` asks."""
    piped(monkeypatch, columns)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")


def run_piped(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    """Run `contact-sync ARGS` in a real process, stdout and stderr pipes, under this process's environment (the
    cli_env fixtures set it) with COLUMNS set; it must succeed."""
    env = {k: v for k, v in os.environ.items() if k not in TERMINAL_VARIABLES} | {"COLUMNS": str(columns)}
    done = subprocess.run([COMMAND, *args], env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def plain(output: str) -> str:
    """The output without terminal escape codes."""
    return ESCAPES.sub("", output)


def assert_whole(output: str, *texts: str) -> None:
    """Every text (ids, values) appears unbroken in the output, and Rich cut nothing with an ellipsis."""
    output = plain(output)
    assert "…" not in output, output
    missing = [text for text in texts if text not in output]
    assert not missing, f"{missing} not whole in:\n{output}"


def assert_fits(output: str, columns: int) -> None:
    """No line of the output is wider than `columns`."""
    wide = [line for line in plain(output).splitlines() if len(line) > columns]
    assert not wide, "\n".join(wide)


def assert_readable_on_terminals(
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    ids: tuple[str, ...],
    values: tuple[str, ...],
    row: tuple[str, str],
    wide_value: str,
) -> None:
    """A listing on an 80-column terminal shows every id and value whole (the record of `row[1]` once), and on a
    200-column one fits, with the ids and `wide_value` whole and both ids of `row` on one table line."""
    on_terminal(monkeypatch, 80)
    narrow = invoke(*args)
    assert narrow.exit_code == 0 and narrow.stdout.count(row[1]) == 1, narrow.output
    assert_whole(narrow.stdout, *ids, *values)
    on_terminal(monkeypatch, 200)
    wide = invoke(*args).stdout
    assert_fits(wide, 200)
    assert_whole(wide, *ids, wide_value)
    assert [line for line in wide.splitlines() if row[0] in line and row[1] in line]  # a table row
