"""`contact-sync rollback`: a dry run shows the whole plan and writes nothing; the rollback restores what the run wrote
(checked in Genesys through its API), refuses a field edited since, deletes created contacts only with the flag; bad
run ids are one-line errors that leave everything as it was."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest

from contact_sync.defs.sync.jobs import PAIR_TAG, pair_name
from contact_sync.ledger import Ledger
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.simulators import RunningSimulators
from contact_sync_tests.cli import operator_fixtures
from contact_sync_tests.cli.operator_fixtures import (
    assert_fits,
    assert_whole,
    fails_in_one_line,
    invoke,
    json_of,
    on_terminal,
    piped,
)

cli_env = operator_fixtures.cli_env

PEOPLE = [
    {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com", "Phone": "(415) 555-0101"},
    {"FirstName": "Alan", "LastName": "Turing", "Email": "alan@example.com", "Phone": "415-555-0102"},
    {"FirstName": "Grace", "LastName": "Hopper", "Email": "grace@example.com"},
]


def test_rollback_command(sims: RunningSimulators, cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ada, alan, grace = sims.salesforce.load_contacts(PEOPLE)
    # Grace is in Genesys already: the first run links her (writes externalIds) instead of creating her.
    (grace_gid,) = sims.genesys.load_contacts(
        [{"firstName": "Grace", "lastName": "Hopper", "workEmail": "GRACE@example.com"}]
    )
    first = json_of("sync")["run_id"]
    links = {c["crm_id"]: c["genesys_id"] for c in json_of("trace", ada)["links"] + json_of("trace", alan)["links"]}
    ada_gid, alan_gid = links[ada], links[alan]
    sims.salesforce.edit_contact(ada, FirstName="Augusta", Phone="415-555-0199")
    sims.salesforce.edit_contact(alan, FirstName="Alan M.")
    second = json_of("sync")["run_id"]
    sims.genesys.edit_contact(alan_gid, {"firstName": "Al"})  # edited again after the run

    plan = json_of("rollback", second, "--dry-run")
    assert plan["dry_run"] is True and plan["rollback_run_id"] is None
    by_record = {(c["record_id"], c["field"]): c for c in plan["changes"]}
    assert by_record[(ada_gid, "first_name")] | {"why": ""} == {
        "system": "genesys",
        "record_id": ada_gid,
        "crm_id": ada,
        "genesys_id": ada_gid,
        "field": "first_name",
        "before": "Ada",
        "written": "Augusta",
        "live": "Augusta",
        "action": "restore",
        "why": "",
    }
    assert (by_record[(alan_gid, "first_name")]["live"], by_record[(alan_gid, "first_name")]["action"]) == (
        "Al",
        "refuse",
    )
    assert sims.genesys.contact(ada_gid)["firstName"] == "Augusta"  # the dry run wrote nothing

    # The plan as a person reads it, piped at 80 columns, on an 80- and on a 200-column terminal.
    ids = (second, ada_gid, alan_gid)
    values = ("Augusta", "Alan M.", "415-555-0199", "restore", "refuse")
    piped(monkeypatch, 80)
    assert_whole(invoke("rollback", second, "--dry-run").stdout, *ids, *values)
    on_terminal(monkeypatch, 80)
    assert_whole(invoke("rollback", second, "--dry-run").stdout, *ids, *values)
    on_terminal(monkeypatch, 200)
    wide = invoke("rollback", second, "--dry-run").stdout
    assert_fits(wide, 200)
    assert_whole(wide, *ids)
    assert [line for line in wide.splitlines() if ada_gid in line and "first_name" in line]  # a table row
    piped(monkeypatch, 80)

    done = json_of("rollback", second)
    assert done["counts"]["restored"] == 2 and done["counts"]["refused"] == 1 and done["counts"]["failed"] == 0
    ada_now = sims.genesys.contact(ada_gid)
    assert ada_now["firstName"] == "Ada" and ada_now["workPhone"]["e164"] == "+14155550101"
    assert ada_now["lastName"] == "Lovelace" and ada_now["workEmail"] == "ada@example.com"
    assert sims.genesys.contact(alan_gid)["firstName"] == "Al"
    ledger = Ledger(PipelineSettings.from_env().database_url)
    try:
        record = ledger.run(done["rollback_run_id"])
        assert (record.mode, record.status, record.counts["rolled_back_run"]) == ("rollback", "success", second)
        audit = ledger.audit_for_run(done["rollback_run_id"]).sort_values("field")
        # Genesys had normalized the phone's display to "+1 415-555-0101" when the second run read it.
        assert audit[["record_id", "field", "old_value", "new_value", "reason"]].values.tolist() == [
            [ada_gid, "first_name", "Augusta", "Ada", "rollback"],
            [ada_gid, "phone", "415-555-0199", "+1 415-555-0101", "rollback"],
        ]
        runs_before = [r.run_id for r in ledger.recent_runs()]

        # Bad input: one line each, nothing written.
        assert fails_in_one_line("rollback", "no-such-run") == "Error: no run with id 'no-such-run' in the ledger"
        assert fails_in_one_line("rollback", done["rollback_run_id"]) == (
            f"Error: run {done['rollback_run_id']} is itself a rollback (of run {second}) and cannot be rolled back; "
            "run a sync again or edit the values instead"
        )
        assert fails_in_one_line("rollback", second) == (
            f"Error: run {second} was already rolled back by run {done['rollback_run_id']}"
        )
        assert [r.run_id for r in ledger.recent_runs()] == runs_before
        assert sims.genesys.count() == 3

        # The first run created Ada and Alan: unlinked and kept; the link it wrote into Grace's contact is kept.
        kept = json_of("rollback", first)
        assert sorted((c["crm_id"], c["action"]) for c in kept["created"]) == [(ada, "unlinked"), (alan, "unlinked")]
        assert [(c["record_id"], c["field"], c["action"]) for c in kept["changes"]] == [
            (grace_gid, "externalIds", "kept")
        ]
        assert sims.genesys.count() == 3 and ledger.links()["crm_id"].tolist() == [grace]
        listing = invoke("rollback", first, "--delete-created", "--dry-run")
        assert listing.exit_code == 0 and "would do this" in listing.output and sims.genesys.count() == 3
        assert_whole(listing.stdout, first, ada, alan, ada_gid, alan_gid, grace_gid)  # piped at 80 columns
        assert re.fullmatch(
            rf"plan the rollback: run {first}: 1 field\(s\) it wrote, 2 contact\(s\) it created \(\d+\.\d s\)\n",
            listing.stderr,
        ), listing.stderr
        deleted = json_of("rollback", first, "--delete-created")
        assert sorted(c["action"] for c in deleted["created"]) == ["deleted", "deleted"]
        assert sims.genesys.contact(ada_gid) is None and sims.genesys.contact(alan_gid) is None
        assert sims.genesys.count() == 1
        assert ledger.run(deleted["rollback_run_id"]).counts["deleted"] == {"genesys": 2, "crm": 0}

        # Not while a sync of the same CRM/Genesys pair is in progress in the Dagster instance.
        instance = dg.DagsterInstance.from_config(str(cli_env / "dagster_home"))
        try:
            busy = dg.DagsterRun(
                job_name="sync_one_way", status=dg.DagsterRunStatus.STARTED, tags={PAIR_TAG: pair_name()}
            )
            instance.add_run(busy)
            assert fails_in_one_line("rollback", first).startswith(
                f"Error: another sync of {pair_name()} is in progress (run {busy.run_id}"
            )
        finally:
            instance.dispose()
        assert sims.salesforce.contact(ada) is not None  # the CRM side is never touched by a one-way rollback
    finally:
        ledger.dispose()
