"""`contact-sync status`: after a successful run and a run that fails (the Genesys simulator answers its scan with
500s), status shows both runs with their counts, the failure with its reason, the run_failed alert, the health
score from the ledger and the enabled schedule with its mode and cohort."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contact_sync.ledger import Ledger
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.simulators import RunningSimulators
from contact_sync_tests.cli import operator_fixtures
from contact_sync_tests.cli.operator_fixtures import assert_fits, assert_whole, invoke, json_of, on_terminal, piped

cli_env = operator_fixtures.cli_env


def test_status_reflects_a_failed_run_and_its_alert(
    sims: RunningSimulators, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = json_of("status")
    assert empty["runs"] == [] and empty["health"]["score"] is None and empty["alerts"] == []

    sims.salesforce.load_contacts([{"LastName": f"Status{i}", "Email": f"s{i}@example.com"} for i in range(3)])
    good = json_of("sync")["run_id"]

    sims.genesys.set_faults([{"kind": "500", "path": "/externalcontacts/"}])  # every Genesys read fails
    failed = invoke("sync", "--json")
    assert failed.exit_code == 1, failed.output
    bad = json.loads(failed.stdout.strip().splitlines()[-1])["run_id"]
    sims.genesys.set_faults([])

    status = json_of("status")
    runs = {r["run_id"]: r for r in status["runs"]}
    assert [r["run_id"] for r in status["runs"]] == [bad, good]
    assert runs[bad]["status"] == "failure" and "genesys_contacts" in runs[bad]["error"]
    assert runs[good]["status"] == "success"
    assert (runs[good]["created"], runs[good]["updated"], runs[good]["errors"], runs[good]["conflicts"]) == (3, 0, 0, 0)
    assert runs[good]["duration_s"] > 0
    (alert,) = [a for a in status["alerts"] if a["run_id"] == bad]
    assert alert["kind"] == "run_failed" and bad in alert["message"]

    ledger = Ledger(PipelineSettings.from_env().database_url)
    try:
        finished = [r for r in ledger.recent_runs() if r.status in ("success", "failure")]
    finally:
        ledger.dispose()
    assert good in {r.run_id for r in finished}
    errors = sum(r.errors for r in finished) / len(finished)
    duration = sum(r.duration_s or 0.0 for r in finished) / len(finished)
    assert status["health"]["score"] == round(max(0.0, 100 - errors * 5 - duration / 6), 1)  # ledger.health_score
    assert status["open_conflicts"] == {"count": 0, "latest": []}
    scheduling = status["scheduling"]
    assert (scheduling["mode"], scheduling["cohort"], scheduling["error"]) == ("one_way", "all", None)
    assert [s["name"] for s in scheduling["schedules"] if s["enabled"]] == ["sync_every_30_minutes"]

    monkeypatch.setenv("COLUMNS", "250")
    table = invoke("status")
    assert table.exit_code == 0, table.output
    assert "failure" in table.output and "run_failed" in table.output
    assert "Enabled schedules: sync_every_30_minutes (*/30 * * * *)" in table.output
    assert f"Health score: {status['health']['score']}" in table.output

    # Piped at 80 columns and on an 80-column terminal: both run ids, their counts and the failure's whole reason;
    # on a 200-column terminal the runs table fits with its headers whole.
    failure = f"Run {bad} failed: {runs[bad]['error']}"
    whole = (good, bad, "3 / 0 / 0 / 0 / 0", "Mode (cohort)", "Started (UTC)", "one_way (all)", alert["message"])
    piped(monkeypatch, 80)
    shown = invoke("status").stdout
    assert_whole(shown, *whole, failure)
    assert "Enabled schedules: sync_every_30_minutes (*/30 * * * *)" in shown.splitlines()
    on_terminal(monkeypatch, 80)
    assert_whole(invoke("status").stdout, *whole)
    on_terminal(monkeypatch, 200)
    wide = invoke("status").stdout
    assert_fits(wide, 200)
    assert_whole(wide, good, bad, "Mode (cohort)", "Started (UTC)", "Seconds")
    assert [line for line in wide.splitlines() if good in line and "success" in line]  # a table row


def test_a_failed_runs_error_is_shown_as_it_is_not_as_markup(cli_env: Path) -> None:
    error = "genesys_contacts: RequestRejected: 400 [bold]invalid[/bold] filter [x]"
    ledger = Ledger(PipelineSettings.from_env().database_url)
    try:
        ledger.migrate()
        ledger.start_run("run-with-brackets", "one_way", "all")
        ledger.finish_run("run-with-brackets", "failure", duration_s=1.0, error_summary=error)
    finally:
        ledger.dispose()
    shown = invoke("status")
    assert shown.exit_code == 0, shown.output
    assert f"Run run-with-brackets failed: {error}" in " ".join(shown.stdout.split())
