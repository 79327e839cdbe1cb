"""Benchmark: the Genesys connector against the Genesys simulator on 127.0.0.1.

Three measurements, each printed with its figures and whether the target was met:
1. scan N contacts (default 100,000) with rate limiting off: target under 30 s;
2. update M of them (default 10,000; title and a custom field, merged into each re-fetched contact) with rate
   limiting off: target at most ceil(M/200) x 2 API calls, counted by the simulator (`sim.calls`);
3. with the 300/min limit on in both the simulator and the connector, call the API for D seconds (default 75):
   target a throughput within 10% of the limit and zero 429s.

    .venv/bin/python benchmarks/genesys_connector_bench.py [--contacts 100000] [--updates 10000] [--rate-seconds 75]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter

from contact_sync.connectors.genesys import GenesysConnector
from contact_sync.settings import GenesysSettings
from contact_sync.simulators import serve_simulator
from contact_sync.simulators.genesys import GenesysSimulator

SCAN_TARGET_S = 30.0
LIMIT_PER_MINUTE = 300


def seed(sim: GenesysSimulator, n: int) -> float:
    started = time.perf_counter()
    chunk = 10_000
    for start in range(0, n, chunk):
        sim.load_contacts(
            [
                {
                    "firstName": f"First{i}",
                    "lastName": f"Last{i}",
                    "workEmail": f"person{i}@example.org",
                    "workPhone": {"display": f"+1 317 {200 + i // 10_000:03d} {i % 10_000:04d}"},
                    "address": {"address1": f"{i} Main St", "city": "Indianapolis", "state": "IN"},
                    "customFields": {"tags": ["vip"] if i % 3 == 0 else ["newsletter"]},
                }
                for i in range(start, min(n, start + chunk))
            ]
        )
    return time.perf_counter() - started


def api_calls(calls: Counter[tuple[str, str]]) -> int:
    """Calls to the external contacts API (the token request is not one)."""
    return sum(n for (_, route), n in calls.items() if route.startswith("/api/v2/"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--rate-seconds", type=float, default=75.0)
    args = parser.parse_args()
    ok = True

    with serve_simulator(GenesysSimulator(rate_limit_per_minute=None)) as served:
        sim: GenesysSimulator = served  # type: ignore[assignment]
        settings = GenesysSettings.from_env(sim.env())
        print(f"seeded {args.contacts} contacts in {seed(sim, args.contacts):.1f}s")

        with GenesysConnector(settings, rate_limit=False) as conn:
            conn.ensure_external_source("warm-up")  # token and connection, outside the timings
            before = api_calls(sim.calls)
            started = time.perf_counter()
            rows = conn.scan_contacts()
            scan_s = time.perf_counter() - started
            scan_calls = api_calls(sim.calls) - before
            met = scan_s <= SCAN_TARGET_S and len(rows) == args.contacts == len({r["id"] for r in rows})
            ok &= met
            print(
                f"scan: {len(rows)} contacts in {scan_s:.1f}s ({len(rows) / scan_s:,.0f}/s), {scan_calls} API calls"
                f" -> target <= {SCAN_TARGET_S:.0f}s, every contact once: {'MET' if met else 'NOT MET'}"
            )

            chosen = rows[: args.updates]
            snapshot = {r["id"]: r["modifyDate"] for r in chosen}
            changes = {r["id"]: {"title": "Benchmarked", "customFields.score": 42} for r in chosen}
            before = api_calls(sim.calls)
            started = time.perf_counter()
            report = conn.update_contacts(changes, snapshot)
            update_s = time.perf_counter() - started
            update_calls = api_calls(sim.calls) - before
            budget = math.ceil(args.updates / 200) * 2
            kept = sum(1 for r in conn.get_contacts(list(snapshot)[:200]) if r.get("address") and r.get("workPhone"))
            met = update_calls <= budget and report.counts() == {"updated": len(chosen)}
            ok &= met
            print(
                f"update: {report.counts()} in {update_s:.1f}s, {update_calls} API calls counted by the simulator"
                f" ({report.api_calls} by the connector); unmanaged fields kept on {kept}/200 checked"
                f" -> target <= {budget} calls: {'MET' if met else 'NOT MET'}"
            )

        sim.set_rate_limit(LIMIT_PER_MINUTE)
        limited = GenesysSettings.from_env({**sim.env(), "GENESYS_RATE_LIMIT_PER_MINUTE": str(LIMIT_PER_MINUTE)})
        ids = [r["id"] for r in rows[:200]]
        with GenesysConnector(limited) as conn:
            conn.get_contacts(ids[:1])  # token first
            before_calls = api_calls(sim.calls)
            started = time.perf_counter()
            done = 0
            while time.perf_counter() - started < args.rate_seconds:
                conn.get_contacts([ids[done % len(ids)]])
                done += 1
            elapsed = time.perf_counter() - started
            served_calls = api_calls(sim.calls) - before_calls
            per_minute = done / elapsed * 60
            rejected = conn.api_calls.events["429"]
            met = rejected == 0 and abs(per_minute - LIMIT_PER_MINUTE) <= 0.1 * LIMIT_PER_MINUTE
            ok &= met
            print(
                f"rate limited: {done} calls in {elapsed:.1f}s = {per_minute:.1f}/min "
                f"(simulator served {served_calls}), {rejected} answered 429"
                f" -> target {LIMIT_PER_MINUTE}/min within 10% and zero 429s: {'MET' if met else 'NOT MET'}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
