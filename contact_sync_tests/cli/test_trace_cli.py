"""`contact-sync trace`: after real runs (create, update, a conflict won by the CRM, a held manual conflict and a
rollback) the trace of one contact lists every step with its exact old and new values, oldest first."""

from __future__ import annotations

from pathlib import Path

import pytest

from contact_sync.simulators import RunningSimulators
from contact_sync.sync.policy import load_policy
from contact_sync_tests.cli import operator_fixtures
from contact_sync_tests.cli.operator_fixtures import (
    assert_fits,
    assert_whole,
    fails_in_one_line,
    invoke,
    json_of,
    on_terminal,
    piped,
    run_piped,
)

cli_env = operator_fixtures.cli_env


@pytest.fixture
def manual_email_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped policy with email conflicts held for a person (manual)."""
    default = (Path(load_policy.__code__.co_filename).parent / "default_policy.yaml").read_text()
    edited = default.replace("conflict: last_write_wins\n    compare: email", "conflict: manual\n    compare: email")
    assert edited != default
    path = tmp_path / "policy.yaml"
    path.write_text(edited)
    monkeypatch.setenv("CONTACT_SYNC_POLICY", str(path))


def test_trace_shows_every_step_of_one_contact(
    sims: RunningSimulators, cli_env: Path, manual_email_policy: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ada,) = sims.salesforce.load_contacts(
        [{"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com", "Phone": "(415) 555-0101"}]
    )
    created = json_of("sync")["run_id"]
    gid = json_of("trace", ada)["links"][0]["genesys_id"]

    sims.salesforce.edit_contact(ada, Phone="415-555-0199")
    updated = json_of("sync")["run_id"]

    # Both sides change the last name (CRM wins) and the email (manual: held for a decision).
    sims.salesforce.edit_contact(ada, LastName="King", Email="ada@crm.example")
    sims.genesys.edit_contact(gid, {"lastName": "Byron", "workEmail": "ada@genesys.example"})
    conflicted = json_of("sync", "--mode", "bidirectional")["run_id"]

    rolled_back = json_of("rollback", updated)["rollback_run_id"]

    trace = json_of("trace", ada)
    steps = [
        (c["run_id"], c["system"], c["field"], c["old_value"], c["new_value"], c["reason"]) for c in trace["changes"]
    ]
    creates = [s for s in steps if s[5] == "created"]
    assert {s[2]: s[4] for s in creates} == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "(415) 555-0101",
    }
    assert all(s[0] == created and s[1] == "genesys" and s[3] is None for s in creates)
    assert steps[len(creates) :] == [
        # Genesys had normalized the phone's display to "+1 415-555-0101" when the second run read it.
        (updated, "genesys", "phone", "+1 415-555-0101", "415-555-0199", "crm change"),
        (conflicted, "genesys", "last_name", "Byron", "King", "conflict winner"),
        (rolled_back, "genesys", "phone", "415-555-0199", "+1 415-555-0101", "rollback"),
    ]
    assert steps[: len(creates)] == creates  # created first: oldest first
    assert [r["at"] for r in trace["changes"]] == sorted(r["at"] for r in trace["changes"])

    assert [(link["crm_id"], link["genesys_id"], link["rule"]) for link in trace["links"]] == [(ada, gid, "created")]
    (held,) = trace["open_conflicts"]
    assert (held["field"], held["base"], held["crm_value"], held["genesys_value"], held["policy"]) == (
        "email",
        "ada@example.com",
        "ada@crm.example",
        "ada@genesys.example",
        "manual",
    )

    # The same contact by its Genesys id and by (any case of) an email it had; and the readable table.
    assert json_of("trace", gid)["changes"] == trace["changes"]
    assert json_of("trace", "ADA@example.com")["changes"] == trace["changes"]
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps at the terminal width
    table = invoke("trace", ada)
    assert table.exit_code == 0, table.output
    assert "conflict winner" in table.output and "Byron -> King" in table.output and "rollback" in table.output
    assert "manual" in table.output

    # Piped at 80 columns (CliRunner, then a real pipe), on an 80-column terminal: every id whole, every change's
    # full old and new value, the open conflict with its id; on a 200-column terminal the table fits.
    ids = (ada, gid, created, updated, conflicted, rolled_back, str(held["id"]))
    values = [f"{c['old_value'] or '(empty)'} -> {c['new_value']}" for c in trace["changes"]]
    values += ["ada@crm.example", "ada@genesys.example", "conflict winner"]
    piped(monkeypatch, 80)
    for shown in (invoke("trace", ada).stdout, run_piped("trace", ada).stdout):
        assert_whole(shown, *ids, *values)
    on_terminal(monkeypatch, 80)
    assert_whole(invoke("trace", ada).stdout, *ids, *values)
    on_terminal(monkeypatch, 200)
    wide = invoke("trace", ada).stdout
    assert_fits(wide, 200)
    assert_whole(wide, *ids)
    assert [line for line in wide.splitlines() if rolled_back in line and gid in line]  # a table row
    monkeypatch.setenv("COLUMNS", "250")

    assert fails_in_one_line("trace", "nobody@example.com") == (
        "Error: no contact 'nobody@example.com' in the ledger: no recorded change or link has that CRM id, "
        "Genesys id or email"
    )
    assert fails_in_one_line("trace", "   ").startswith("Error: trace needs a CRM id")
