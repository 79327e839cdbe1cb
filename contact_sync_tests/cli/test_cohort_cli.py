"""`contact-sync cohort create / list` on the simulators: a cohort made before any sync (it reads the CRM), stored in
the ledger and added as a partition of the Dagster instance; bad names, sizes and an unreachable CRM are one line."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner, Result

from contact_sync.cli import main
from contact_sync.launcher import open_instance, open_ledger
from contact_sync.simulators import RunningSimulators
from contact_sync_tests.cli.operator_fixtures import piped


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_create_before_any_sync_then_list(
    sims: RunningSimulators, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    piped(monkeypatch)
    ids = sims.salesforce.load_contacts([{"LastName": f"Pilot{i:02d}"} for i in range(12)])
    sims.salesforce.delete_contact(ids[0])  # deleted contacts are never picked

    made = cli("cohort", "create", "pilot-001", "--size", "5")
    bigger = cli("cohort", "create", "everyone-live", "--size", "50")

    assert made.exit_code == 0 and bigger.exit_code == 0, made.output + bigger.output
    assert "Created cohort pilot-001 with 5 contacts." in made.output
    assert "only 11 live CRM contacts exist" in bigger.output
    # What it did, as one progress line on stderr (stderr is no terminal here); stdout says it in words.
    assert re.fullmatch(r"read CRM: cohort pilot-001: 5 contacts \(\d+\.\d s\)\n", made.stderr), made.stderr
    assert made.stdout.startswith("Created cohort pilot-001")
    with open_ledger() as ledger:
        members = ledger.cohort_members("pilot-001")
        assert set(ledger.cohort_members("everyone-live")) == set(ids[1:])
    assert len(members) == 5 and ids[0] not in members
    with open_instance() as instance:
        assert set(instance.get_dynamic_partitions("rollout_cohort")) >= {"pilot-001", "everyone-live"}

    listed = cli("cohort", "list")
    assert listed.exit_code == 0
    assert "every contact" in listed.output and "pilot-001" in listed.output and "everyone-live" in listed.output
    as_json = cli("cohort", "list", "--json").output
    assert as_json.count("\n") == 1  # one line, like every command's --json
    rows = json.loads(as_json)
    assert [(r["name"], r["size"]) for r in rows] == [("pilot-001", 5), ("everyone-live", 11)]


def test_bad_cohorts_are_refused_in_one_line(sims: RunningSimulators, cli_env: dict[str, str]) -> None:
    sims.salesforce.load_contacts([{"LastName": "Solo"}])
    assert cli("cohort", "create", "pilot", "--size", "1").exit_code == 0
    for args, message in [
        (["pilot", "--size", "1"], "cohort 'pilot' already exists"),
        (["all", "--size", "1"], "always exists"),
        (["a...b", "--size", "1"], "not usable"),
        (["../../../escaped", "--size", "1"], 'must not contain "/"'),
        (["/abs", "--size", "1"], 'must not contain "/"'),
        ([" padded", "--size", "1"], "must not start or end with a space"),
        (["x" * 65, "--size", "1"], "must be 1 to 64 characters"),
        (["pilot-2", "--size", "0"], "0 is not in the range x>=1"),
        (["pilot-2"], "Missing option '--size'"),
    ]:
        result = cli("cohort", "create", *args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    with open_ledger() as ledger:
        assert [c.name for c in ledger.cohorts()] == ["pilot"]


def test_an_unreachable_crm_is_one_line(sims: RunningSimulators, cli_env: dict[str, str]) -> None:
    sims.salesforce.set_faults([{"kind": "503", "path": "/query"}])
    result = cli("cohort", "create", "pilot", "--size", "1")
    assert result.exit_code == 1
    assert result.output.startswith("Error: a service is not reachable or refused the call:")
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert cli_env["SALESFORCE_CLIENT_SECRET"] not in result.output
