"""`contact-sync demo` end to end (200 contacts): it runs to the end, and what it prints matches what the services, the
ledger and the Dagster instance in the demo folder really hold afterwards."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from contact_sync.cli.demo import demo
from contact_sync.connectors.genesys import GenesysConnector
from contact_sync.crms import CRM_KINDS, crm_plugin
from contact_sync.ledger import Ledger
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.settings import GenesysSettings
from contact_sync.simulators import run_simulators
from contact_sync.sync.normalize import normalize_phone
from contact_sync.sync.policy import load_policy

COMMAND = str(Path(sys.executable).with_name("contact-sync"))


def figures(output: str, label: str) -> list[int]:
    """Every number printed in a table row with this label, in order."""
    return [int(n) for n in re.findall(rf"^\s*{re.escape(label)}\s+(\d+)\s*$", output, flags=re.M)]


def edited_ids(output: str) -> list[tuple[str, str]]:
    """(CRM id, field) of each row of the edits table."""
    block = output.split("Edits made on both sides between runs", 1)[1].split("Phase 3", 1)[0]
    return re.findall(r"^\s*([0-9A-Za-z-]{1,36})\s+(first_name|phone|tags|email)\s", block, flags=re.M)


def check_against_services(folder: Path, output: str, crm: str, contacts: int) -> None:
    """Every figure and value the demo printed, compared with what the services, ledger and Dagster hold."""
    label = crm_plugin(crm).label
    for title in ("Seeded simulators", "Phase 1", "Phase 2", "Phase 3", "Review queue", "Decision applied", "Trace"):
        assert title in output
    assert f'cd "{folder}" && dagster dev -w workspace.yaml' in output.replace("\n", "")
    assert f"DAGSTER_HOME={folder / 'dagster_home'}" in (folder / ".env").read_text().splitlines()
    trace = output.split("Trace of CRM contact", 1)[1].split("End state", 1)[0]
    assert re.search(rf"{crm}\s+email\s+m\.work@example\.com -> m\.personal@example\.org\s+decision", trace)

    data = folder / "data"
    env = {"CONTACT_SYNC_DATA_DIR": str(data), "CONTACT_SYNC_POLICY": str(folder / "policy.yaml")}
    policy = load_policy(folder / "policy.yaml")
    seeded_genesys, final_genesys = figures(output, "Genesys contacts")
    created = sum(figures(output, "Created in Genesys"))
    # Phase 3's run reports its creates in its note (an edit can make a CRM duplicate a person of its own).
    created += sum(int(n) for n in re.findall(r"(\d+)\s+created\s+in\s+Genesys", output))
    ledger = Ledger(PipelineSettings.from_env(env).database_url)
    try:
        with run_simulators(state_dir=data / "simulators") as sims:
            seat, genesys = crm_plugin(crm).seat(getattr(sims, crm)), sims.genesys
            assert figures(output, f"{label} contacts") == [contacts, seat.count()]
            assert final_genesys == genesys.count() == seeded_genesys + created
            # Linked contacts, read over the Genesys API the way a user would check them.
            with GenesysConnector(GenesysSettings.from_env(sims.env), rate_limit=False) as client:
                linked = [c for c in client.scan_contacts() if c.get("externalIds")]
            assert figures(output, f"Genesys contacts linked to {label}") == [len(linked)]
            links = ledger.links(crm)
            assert figures(output, "Links in the ledger") == [len(links)]
            assert {e["value"] for c in linked for e in c["externalIds"]} == set(links["crm_id"])
            # The pilot run linked only pilot contacts.
            pilot_run = re.findall(r"Dagster run\s+([0-9a-f-]{36})", output)[0]
            members = set(ledger.cohort_members("pilot-001"))
            assert len(members) == 100 and figures(output, "Linked contacts outside the pilot") == [0]
            pilot_links = set(links.loc[links["run_id"] == pilot_run, "crm_id"])
            assert pilot_links and pilot_links <= members
            # A first sync: fields that differ are baseline differences, not conflicts, and raise no conflict alert.
            assert figures(output, "Conflicts")[0] == 0 and figures(output, "Baseline differences")[0] > 0
            assert not [a for a in ledger.recent_alerts(50) if a.kind == "conflicts" and a.run_id == pilot_run]

            # Each edited contact ended as its policy says, on both sides.
            edits = edited_ids(output)
            expected = ["first_name", "phone", "tags", "email", "phone"]
            assert [f for _, f in edits] == [f for f in expected if policy.field(f).crm_field(crm)]
            gid = dict(zip(links["crm_id"], links["genesys_id"], strict=True))
            ends = {}
            for n, (crm_id, name) in enumerate(edits):
                row = seat.record(crm_id)
                assert row is not None, crm_id
                ends[(name, n)] = (row[policy.field(name).crm_field(crm)], genesys.contact(gid[crm_id]))
            name_crm, name_gen = ends[("first_name", 0)]
            assert name_crm == name_gen["firstName"] == "Margaret"  # CRM wins
            phone_crm, phone_gen = ends[("phone", 1)]
            assert phone_e164(phone_crm) == phone_e164(phone_gen["workPhone"]["display"]) == "+17733016642"  # later
            if ("tags", 2) in ends:
                tags_crm, tags_gen = ends[("tags", 2)]
                assert set(tags_crm.split(";")) == set(tags_gen["customFields"]["tags"]) == {"vip", "support"}
            email_crm, email_gen = ends[("email", len(edits) - 2)]
            assert email_crm == email_gen["workEmail"] == "m.personal@example.org"  # the decision applied
            assert phone_e164(ends[("phone", len(edits) - 1)][0]) == "+14153629080"  # Genesys-only edit copied
    finally:
        conflicts = ledger.conflicts()
        open_now = ledger.open_conflicts()
        ledger.dispose()
    assert figures(output, "Conflicts recorded") == [len(conflicts)]
    assert figures(output, "Open conflicts") == [len(open_now)] == [0]
    decided = conflicts[conflicts["decision"].notna()]
    assert decided[["field", "decision", "status"]].values.tolist() == [["email", "genesys", "applied"]]

    instance = dg.DagsterInstance.from_config(str(folder / "dagster_home"))
    try:
        runs = instance.get_runs()
        assert figures(output, "Dagster runs") == [len(runs)] == [5]
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        assert sorted(instance.get_dynamic_partitions("rollout_cohort")) == ["all", "pilot-001"]
        printed = set(re.findall(r"Dagster run\s+([0-9a-f-]{36})", output))
        assert printed and printed <= {r.run_id for r in runs}
        # The trace names each change's run by its whole id, as every other command does.
        assert {r.run_id for r in runs} & set(re.findall(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", trace))
    finally:
        instance.dispose()


def test_demo_runs_to_the_end_and_its_figures_match_the_services(demo_run: tuple[Path, str]) -> None:
    check_against_services(*demo_run, crm="salesforce", contacts=200)


@pytest.mark.parametrize("crm", [kind for kind in CRM_KINDS if kind != "salesforce"])  # Salesforce: the demo_run
def test_demo_on_every_other_crm_runs_to_the_end_and_matches_the_services(tmp_path: Path, crm: str) -> None:
    folder = tmp_path / f"{crm}-demo"
    result = CliRunner().invoke(demo, ["--crm", crm, "--dir", str(folder), "--contacts", "200"])
    assert result.exit_code == 0, result.output
    assert f"built-in {crm_plugin(crm).label} and Genesys simulators" in " ".join(result.output.split())
    check_against_services(folder, result.output, crm=crm, contacts=200)
    # stderr is no terminal: each of the five runs' steps is one progress line there, and nothing else is.
    steps = ["read CRM", "read Genesys", "decide", "write Genesys", "write CRM", "report"]
    assert [line.split(": ", 1)[0] for line in result.stderr.splitlines()] == steps * 5, result.stderr


def phone_e164(text: str) -> str:
    import pandas as pd

    return str(normalize_phone(pd.Series([text]), "US").iloc[0])


def test_an_existing_demo_folder_is_refused_in_one_line_and_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    result = CliRunner().invoke(demo, ["--dir", str(folder), "--contacts", "200"])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "already exists and is not empty" in result.output and str(folder) in result.output
    assert [p.name for p in folder.iterdir()] == ["notes.txt"] and (folder / "notes.txt").read_text() == "mine"


def test_a_too_small_demo_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(demo, ["--dir", str(tmp_path / "new"), "--contacts", "50"])
    assert result.exit_code == 1 and "--contacts must be at least 200" in result.output
    assert result.output.strip().count("\n") == 0
    assert not (tmp_path / "new").exists()


def test_in_the_demo_folder_the_cli_sees_the_demos_runs_with_nothing_set(demo_run: tuple[Path, str]) -> None:
    folder = demo_run[0]
    # Nothing but the basics: no DAGSTER_HOME, no CONTACT_SYNC_* (the folder's .env says them).
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    done = subprocess.run(
        [COMMAND, "status", "--json"], cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Warning" not in done.stderr
    status = json.loads(done.stdout.strip().splitlines()[-1])
    assert status["scheduling"]["dagster_home"] == str(folder / "dagster_home")
    instance = dg.DagsterInstance.from_config(str(folder / "dagster_home"))
    try:
        demo_runs = {r.run_id for r in instance.get_runs()}
    finally:
        instance.dispose()
    assert {r["run_id"] for r in status["runs"]} == demo_runs and len(demo_runs) == 5


def test_the_demos_figures_agree_in_its_tables_the_report_the_ui_the_health_view_and_status(
    demo_run: tuple[Path, str],
) -> None:
    from contact_sync.pipeline.status import sync_status

    folder, output = demo_run
    instance = dg.DagsterInstance.from_config(str(folder / "dagster_home"))
    try:
        reports = {
            e.run_id: e.asset_materialization.metadata  # type: ignore[union-attr]
            for e in instance.fetch_materializations(dg.AssetKey("sync_report"), limit=20).records
        }
        [health] = instance.fetch_materializations(dg.AssetKey("sync_health"), limit=1).records
    finally:
        instance.dispose()
    ledger = Ledger(PipelineSettings.from_env({"CONTACT_SYNC_DATA_DIR": str(folder / "data")}).database_url)
    try:
        status = {r["run_id"]: r for r in sync_status(ledger, 80.0)["runs"]}
    finally:
        ledger.dispose()
    table = {r.data["run_id"]: r.data for r in health.asset_materialization.metadata["runs"].value.records}  # type: ignore[union-attr]
    assert set(reports) == set(status) == set(table) and len(reports) == 5

    for run_id, metadata in reports.items():
        report = metadata["report"].value
        totals = {k: sum(report[k].values()) for k in ("created", "updated")}
        totals |= {k: report[k] for k in ("skipped", "errors", "conflicts")}
        assert {k: status[run_id][k] for k in totals} == totals, run_id  # status
        assert {k: table[run_id][k] for k in totals} == totals, run_id  # the health view
        assert metadata["created_genesys"].value == report["created"]["genesys"]  # the report's own metadata
        assert metadata["conflicts"].value == report["conflicts"] and metadata["skipped"].value == report["skipped"]
        assert status[run_id]["duration_s"] == table[run_id]["duration_s"] == report["duration_s"]

    # The demo's own tables, run by run (the runs it prints a table for, in order).
    printed = re.findall(r"Dagster run\s+([0-9a-f-]{36})", output)
    labels = {
        "Created in Genesys": lambda r: r["created"]["genesys"],
        "Updated in Genesys": lambda r: r["updated"]["genesys"],
        "Updated in CRM": lambda r: r["updated"]["crm"],
        "Skipped": lambda r: r["skipped"],
        "Errors": lambda r: r["errors"],
        "Conflicts": lambda r: r["conflicts"],
        "Baseline differences": lambda r: r["baseline_differences"],
    }
    for label, figure in labels.items():
        assert figures(output, label) == [figure(reports[r]["report"].value) for r in printed], label
    durations = re.findall(r"^\s*Duration\s+([\d.]+) s\s*$", output, flags=re.M)
    assert durations == [f"{reports[r]['report'].value['duration_s']:.1f}" for r in printed]
    # Duplicates mean one thing everywhere: the seeded duplicates are the records folded into their twin.
    folded = figures(output, "folded into their twin (not created twice)")
    assert folded == figures(output, "of which duplicates of another contact") and folded[0] > 0
    assert figures(output, "CRM records in a duplicate group") == [2 * folded[0]]  # each seeded one has one twin
    # A one-way run of the 100-contact pilot accounts for at most its 100 contacts.
    pilot = reports[printed[0]]["report"].value
    assert pilot["cohort"] == "pilot-001"
    assert pilot["created"]["genesys"] + pilot["updated"]["genesys"] + pilot["skipped"] <= 100
