"""Change-to-other-side latency with the `sync_on_change` sensor and the Dagster daemon running, and the sensor's API
cost per idle minute.

    python benchmarks/change_latency_bench.py [--edits 50] [--contacts 200] [--gap-s 20] [--idle-s 180]

Starts the Salesforce and Genesys simulators in this process (their defaults: a Genesys export takes 1 s), points a
fresh data folder and DAGSTER_HOME (this repository's `dagster.yaml`) at them in bidirectional mode, seeds
`--contacts` Salesforce contacts and runs two syncs from the CLI (the first load and its follow-up). Then it turns the
sensor on (the 30-minute schedule off, so every run is the sensor's), starts `dagster-daemon run` and makes
`--edits` single edits on each side, alternating, one every `--gap-s` seconds whatever is running, each on a contact
no other edit touches. An edit's latency is from the edit to the moment its value is on the other side (polled every
0.25 s in the simulator's store, which costs no API call). After the last edit has arrived and the runs it caused are
over, it counts the calls both simulators answer during `--idle-s` idle seconds.

Prints p50/p95/max per direction and the calls per idle minute, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from contact_sync.connectors.genesys import GenesysConnector
from contact_sync.ledger import Ledger
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.settings import GenesysSettings
from contact_sync.simulators import RunningSimulators, run_simulators

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(BIN / args[0]), *args[1:]], env=env, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done


def calls(sims: RunningSimulators) -> int:
    return sum(sims.salesforce.calls.values()) + sum(sims.genesys.calls.values())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def runs_in_progress(env: dict[str, str]) -> int:
    with Ledger.opened(PipelineSettings.from_env(env).database_url) as ledger:
        return sum(1 for run in ledger.recent_runs(20) if run.status == "running")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=50, help="single edits per side")
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument("--gap-s", type=float, default=20.0, help="seconds between two edits")
    parser.add_argument("--idle-s", type=float, default=180.0)
    parser.add_argument("--timeout-s", type=float, default=900.0, help="give up on an edit after this long")
    args = parser.parse_args()
    if args.contacts < 2 * args.edits:
        parser.error("--contacts must be at least twice --edits (every edit on its own contact)")

    with tempfile.TemporaryDirectory(prefix="contact-sync-latency-") as scratch, run_simulators() as sims:
        folder = Path(scratch)
        (folder / "home").mkdir()
        shutil.copy(REPO / "dagster.yaml", folder / "home" / "dagster.yaml")
        base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        env = (
            base
            | sims.env
            | {
                "CONTACT_SYNC_DATA_DIR": str(folder / "data"),
                "DAGSTER_HOME": str(folder / "home"),
                "CONTACT_SYNC_MODE": "bidirectional",
                "CONTACT_SYNC_DEPLOYMENT": "live",
            }
        )
        crm_ids = sims.salesforce.load_contacts(
            [
                {"FirstName": f"First{i}", "LastName": f"Latency{i}", "Email": f"latency{i}@example.com"}
                for i in range(args.contacts)
            ]
        )
        for _ in range(2):
            cli(env, "contact-sync", "sync", "--json")
        with GenesysConnector(GenesysSettings.from_env(sims.env), rate_limit=False) as genesys:
            genesys_id = {
                link["value"]: contact["id"]
                for contact in genesys.scan_contacts()
                for link in contact.get("externalIds") or []
                if link["externalSource"].get("name") == "Salesforce"
            }
        assert set(crm_ids) <= set(genesys_id), "the first sync did not link every contact"

        cli(env, "dagster", "schedule", "stop", "sync_every_30_minutes", "-w", "workspace.yaml")
        cli(env, "dagster", "sensor", "start", "sync_on_change", "-w", "workspace.yaml")
        log = open(folder / "daemon.log", "w")  # noqa: SIM115 (closed below, after the daemon)
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env=env, cwd=REPO, stdout=log, stderr=log
        )
        latencies: dict[str, list[float]] = {"salesforce->genesys": [], "genesys->salesforce": []}
        lost: list[str] = []
        try:
            pending: list[tuple[str, str, str, float]] = []  # (direction, record id, value, edited at)
            total = 2 * args.edits
            next_edit = time.monotonic() + 5
            made = 0
            while made < total or pending:
                now = time.monotonic()
                if made < total and now >= next_edit:
                    crm_id = crm_ids[made]
                    value = f"Edit{made}"
                    if made % 2 == 0:
                        sims.salesforce.edit_contact(crm_id, FirstName=value)
                        pending.append(("salesforce->genesys", genesys_id[crm_id], value, time.monotonic()))
                    else:
                        sims.genesys.edit_contact(genesys_id[crm_id], {"firstName": value})
                        pending.append(("genesys->salesforce", crm_id, value, time.monotonic()))
                    made += 1
                    next_edit += args.gap_s
                still: list[tuple[str, str, str, float]] = []
                for direction, record_id, value, edited_at in pending:
                    if direction == "salesforce->genesys":
                        arrived = (sims.genesys.contact(record_id) or {}).get("firstName") == value
                    else:
                        arrived = (sims.salesforce.contact(record_id) or {}).get("FirstName") == value
                    if arrived:
                        latencies[direction].append(time.monotonic() - edited_at)
                    elif time.monotonic() - edited_at > args.timeout_s:
                        lost.append(f"{direction} {record_id} {value}")
                    else:
                        still.append((direction, record_id, value, edited_at))
                pending = still
                time.sleep(0.25)
            settle = time.monotonic()
            while time.monotonic() - settle < 300:  # the follow-up runs of the last edits
                time.sleep(60)  # more than one tick with nothing running
                if runs_in_progress(env) == 0:
                    break
            before, started = calls(sims), time.monotonic()
            time.sleep(args.idle_s)
            idle_calls, idle_s = calls(sims) - before, time.monotonic() - started
            runs_during_idle = runs_in_progress(env)
        finally:
            daemon.terminate()
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                daemon.kill()
            log.close()
        with Ledger.opened(PipelineSettings.from_env(env).database_url) as ledger:
            runs = [r for r in ledger.recent_runs(1000) if not r.dry_run]

    result: dict[str, Any] = {"edits_per_side": args.edits, "gap_s": args.gap_s, "lost": lost, "sync_runs": len(runs)}
    everything = [v for values in latencies.values() for v in values]
    for direction, values in [*latencies.items(), ("all", everything)]:
        if values:
            result[direction] = {
                "n": len(values),
                "p50_s": round(statistics.median(values), 1),
                "p95_s": round(percentile(values, 0.95), 1),
                "max_s": round(max(values), 1),
            }
            print(f"{direction}: {result[direction]}")
    result["idle"] = {
        "calls": idle_calls,
        "seconds": round(idle_s, 1),
        "calls_per_minute": round(idle_calls * 60 / idle_s, 2),
        "runs_in_progress_after": runs_during_idle,
    }
    print(f"idle: {result['idle']}; sync runs in all: {len(runs)}; edits lost: {len(lost)}")
    print(json.dumps(result))
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
