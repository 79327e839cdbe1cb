"""`contact-sync conflicts list / resolve` against a real ledger (SQLite in a fresh data folder): the review queue as
a table and as JSON, decisions recorded with who made them, and one-line refusals for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from contact_sync.cli import main
from contact_sync.launcher import open_ledger
from contact_sync_tests.cli.operator_fixtures import assert_readable_on_terminals, assert_whole, piped, run_piped
from contact_sync_tests.conftest import point_at_simulators

CRM_ID = "003Hs00000Qz7LmAAJ"  # the 18 characters of a real Salesforce id
GENESYS_ID = "7d2c9e4a-51b3-4f0e-9a6d-3c8b2e1f0a94"
TITLES = {
    "base": "Senior Vice President, Customer Experience and Contact Centre Operations (EMEA)",
    "crm_value": "Senior Vice President, Customer Experience and Contact Centre Operations (EMEA and APAC)",
    "genesys_value": "Executive Vice President of Global Customer Operations, Workforce Planning and Quality",
}


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """A ledger holding a held phone conflict, an automatically resolved name conflict and an applied one."""
    point_at_simulators(monkeypatch, {}, tmp_path)
    rows = pd.DataFrame(
        {
            "crm_id": ["003A", "003B", "003C"],
            "genesys_id": ["g-a", "g-b", "g-c"],
            "field": ["phone", "first_name", "email"],
            "base": ["+14155550101", "Alan", None],
            "crm_value": ["+14155550111", "Alan M.", "c@example.com"],
            "genesys_value": ["+16285550121", "Al", "C@example.org"],
            "policy": ["manual", "crm_wins", "manual"],
            "winner": [None, "crm", None],
        }
    )
    with open_ledger() as ledger:
        ledger.start_run("run-1", "bidirectional", "all")
        held, auto, done = ledger.add_conflicts(rows, "run-1")
        ledger.decide(done, "genesys")
        ledger.mark_applied([done], "run-1")
    return {"held": held, "auto": auto, "done": done}


def test_list_shows_the_open_queue_with_both_versions(queue: dict[str, int]) -> None:
    table = cli("conflicts", "list")
    assert table.exit_code == 0, table.output
    assert "003A" in table.output and "+16285550121" in table.output and "manual" in table.output
    assert "003B" not in table.output  # decided automatically: not waiting for anyone

    as_json = cli("conflicts", "list", "--json")
    (row,) = json.loads(as_json.output.strip().splitlines()[-1])
    assert row["id"] == queue["held"] and row["status"] == "open" and row["winner"] is None
    assert (row["base"], row["crm_value"], row["genesys_value"]) == ("+14155550101", "+14155550111", "+16285550121")

    everything = json.loads(cli("conflicts", "list", "--status", "all", "--json").output.strip().splitlines()[-1])
    assert [r["status"] for r in everything] == ["open", "resolved", "applied"]
    applied = json.loads(cli("conflicts", "list", "--status", "applied", "--json").output.strip().splitlines()[-1])
    assert [(r["id"], r["decision"], r["decision_value"]) for r in applied] == [
        (queue["done"], "genesys", "C@example.org")
    ]


def test_resolve_records_the_decision_for_the_next_run(queue: dict[str, int]) -> None:
    result = cli(
        "conflicts", "resolve", str(queue["held"]), "--use", "value", "--value", "+1 212 555 0100", "--by", "ops"
    )
    assert result.exit_code == 0, result.output
    assert "next bidirectional sync run" in result.output
    overridden = cli("conflicts", "resolve", str(queue["auto"]), "--use", "genesys")
    assert overridden.exit_code == 0, overridden.output

    with open_ledger() as ledger:
        held, auto = ledger.conflict(queue["held"]), ledger.conflict(queue["auto"])
        pending = set(ledger.pending_decisions()["id"])
    assert (held.status, held.decision, held.decision_value, held.decided_by) == (
        "resolved",
        "value",
        "+1 212 555 0100",
        "ops",
    )
    assert (auto.decision, auto.decision_value) == ("genesys", "Al")
    assert pending == {queue["held"], queue["auto"]}
    assert cli("conflicts", "list", "--json").output.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["999"], "no conflict with id 999"),
        (["{held}", "--use", "value"], "--use value needs --value V"),
        (["{held}", "--use", "crm", "--value", "x"], "--value goes with --use value"),
        (["{done}", "--use", "crm"], "already applied"),
        (["{held}", "--use", "both"], "Invalid value for '--use'"),
        (["abc", "--use", "crm"], "'abc' is not a valid integer"),
    ],
)
def test_bad_resolutions_are_refused_in_one_line_and_change_nothing(
    queue: dict[str, int], args: list[str], message: str
) -> None:
    if "--use" not in args:
        args = [*args, "--use", "crm"]
    result = cli("conflicts", "resolve", *(a.format(**queue) for a in args))
    assert result.exit_code != 0 and message in result.output
    assert ("Traceback" not in result.output and result.exception is None) or isinstance(result.exception, SystemExit)
    with open_ledger() as ledger:
        assert ledger.conflict(queue["held"]).status == "open" and ledger.pending_decisions().empty


def test_list_filters_by_field_and_contact_and_limits(queue: dict[str, int]) -> None:
    def ids(*args: str) -> list[int]:
        result = cli("conflicts", "list", "--status", "all", "--json", *args)
        assert result.exit_code == 0, result.output
        return [r["id"] for r in json.loads(result.output.strip().splitlines()[-1])]

    assert ids("--field", "email") == [queue["done"]]
    assert ids("--contact", "003B") == ids("--contact", "g-b") == [queue["auto"]]  # by either side's id
    assert ids("--contact", "003B", "--field", "email") == []
    assert ids("--limit", "2") == [queue["held"], queue["auto"]]
    table = cli("conflicts", "list", "--status", "all", "--limit", "1")
    assert "Conflicts (all): 1 of 3" in table.output and "003B" not in table.output
    refused = cli("conflicts", "list", "--limit", "0")
    assert refused.exit_code == 2 and "--limit" in refused.output


def test_list_keeps_ids_and_values_whole_piped_and_on_terminals(
    queue: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Long ids and values next to the queue's short ones: piped at 80 columns (CliRunner, then a real process)
    and on an 80-column terminal every id and value is there unbroken; on a 200-column terminal the table fits."""
    row = {"crm_id": CRM_ID, "genesys_id": GENESYS_ID, "field": "title", "policy": "manual", "winner": None, **TITLES}
    with open_ledger() as ledger:
        (long_id,) = ledger.add_conflicts(pd.DataFrame([row]), "run-1")
    ids = (str(queue["held"]), str(long_id), "003A", "g-a", CRM_ID, GENESYS_ID)
    values = ("+14155550101", "+14155550111", "+16285550121", *TITLES.values())

    piped(monkeypatch, 80)
    listed = cli("conflicts", "list")
    assert listed.exit_code == 0, listed.output
    assert_whole(listed.stdout, *ids, *values)
    # Rows this wide are one record per block when piped: a value is on the line of its column's name.
    for column, value in TITLES.items():
        assert f"{column.ljust(len('genesys_value'))}  {value}" in listed.stdout.splitlines()
    assert run_piped("conflicts", "list").stdout == listed.stdout  # the same in a real pipe

    assert_readable_on_terminals(monkeypatch, ("conflicts", "list"), ids, values, (GENESYS_ID, CRM_ID), "+16285550121")
