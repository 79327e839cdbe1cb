"""Benchmark: read 100,000 Salesforce contacts through the connector, by REST pages of 2000 and by Bulk API 2.0.

Seeds the Salesforce simulator (served over TLS on 127.0.0.1, no faults, no rate limit) with N contacts, then times
`SalesforceConnector.read_contacts(None)` both ways (after logging in) and prints records, wall seconds, records/s,
CPU seconds of the process (client and simulator together: they share it) and API calls (the login included). The
target is 100,000 contacts in under 30 s each way.

    .venv/bin/python benchmarks/salesforce_connector_bench.py [--contacts 100000] [--page-size 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from contact_sync.crms.salesforce.connector import SalesforceConnector
from contact_sync.crms.salesforce.settings import SalesforceSettings
from contact_sync.simulators import run_simulators

TARGET_SECONDS = 30.0


def seed(sim: object, n: int) -> float:
    started = time.perf_counter()
    chunk = 10_000
    for start in range(0, n, chunk):
        rows = [
            {
                "FirstName": f"First{i}",
                "LastName": f"Last{i}",
                "Email": f"person{i}@example.org",
                "Phone": f"+1555{i:07d}",
                "MobilePhone": f"+1666{i:07d}",
                "LeadScore__c": float(i % 100),
                "Tags__c": "vip;newsletter" if i % 3 == 0 else None,
            }
            for i in range(start, min(n, start + chunk))
        ]
        sim.load_contacts(rows)  # type: ignore[attr-defined]
    return time.perf_counter() - started


def read(settings: SalesforceSettings, n: int, page_size: int, bulk: bool) -> tuple[int, float, float, dict[str, int]]:
    threshold = 0 if bulk else n + 1
    with SalesforceConnector(settings, page_size=page_size, bulk_threshold=threshold, bulk_poll_seconds=0.2) as sf:
        sf.connect()
        started, cpu_started = time.perf_counter(), time.process_time()
        result = sf.read_contacts(None)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        calls = sf.api_calls
    if len({r["Id"] for r in result.records}) != n:
        raise SystemExit(f"expected {n} distinct contacts, read {len(result.records)}")
    return len(result.records), elapsed, cpu, calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=2000)
    args = parser.parse_args(argv)
    with run_simulators() as sims:
        seeded = seed(sims.salesforce, args.contacts)
        print(f"seeded {args.contacts} contacts in {seeded:.1f}s")
        settings = SalesforceSettings.from_env(sims.env)
        settings = replace(settings, username=None, password=None, security_token=None, session_id=None)
        ok = True
        for label, bulk in ((f"REST queryAll, pages of {args.page_size}", False), ("Bulk API 2.0", True)):
            count, elapsed, cpu, calls = read(settings, args.contacts, args.page_size, bulk)
            verdict = "OK" if elapsed <= TARGET_SECONDS else "SLOWER THAN TARGET"
            ok = ok and elapsed <= TARGET_SECONDS
            rate = count / elapsed
            print(
                f"{label}: {count} contacts in {elapsed:.1f}s ({rate:,.0f}/s), cpu {cpu:.1f}s, "
                f"{sum(calls.values())} calls"
            )
            for endpoint, n in calls.items():
                print(f"    {n:5d}  {endpoint}")
            print(f"    target {TARGET_SECONDS:.0f}s: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
