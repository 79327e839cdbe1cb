"""Runs that cannot collide and crashes that heal, tried the way operators break things: two `contact-sync sync`
processes started at the same moment on a fresh Dagster home, and a sync killed with -9 in the middle of its
writes, followed by the next sync."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy

from contact_sync.definitions import defs
from contact_sync.ledger import Ledger
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.simulators import RunningSimulators

COMMAND = str(Path(sys.executable).with_name("contact-sync"))
PAIR = "salesforce-genesys"
PEOPLE = 30


def _environment(cli_env: dict[str, str], home: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return base | cli_env | {"DAGSTER_HOME": str(home)}


def _load_people(sims: RunningSimulators) -> None:
    sims.salesforce.load_contacts(
        [{"FirstName": "Pat", "LastName": f"Person{i}", "Email": f"pat{i}@example.com"} for i in range(PEOPLE)]
    )


def _report(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_two_syncs_started_at_once_on_a_fresh_home_create_every_contact_once(
    sims: RunningSimulators, cli_env: dict[str, str], tmp_path: Path
) -> None:
    _load_people(sims)
    env = _environment(cli_env, tmp_path / "fresh-home")  # does not exist yet: both commands create it

    started = [
        subprocess.Popen(
            [COMMAND, "sync", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [(process.wait(timeout=300), *process.communicate()) for process in started]

    assert sims.genesys.count() == PEOPLE  # nobody created twice
    for code, stdout, stderr in results:
        assert "Traceback" not in stderr and "alembic" not in (stdout + stderr).lower(), stderr[-2000:]
        if code != 0:  # refused while the other ran: one line saying so
            assert "another sync of salesforce-genesys is in progress" in stderr, stderr[-2000:]
    created = [_report(stdout)["created"]["genesys"] for code, stdout, _ in results if code == 0]
    assert sum(created) == PEOPLE and created  # one wrote everything; the other (if it ran after) nothing
    # The home is healthy: the next command runs and has nothing left to do.
    again = subprocess.run([COMMAND, "sync", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert _report(again.stdout)["created"]["genesys"] == 0


def test_a_sync_killed_with_minus_9_is_closed_by_the_next_sync_which_then_runs(
    sims: RunningSimulators, cli_env: dict[str, str], tmp_path: Path
) -> None:
    _load_people(sims)
    home = tmp_path / "home"
    env = _environment(cli_env, home)
    ledger = Ledger(PipelineSettings.from_env(env).database_url)
    # Genesys answers creates slowly, so the run is caught in the middle of its writes.
    sims.genesys.set_faults([{"kind": "slow", "path": "bulk/contacts", "delay": 20}])
    victim = subprocess.Popen([COMMAND, "sync"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        lock = None
        while time.monotonic() < deadline and lock is None:
            time.sleep(0.5)
            try:
                lock = ledger.lock(PAIR)
            except Exception:  # the ledger is being created by the victim
                lock = None
        assert lock is not None, "the sync never took the pair's lock"
        time.sleep(3)  # into the slow creates
    finally:
        victim.kill()
        victim.wait()
    sims.genesys.set_faults([])

    after = subprocess.run([COMMAND, "sync", "--json"], env=env, capture_output=True, text=True, timeout=300)

    assert after.returncode == 0, after.stderr[-2000:]
    assert sims.genesys.count() == PEOPLE  # what the dead run sent is linked by its CRM id, not sent again
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        killed = instance.get_run_by_id(str(lock["run_id"]))
        assert killed is not None and killed.status == dg.DagsterRunStatus.FAILURE
    finally:
        instance.dispose()
    alerts = [a for a in ledger.recent_alerts(20) if a.kind == "run_failed"]
    assert any(str(lock["run_id"]) in a.message and "gone" in a.message for a in alerts)
    assert ledger.lock(PAIR) is None  # the next run gave its lock back at its end
    # Every contact's creation is in the audit, with its Genesys id, whichever run's create the service applied.
    links = ledger.links(crm_system="salesforce")
    audit = ledger.audit_for_ids(links["genesys_id"].tolist())
    created = audit[(audit["reason"] == "created") & (audit["field"] == "last_name")]
    assert set(created["genesys_id"]) == set(links["genesys_id"]) and len(links) == PEOPLE
    assert created["genesys_id"].is_unique  # one creation each, not one per run that tried
    ledger.dispose()


def test_a_run_started_elsewhere_whose_process_died_holding_the_lock_is_closed_too(
    sims: RunningSimulators, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """A run launched from the UI or a schedule carries no process tag; the lock it holds names its process."""
    _load_people(sims)
    env = _environment(cli_env, tmp_path / "home")
    first = subprocess.run([COMMAND, "sync", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    instance = dg.DagsterInstance.from_config(str(tmp_path / "home"))
    ledger = Ledger(PipelineSettings.from_env(env).database_url)
    try:
        # A run the UI started, whose worker process was killed while it held the lock.
        stuck = instance.create_run_for_job(
            defs.resolve_job_def("sync_one_way"),
            tags={"contact_sync/pair": PAIR, "dagster/partition": "all"},
        )
        instance.handle_run_event(
            stuck.run_id,
            dg.DagsterEvent(event_type_value="PIPELINE_START", job_name=stuck.job_name, message="started"),
        )
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        owner = f"{socket.gethostname()}:{worker.pid}"
        ledger.claim_lock(PAIR, stuck.run_id, owner, 3600)
        worker.kill()
        worker.wait()
        assert instance.get_run_by_id(stuck.run_id).status == dg.DagsterRunStatus.STARTED

        after = subprocess.run([COMMAND, "sync", "--json"], env=env, capture_output=True, text=True, timeout=300)

        assert after.returncode == 0, after.stderr[-2000:]
        assert instance.get_run_by_id(stuck.run_id).status == dg.DagsterRunStatus.FAILURE
        assert ledger.lock(PAIR) is None
    finally:
        instance.dispose()
        ledger.dispose()


@pytest.mark.parametrize("kind", ["lost", "drop"])
def test_a_bulk_create_whose_answer_was_lost_is_sent_again_and_makes_each_contact_once(
    sims: RunningSimulators, cli_env: dict[str, str], tmp_path: Path, kind: str
) -> None:
    """30 creates in one bulk enrich whose answer is lost (applied by the service, or not): the same enrich is sent
    again, which updates what the first one created, so the run creates every contact exactly once, looks none up,
    and writes one `created` audit row each; the next sync has nothing to create."""
    _load_people(sims)
    env = _environment(cli_env, tmp_path / "home")
    sims.genesys.set_faults([{"kind": kind, "path": "/bulk/contacts/enrich", "count": 1}])
    first = subprocess.run([COMMAND, "sync", "--json"], env=env, capture_output=True, text=True, timeout=300)
    fired = len(sims.genesys.faults.fired)
    sims.genesys.set_faults([])
    assert fired == 1, "the fault never fired: the test proved nothing"
    assert first.returncode == 0, first.stderr[-2000:]
    report = _report(first.stdout)
    assert report["created"]["genesys"] == PEOPLE and report["errors"] == 0
    assert not [call for call in report["api_calls"] if "identifierlookup" in call]
    assert report["api_calls"]["genesys POST /api/v2/externalcontacts/bulk/contacts/enrich"] == 2
    assert sims.genesys.count() == PEOPLE

    again = subprocess.run([COMMAND, "sync", "--json"], env=env, capture_output=True, text=True, timeout=300)

    assert again.returncode == 0, again.stderr[-2000:]
    assert _report(again.stdout)["created"]["genesys"] == 0
    assert sims.genesys.count() == PEOPLE
    ledger = Ledger(PipelineSettings.from_env(env).database_url)
    try:
        links = ledger.links(crm_system="salesforce")
        assert len(links) == PEOPLE
        audit = ledger.audit_for_ids(links["genesys_id"].tolist())
        created = audit[(audit["reason"] == "created") & (audit["field"] == "last_name")]
        assert set(created["genesys_id"]) == set(links["genesys_id"]) and created["genesys_id"].is_unique
        assert set(created["run_id"]) == {report["run_id"]}
    finally:
        ledger.dispose()


def test_a_creation_the_service_applied_before_the_run_died_stays_in_the_audit(
    sims: RunningSimulators, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The ledger as a run leaves it when it dies right after Genesys applied its creates: the `created` audit rows
    (written first) without the new ids, and no links. The next sync links the contacts by the CRM id they carry and
    completes those rows, so `trace` shows each creation once."""
    _load_people(sims)
    env = _environment(cli_env, tmp_path / "home")
    first = subprocess.run([COMMAND, "sync", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    url = PipelineSettings.from_env(env).database_url
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:  # what a run that died after the service's answer leaves behind
        connection.execute(sqlalchemy.text("DELETE FROM sync_links"))
        connection.execute(sqlalchemy.text("DELETE FROM sync_base_values"))
        connection.execute(
            sqlalchemy.text("UPDATE sync_audit SET genesys_id = NULL, record_id = NULL WHERE reason = 'created'")
        )
    engine.dispose()

    again = subprocess.run([COMMAND, "sync", "--json"], env=env, capture_output=True, text=True, timeout=300)

    assert again.returncode == 0, again.stderr[-2000:]
    assert _report(again.stdout)["created"]["genesys"] == 0 and sims.genesys.count() == PEOPLE
    ledger = Ledger(url)
    try:
        links = ledger.links(crm_system="salesforce")
        assert len(links) == PEOPLE and set(links["rule"]) == {"external_id"}
        audit = ledger.audit_for_ids(links["genesys_id"].tolist())
        created = audit[(audit["reason"] == "created") & (audit["field"] == "last_name")]
        assert set(created["genesys_id"]) == set(links["genesys_id"]) and created["genesys_id"].is_unique
        assert set(created["run_id"]) == {_report(first.stdout)["run_id"]}  # the run that created them
    finally:
        ledger.dispose()


def test_an_update_the_service_applied_before_the_run_died_is_traced_by_the_next_run(
    sims: RunningSimulators, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """A run dies after Genesys applied an update but before its audit row and base were written: the next sync
    finds both sides holding the new value and records where it went (`found in sync`, old -> new), once."""
    ids = sims.salesforce.load_contacts([{"FirstName": "Pat", "LastName": "Before", "Email": "pat@example.com"}])
    env = _environment(cli_env, tmp_path / "home")
    assert subprocess.run([COMMAND, "sync"], env=env, capture_output=True, timeout=300).returncode == 0
    sims.salesforce.edit_contact(ids[0], LastName="After")
    assert subprocess.run([COMMAND, "sync"], env=env, capture_output=True, timeout=300).returncode == 0
    url = PipelineSettings.from_env(env).database_url
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:  # what a run that died right after the service's answer leaves behind
        connection.execute(sqlalchemy.text("DELETE FROM sync_audit WHERE reason = 'crm change'"))
        connection.execute(
            sqlalchemy.text("UPDATE sync_base_values SET value = :old WHERE field = 'last_name'"), {"old": '"Before"'}
        )
    engine.dispose()

    for _ in range(2):  # the second run finds nothing new to record
        again = subprocess.run([COMMAND, "sync", "--json"], env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-2000:]
        assert _report(again.stdout)["updated"] == {"genesys": 0, "crm": 0}

    trace = subprocess.run([COMMAND, "trace", ids[0], "--json"], env=env, capture_output=True, text=True, timeout=120)
    changes = [c for c in json.loads(trace.stdout)["changes"] if c["field"] == "last_name"]
    assert [(c["reason"], c["old_value"], c["new_value"]) for c in changes] == [
        ("created", None, "Before"),
        ("found in sync", "Before", "After"),
    ]
