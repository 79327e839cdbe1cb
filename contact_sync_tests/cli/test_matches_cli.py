"""`contact-sync matches list / accept / reject` against a real ledger (SQLite in a fresh data folder): the match
review queue as a table and as JSON, decisions recorded with who made them and what happens next, and one-line
refusals for unknown ids and decided pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from contact_sync.cli import main
from contact_sync.launcher import open_ledger
from contact_sync_tests.cli.operator_fixtures import assert_readable_on_terminals, assert_whole, piped
from contact_sync_tests.conftest import point_at_simulators

ANN = {"first_name": "Ann", "last_name": "Lee", "email": "ann@acme.com", "phone": "+14155550101"}
ANNE = {"first_name": "Anne", "last_name": "Lee", "email": None, "phone": "+14155550101"}
BOB = {"first_name": "Bob", "last_name": "Stone", "email": "sales@acme.com", "phone": None}
ROBERT = {"first_name": "Robert", "last_name": "Stone", "email": "sales@acme.com", "phone": "+14155550199"}


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def last_json(result: Result) -> list[dict[str, object]]:
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture
def queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """A ledger holding two open pairs and one already rejected."""
    point_at_simulators(monkeypatch, {}, tmp_path)
    rows = pd.DataFrame(
        {
            "crm_id": ["003A", "003B", "003C"],
            "genesys_id": ["g-a", "g-b", "g-c"],
            "rule": ["phone", "email", "email"],
            "score": [0.81, 0.88, 0.7],
            "evidence": [
                "email missing, phone equal, first name similar (ann~anne) -> 0.810",
                "email equal, phone missing, first name nickname (bob~robert), last name exact -> 0.880",
                "email equal -> 0.700",
            ],
            "reason": ["below link threshold", "email is a shared mailbox", "below link threshold"],
            "crm_record": [ANN, BOB, None],
            "genesys_record": [ANNE, ROBERT, None],
        }
    )
    with open_ledger() as ledger:
        ann, bob, gone = ledger.add_match_reviews(rows, "salesforce", run_id="run-1")
        ledger.decide_match(gone, "reject", by="ops")
    return {"ann": ann, "bob": bob, "gone": gone}


def test_list_shows_the_open_pairs_with_both_records_side_by_side(queue: dict[str, int]) -> None:
    table = cli("matches", "list")
    assert table.exit_code == 0, table.output
    for shown in ("003A", "g-a", "0.810", "below link threshold", "Anne Lee", "ann@acme.com", "(no email)", "Robert"):
        assert shown in table.output
    assert "bob~robert" in table.output and "matches accept ID" in table.output
    assert "003C" not in table.output  # rejected: nobody is asked again

    rows = last_json(cli("matches", "list", "--json"))
    assert [r["id"] for r in rows] == [queue["ann"], queue["bob"]]
    first = rows[0]
    assert (first["crm_id"], first["genesys_id"], first["status"], first["score"]) == ("003A", "g-a", "open", 0.81)
    assert first["crm_record"] == ANN and first["genesys_record"] == ANNE
    assert first["evidence"].startswith("email missing, phone equal") and first["decided_at"] is None
    assert first["run_id"] == "run-1" and isinstance(first["created_at"], str)

    rejected = last_json(cli("matches", "list", "--status", "rejected", "--json"))
    assert [(r["id"], r["decided_by"], r["crm_record"]) for r in rejected] == [(queue["gone"], "ops", None)]
    everything = cli("matches", "list", "--status", "all")
    assert everything.exit_code == 0 and "(not stored)" in everything.output and "rejected" in everything.output
    assert last_json(cli("matches", "list", "--status", "applied", "--json")) == []
    assert "No applied match reviews." in cli("matches", "list", "--status", "applied").output


def test_accept_and_reject_say_what_the_next_sync_does(queue: dict[str, int]) -> None:
    accepted = cli("matches", "accept", str(queue["ann"]), "--by", "ops")
    assert accepted.exit_code == 0, accepted.output
    assert accepted.output.strip() == (
        f"Match review {queue['ann']} accepted: the next sync links CRM 003A and Genesys g-a."
    )
    rejected = cli("matches", "reject", str(queue["bob"]))
    assert rejected.exit_code == 0, rejected.output
    assert "003B" in rejected.output and "g-b" in rejected.output
    assert "never proposed again; each record is free to match elsewhere or be created" in rejected.output

    with open_ledger() as ledger:
        ann, bob = ledger.match_review(queue["ann"]), ledger.match_review(queue["bob"])
        answers = ledger.pair_decisions("salesforce", hold_days=None)
        trail = ledger.audit_trail("003A")
    assert (ann.status, ann.decided_by) == ("accepted", "ops")
    assert bob.status == "rejected" and bob.decided_by  # the login name by default
    assert answers[["crm_id", "decision"]].values.tolist() == [
        ["003A", "accept"],
        ["003B", "reject"],
        ["003C", "reject"],
    ]
    assert trail["reason"].tolist() == ["match accepted"]
    assert last_json(cli("matches", "list", "--json")) == []
    assert [r["id"] for r in last_json(cli("matches", "list", "--status", "accepted", "--json"))] == [queue["ann"]]

    # an accepted pair no run has linked yet can still be rejected
    changed = cli("matches", "reject", str(queue["ann"]))
    assert changed.exit_code == 0, changed.output
    with open_ledger() as ledger:
        assert ledger.match_review(queue["ann"]).status == "rejected"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["accept", "999"], "Error: no match review with id 999"),
        (["reject", "999"], "Error: no match review with id 999"),
        (["accept", "{gone}"], "Error: match review {gone} was already rejected by ops; a rejected pair stays"),
        (["reject", "{gone}"], "Error: match review {gone} was already rejected by ops"),
        (["accept", "{applied}"], "Error: match review {applied} was already applied by run run-2"),
    ],
)
def test_bad_decisions_are_refused_in_one_line_and_change_nothing(
    queue: dict[str, int], args: list[str], message: str
) -> None:
    with open_ledger() as ledger:
        applied = ledger.decide_match(queue["bob"], "accept").id
        ledger.mark_matches_applied([applied], "run-2")
    ids = {**queue, "applied": applied}
    result = cli("matches", *(a.format(**ids) for a in args))
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message.format(**ids)), result.output
    assert "Traceback" not in result.output
    with open_ledger() as ledger:
        assert ledger.match_review(queue["ann"]).status == "open"
        assert ledger.audit_trail("003A").empty


def test_usage_errors_and_an_empty_queue(queue: dict[str, int]) -> None:
    not_a_number = cli("matches", "accept", "abc")
    assert not_a_number.exit_code == 2 and "'abc' is not a valid integer" in not_a_number.output
    bad_status = cli("matches", "list", "--status", "waiting")
    assert bad_status.exit_code == 2 and "Invalid value for '--status'" in bad_status.output
    cli("matches", "reject", str(queue["ann"]))
    cli("matches", "reject", str(queue["bob"]))
    assert "No open match reviews." in cli("matches", "list").output


def test_list_filters_by_evidence_field_and_contact_and_limits(queue: dict[str, int]) -> None:
    def ids(*args: str) -> list[int]:
        return [int(str(r["id"])) for r in last_json(cli("matches", "list", "--status", "all", "--json", *args))]

    assert ids("--field", "phone") == [queue["ann"], queue["bob"]]  # both pairs' evidence names the phone
    assert ids("--field", "last_name") == [queue["bob"]]
    assert ids("--field", "nickname") == []  # a word in the evidence, not a field it weighs
    assert ids("--contact", "g-c") == ids("--contact", "003C") == [queue["gone"]]
    assert ids("--limit", "1") == [queue["ann"]]
    assert "Match reviews (all): 1 of 3" in cli("matches", "list", "--status", "all", "--limit", "1").output


def test_list_keeps_ids_and_evidence_whole_piped_and_on_terminals(
    queue: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pair with an 18-character Salesforce id, a Genesys UUID and long evidence next to the queue's pairs."""
    crm_id, genesys_id = "003Hs00000Qz7LmAAJ", "7d2c9e4a-51b3-4f0e-9a6d-3c8b2e1f0a94"
    evidence = (
        "email missing, phone equal, first name similar (margaret~marguerite), last name exact, company similar "
        "(northwind traders~northwind trading co) -> 0.842"
    )
    person = {"first_name": "Margaret", "last_name": "Hamilton", "email": "margaret.hamilton@northwind.example"}
    rows = pd.DataFrame(
        [
            {
                "crm_id": crm_id,
                "genesys_id": genesys_id,
                "rule": "phone",
                "score": 0.842,
                "evidence": evidence,
                "reason": "below link threshold",
                "crm_record": person,
                "genesys_record": {**person, "first_name": "Marguerite", "phone": "+14155550123"},
            }
        ]
    )
    with open_ledger() as ledger:
        (long_id,) = ledger.add_match_reviews(rows, "salesforce", run_id="run-1")
    ids = (str(queue["ann"]), str(long_id), "003A", "g-a", "003B", crm_id, genesys_id)
    values = (evidence, "Margaret Hamilton", "Marguerite Hamilton", "margaret.hamilton@northwind.example", "0.842")

    piped(monkeypatch, 80)
    listed = cli("matches", "list")
    assert listed.exit_code == 0, listed.output
    assert_whole(listed.stdout, *ids, *values)

    assert_readable_on_terminals(
        monkeypatch, ("matches", "list"), ids, values, (crm_id, genesys_id), "Marguerite Hamilton"
    )
