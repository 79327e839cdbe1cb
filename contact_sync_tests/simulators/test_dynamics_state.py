"""Dynamics simulator: a state folder keeps rows, tokens, row versions and change tracking across restarts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from contact_sync.simulators import serve_simulator
from contact_sync.simulators.dynamics import DynamicsSimulator
from contact_sync_tests.simulators.dynamics_fixtures import api_client, contact_body, read_all
from contact_sync_tests.simulators.shared_fixtures import tls


def test_state_folder_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "dynamics-state"
    first = DynamicsSimulator(state, service_protection_limit=None)
    with serve_simulator(first), api_client(first) as c:
        (account,) = first.load_accounts([{"name": "Acme"}])
        created = c.post(
            "/contacts",
            json=contact_body(**{"parentcustomerid_account@odata.bind": f"/accounts({account})"}),
            headers={"Prefer": "return=representation"},
        ).json()
        seeded = first.load_contacts([{"firstname": f"S{i}", "lastname": "Seed"} for i in range(30)])
        _, last = read_all(c, "/contacts", 10, prefer="odata.track-changes")
        delta_link = last["@odata.deltaLink"]
        token = c.headers["Authorization"]
        last_version = max(first.contact(i)["versionnumber"] for i in seeded)  # type: ignore[index]

    second = DynamicsSimulator(state, service_protection_limit=None)
    with serve_simulator(second), httpx.Client(base_url=second.api_url, verify=tls(second)) as c:
        c.headers["Authorization"] = token  # tokens survive too
        got = c.get(f"/contacts({created['contactid']})").json()
        assert {k: v for k, v in got.items() if k != "@odata.context"} == {
            k: v for k, v in created.items() if k != "@odata.context"
        }
        assert got["_parentcustomerid_value"] == account
        assert second.count() == 31
        assert {second.contact(i)["firstname"] for i in seeded} == {f"S{i}" for i in range(30)}  # type: ignore[index]
        # Row versions keep counting (an ETag never repeats), and the old delta link still works (on the new port).
        second.edit_contact(seeded[3], firstname="AfterRestart")
        assert second.contact(seeded[3])["versionnumber"] > last_version  # type: ignore[index]
        link = delta_link.replace(first.url, second.url)
        changed = c.get(link, headers={"Prefer": "odata.track-changes"}).json()["value"]
        assert [(r["contactid"], r["firstname"]) for r in changed] == [(seeded[3], "AfterRestart")]


def test_two_simulators_on_one_folder_see_each_others_writes(tmp_path: Path) -> None:
    state = tmp_path / "shared"
    a = DynamicsSimulator(state)
    b = DynamicsSimulator(state)
    try:
        (cid,) = a.load_contacts([contact_body()])
        assert b.contact(cid)["firstname"] == "Ann"  # type: ignore[index]
        b.edit_contact(cid, firstname="Annie")
        assert a.contact(cid)["firstname"] == "Annie"  # type: ignore[index]
        a.delete_contact(cid)
        assert b.count() == 0
    finally:
        a.close()
        b.close()


def test_another_process_on_the_folder_sees_the_same_data(tmp_path: Path) -> None:
    state = tmp_path / "processes"
    here = DynamicsSimulator(state)
    try:
        (cid,) = here.load_contacts([contact_body(firstname="FromParent")])
        script = (
            "import sys\n"
            "from contact_sync.simulators.dynamics import DynamicsSimulator\n"
            "sim = DynamicsSimulator(sys.argv[1])\n"
            "print(sim.contact(sys.argv[2])['firstname'])\n"
            "sim.edit_contact(sys.argv[2], firstname='FromChild')\n"
            "sim.load_contacts([{'lastname': 'Child'}])\n"
            "sim.close()\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script, str(state), cid], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "FromParent"
        assert here.contact(cid)["firstname"] == "FromChild"  # type: ignore[index]
        assert here.count() == 2
    finally:
        here.close()
