"""`contact-sync sync` as a user runs it: the README's first command in a real process (no credentials, so the
built-in simulators) with its `--json` report and the run recorded in DAGSTER_HOME; exit 1 with a one-line reason for
a failed run (and the run_failed alert); one-line refusals for bad arguments and for a second run of the same pair."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner, Result

from contact_sync.cli import main
from contact_sync.connectors.genesys import GenesysConnector
from contact_sync.crms import CRM_KINDS
from contact_sync.defs.sync.jobs import PAIR_TAG
from contact_sync.launcher import LAUNCH_TAG, open_ledger
from contact_sync.settings import GenesysSettings
from contact_sync.simulators import RunningSimulators, run_simulators
from contact_sync.sync.policy import DEFAULT_POLICY_PATH
from contact_sync_tests.cli.operator_fixtures import on_terminal, piped, plain
from contact_sync_tests.conftest import point_at_simulators

REPORT_KEYS = {
    "run_id",
    "conflicts_held",
    "baseline_differences",
    "read",
    "decided",
    "failures",
    "rejected",
    "held_deletes",
    "delete_guard",
    "match_review",
    "status",
    "mode",
    "cohort",
    "created",
    "updated",
    "deleted",
    "unlinked",
    "skipped",
    "errors",
    "conflicts",
    "duration_s",
    "api_calls",
    "dry_run",
}
COMMAND = str(Path(sys.executable).with_name("contact-sync"))
SYNC_STEPS = ("read CRM", "read Genesys", "decide", "write Genesys", "write CRM", "report")
PROGRESS_LINE = re.compile(rf"^({'|'.join(SYNC_STEPS)}): (.+) \((\d+\.\d) s\)$")
"""A progress line on stderr: the step, what it did, how long it took."""


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def progress_lines(output: str) -> list[tuple[str, str]]:
    """(step, what it did) of each progress line in the output."""
    return [(m[1], m[2]) for line in output.splitlines() if (m := PROGRESS_LINE.match(line))]


def test_the_readme_first_command_json_report_and_the_run_in_dagster_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`contact-sync simulators seed` then `contact-sync sync --json` in a real process with no credentials: the
    built-in simulators are synced, the report has the documented shape, the run is in DAGSTER_HOME."""
    cli_env = point_at_simulators(monkeypatch, {}, tmp_path)
    state = Path(cli_env["CONTACT_SYNC_DATA_DIR"]) / "simulators"
    seeded = cli("simulators", "seed", "--contacts", "30", "--state-dir", str(state))
    assert seeded.exit_code == 0, seeded.output
    genesys_before = int(re.search(r"Now in total: 30 Salesforce contacts, (\d+) Genesys", seeded.output)[1])
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")} | cli_env

    done = subprocess.run(
        [COMMAND, "sync", "--json"], env=env, capture_output=True, text=True, timeout=240, check=False
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert "BUILT-IN SIMULATORS" in done.stderr and "Traceback" not in done.stderr
    assert [step for step, _ in progress_lines(done.stderr)] == list(SYNC_STEPS)  # stderr is a pipe: lines
    (line,) = done.stdout.splitlines()
    report = json.loads(line)
    assert set(report) == REPORT_KEYS
    assert (report["status"], report["mode"], report["cohort"], report["dry_run"]) == (
        "success",
        "one_way",
        "all",
        False,
    )
    for key in ("created", "updated", "deleted"):
        assert set(report[key]) == {"genesys", "crm"} and all(isinstance(n, int) for n in report[key].values())
    assert report["created"]["genesys"] > 0 and report["created"]["crm"] == 0
    assert all(isinstance(report[k], int) for k in ("unlinked", "skipped", "errors", "conflicts"))
    assert isinstance(report["duration_s"], float) and report["duration_s"] > 0
    assert report["api_calls"] and all(isinstance(n, int) and n > 0 for n in report["api_calls"].values())
    assert any(k.startswith("genesys POST") and "bulk" in k for k in report["api_calls"])
    # A first run reads everything from both sides and decides every record (the seed's CRM duplicates fold into
    # their primary, so fewer than 30 CRM rows, but at least every contact it created).
    assert report["read"]["crm"] == {"records": 30, "how": "full"}
    assert report["read"]["genesys"]["how"] == "full" and report["read"]["genesys"]["why"] == "no Genesys mirror yet"
    assert report["read"]["genesys"]["records"] == genesys_before
    assert report["decided"]["how"] == "full"
    assert report["created"]["genesys"] <= report["decided"]["records"] <= 30 + genesys_before

    instance = dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"])  # what `dagster dev` on that home shows
    try:
        run = instance.get_run_by_id(report["run_id"])
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        assert run.job_name == "sync_one_way" and run.tags["dagster/partition"] == "all"
        assert run.tags[LAUNCH_TAG] == "cli" and run.tags["contact_sync/pair"] == "salesforce-genesys"
        event = instance.get_latest_materialization_event(dg.AssetKey("sync_report"))
        assert event is not None and event.run_id == report["run_id"]
    finally:
        instance.dispose()
    with open_ledger() as ledger:
        recorded = ledger.run(report["run_id"])
        linked = set(ledger.links("salesforce")["crm_id"])
    assert recorded.status == "success" and recorded.counts["created"] == report["created"]
    with run_simulators(state_dir=state) as sims:  # the same state, read back through the services' APIs
        assert sims.genesys.count() == genesys_before + report["created"]["genesys"]
        with GenesysConnector(GenesysSettings.from_env(sims.env), rate_limit=False) as genesys:
            carried = {x["value"] for c in genesys.scan_contacts() for x in c.get("externalIds") or []}
        for secret in (sims.env["GENESYS_CLIENT_SECRET"], sims.env["SALESFORCE_CLIENT_SECRET"]):
            assert secret not in done.stdout + done.stderr
    assert linked <= carried and len(linked) >= report["created"]["genesys"]


def test_a_failed_run_exits_1_with_one_line_and_alerts(sims: RunningSimulators, cli_env: dict[str, str]) -> None:
    sims.salesforce.load_contacts([{"LastName": "Lovelace"}])
    sims.genesys.set_faults([{"kind": "expired_token", "path": "/scan/organizations"}])  # every token refused

    result = cli("sync", "--json")

    assert result.exit_code == 1
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == "failure" and report["error"].startswith("genesys_contacts: ")
    assert set(report) == REPORT_KEYS | {"error"} and report["created"] == {"genesys": 0, "crm": 0}
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: sync run {report['run_id']} failed: {report['error']}"]
    assert "Traceback" not in result.output and sims.genesys.count() == 0
    with open_ledger() as ledger:
        (alert,) = [a for a in ledger.recent_alerts() if a.run_id == report["run_id"]]
        assert alert.kind == "run_failed" and report["error"] in alert.message
        assert ledger.run(report["run_id"]).status == "failure"

    readable = cli("sync")  # without --json: the same reason, no tables of zeros
    assert readable.exit_code == 1 and "failed" in readable.stdout and "What the run did" not in readable.stdout


def test_bad_arguments_are_refused_in_one_line_before_any_run(
    sims: RunningSimulators, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for args, message in [
        (["--mode", "sideways"], "Invalid value for '--mode'"),
        (["--cohort", "pilot-9"], "no cohort named 'pilot-9' (known: all)"),
    ]:
        result = cli("sync", *args)
        assert result.exit_code != 0 and message in result.output, result.output
        assert "Traceback" not in result.output
    monkeypatch.setenv("CONTACT_SYNC_POLICY", str(Path(cli_env["CONTACT_SYNC_DATA_DIR"]) / "missing.yaml"))
    missing = cli("sync")
    assert missing.exit_code == 1 and missing.output.startswith("Error: CONTACT_SYNC_POLICY names no file")
    monkeypatch.setenv("CONTACT_SYNC_POLICY", "")
    monkeypatch.setenv("CONTACT_SYNC_MODE", "both")
    assert "CONTACT_SYNC_MODE must be one of" in cli("sync").output
    monkeypatch.delenv("CONTACT_SYNC_MODE")
    with open_ledger() as ledger:
        assert ledger.recent_runs() == []
    assert sims.genesys.count() == 0


def test_a_second_sync_of_the_same_pair_is_refused_while_one_is_in_progress(
    sims: RunningSimulators, cli_env: dict[str, str]
) -> None:
    instance = dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"])
    try:
        running = instance.add_run(
            dg.DagsterRun(
                job_name="sync_bidirectional",
                status=dg.DagsterRunStatus.STARTED,
                tags={PAIR_TAG: "salesforce-genesys"},
            )
        )
        result = cli("sync")
        assert (
            result.exit_code == 1
            and f"another sync of salesforce-genesys is in progress (run {running.run_id}" in result.output
        )
        assert len(instance.get_runs()) == 1 and sims.genesys.count() == 0
    finally:
        instance.dispose()


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("CONTACT_SYNC_POLICY", "unknown-key", "sideways: unknown key (allowed: mode, fields"),
        ("CONTACT_SYNC_POLICY", "bad-enum", "mode: must be one of one_way, bidirectional, not 'sideways'"),
        ("CONTACT_SYNC_CRM", "zoho", f"CONTACT_SYNC_CRM must be one of {', '.join(CRM_KINDS)}, got 'zoho'"),
        ("GENESYS_API_URL", "not-a-url", "GENESYS_API_URL"),
    ],
)
def test_a_bad_setting_or_policy_is_one_line_before_any_run(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, needle: str
) -> None:
    if variable == "CONTACT_SYNC_POLICY":
        policy = tmp_path / f"{value}.yaml"
        shipped = DEFAULT_POLICY_PATH.read_text()
        policy.write_text(
            shipped.replace(
                "\nmode: one_way", "\nsideways: 1\nmode: one_way" if value == "unknown-key" else "\nmode: sideways"
            )
        )
        value = str(policy)
    monkeypatch.setenv(variable, value)
    result = cli("sync")
    assert result.exit_code == 1 and needle in result.output, result.output
    assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output
    instance = dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"])
    try:
        assert instance.get_runs() == []  # refused before any run started, so nothing was called
    finally:
        instance.dispose()


def test_a_ledger_in_a_folder_that_cannot_exist_is_one_line(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTACT_SYNC_DATABASE_URL", "sqlite:////proc/nope/ledger.db")
    result = cli("sync")
    assert result.exit_code == 1 and "CONTACT_SYNC_DATABASE_URL" in result.output, result.output
    assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output


def test_progress_is_one_line_per_step_on_stderr_and_stdout_keeps_the_report(
    sims: RunningSimulators, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """stderr not a terminal: one line per step, in order, saying what it did; stdout holds the report (or its one
    JSON line) and no progress. On a terminal, a live display on stderr instead of the lines."""
    sims.salesforce.load_contacts([{"LastName": f"Step{i}", "Email": f"step{i}@example.com"} for i in range(3)])
    piped(monkeypatch)

    readable = cli("sync")

    assert readable.exit_code == 0, readable.output
    steps = progress_lines(readable.stderr)
    assert [step for step, _ in steps] == list(SYNC_STEPS)
    assert len(readable.stderr.splitlines()) == len(SYNC_STEPS)  # nothing else on stderr
    said = dict(steps)
    assert said["read CRM"].startswith("Salesforce: read 3 records (full)")
    assert said["read Genesys"].startswith("read 0 records (full")
    assert said["decide"].startswith("decided 3 records of cohort all (one_way, full)")
    assert said["write Genesys"].startswith("wrote 3 created, 0 updated")
    assert said["write CRM"].startswith("Salesforce: wrote 0 created, 0 updated")
    assert readable.stdout.startswith("Sync run ") and "What the run did" in readable.stdout
    assert not progress_lines(readable.stdout)

    as_json = cli("sync", "--json")
    assert as_json.exit_code == 0, as_json.output
    (line,) = as_json.stdout.splitlines()
    assert json.loads(line)["created"] == {"genesys": 0, "crm": 0}
    assert [step for step, _ in progress_lines(as_json.stderr)] == list(SYNC_STEPS)

    on_terminal(monkeypatch, 120)
    live = cli("sync", "--json")
    assert live.exit_code == 0, live.output
    (line,) = live.stdout.splitlines()
    assert json.loads(line)["status"] == "success"
    drawn = plain(live.stderr)
    assert not progress_lines(drawn) and [step for step in SYNC_STEPS if step not in drawn] == []
