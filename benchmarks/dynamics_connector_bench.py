"""Benchmark: the Dynamics 365 connector reading N contacts (default 100,000) from the Dynamics simulator on 127.0.0.1.

Measures the read that starts a first Dynamics -> Genesys sync (the issue's target: the whole first sync of 100,000
contacts within 5 minutes; this read is one part of it): a change-tracking read of every contact (5000 a page,
client-side rate limit off), the delta read after 1,000 edits and 100 deletes, and the full read by `modifiedon`
with change tracking turned off. Prints the times, the API calls
(connector count and the simulator's own), and checks every contact came back exactly once.

    .venv/bin/python benchmarks/dynamics_connector_bench.py [--contacts 100000] [--page-size 5000]
"""

from __future__ import annotations

import argparse
import sys
import time

from contact_sync.crms.dynamics.connector import DynamicsConnector
from contact_sync.crms.dynamics.settings import DynamicsSettings
from contact_sync.simulators import serve_simulator
from contact_sync.simulators.dynamics import DynamicsSimulator

FIRST_SYNC_TARGET_S = 300.0


def seed(sim: DynamicsSimulator, n: int) -> tuple[list[str], float]:
    started = time.perf_counter()
    accounts = sim.load_accounts([{"name": f"Account {i}"} for i in range(max(1, n // 100))])
    ids: list[str] = []
    chunk = 10_000
    for start in range(0, n, chunk):
        ids += sim.load_contacts(
            [
                {
                    "firstname": f"First{i}",
                    "lastname": f"Last{i}",
                    "emailaddress1": f"person{i}@example.org",
                    "telephone1": f"+1 317 {200 + i // 10_000:03d} {i % 10_000:04d}",
                    "parentcustomerid": accounts[i % len(accounts)],
                }
                for i in range(start, min(n, start + chunk))
            ]
        )
    return ids, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=5000)
    args = parser.parse_args()

    # Service protection off in the simulator too ("rate limits off", as the target says).
    sim = DynamicsSimulator(service_protection_limit=None)
    with serve_simulator(sim):
        ids, seeded = seed(sim, args.contacts)
        print(f"seeded {len(ids):,} contacts in {seeded:.1f} s (not part of any figure)")
        settings = DynamicsSettings.from_env(sim.env())
        with DynamicsConnector(settings, page_size=args.page_size, rate_limit_per_minute=None) as dyn:
            dyn._tokens.token()  # the token request is made before the timed part
            sim.calls.clear()
            started = time.perf_counter()
            cpu = time.process_time()
            first = dyn.read_contacts(None)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            got = [r["contactid"] for r in first.records]
            complete = len(got) == len(set(got)) == len(ids) and set(got) == set(ids)
            print(
                f"full read: {len(got):,} contacts in {elapsed:.1f} s wall / {cpu:.1f} s CPU "
                f"({len(got) / elapsed:,.0f}/s), {first.api_calls} API calls "
                f"(simulator counted {sum(sim.calls.values())}), every contact exactly once: {complete}"
            )

            for i in ids[:1000]:
                sim.edit_contact(i, firstname="Edited")
            for i in ids[1000:1100]:
                sim.delete_contact(i)
            started = time.perf_counter()
            delta = dyn.read_contacts(first.watermark)
            delta_s = time.perf_counter() - started
            delta_ok = len(delta.records) == 1100 and len(delta.deleted_ids) == 100
            print(
                f"delta read after 1,000 edits and 100 deletes: {len(delta.records):,} rows "
                f"({len(delta.deleted_ids)} deletes) in {delta_s:.2f} s, {delta.api_calls} API calls, correct: "
                f"{delta_ok}"
            )
            sim.set_change_tracking(False)
            started = time.perf_counter()
            fallback = dyn.read_contacts(None)
            fallback_s = time.perf_counter() - started
            fallback_ok = len(fallback.records) == len(ids) - 100 and dyn.last_read_mode == "modifiedon"
            print(
                f"full read with change tracking off ($orderby=modifiedon): {len(fallback.records):,} contacts in "
                f"{fallback_s:.1f} s, {fallback.api_calls} API calls (one refused track-changes call), correct: "
                f"{fallback_ok}"
            )
            print(f"calls by endpoint: {dyn.api_calls}")
    share = elapsed / FIRST_SYNC_TARGET_S
    print(f"the full read takes {share:.0%} of the 5-minute first-sync budget")
    return 0 if complete and delta_ok and fallback_ok else 1


if __name__ == "__main__":
    sys.exit(main())
