"""The bulk write paths against the ones they replace, side by side in one run: Genesys creates through bulk enrich
and through bulk add, Dynamics creates through CreateMultiple and one request per record.

    python benchmarks/bulk_paths_bench.py [--records 10000]

Each path creates `--records` new contacts in an empty simulator (served on 127.0.0.1 over real HTTP, rate limits
off) through the project's connector; the figures are wall time and the calls the connector counted (the token
included). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from typing import Any

from contact_sync.connectors.genesys import GenesysConnector
from contact_sync.crms.dynamics.connector import DynamicsConnector
from contact_sync.crms.dynamics.settings import DynamicsSettings
from contact_sync.settings import GenesysSettings
from contact_sync.simulators import serve_simulator
from contact_sync.simulators.dynamics import DynamicsSimulator
from contact_sync.simulators.genesys import GenesysSimulator


def timed(run: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def genesys_creates(records: int, use_enrich: bool) -> dict[str, Any]:
    with serve_simulator(GenesysSimulator(rate_limit_per_minute=None)) as sim:
        settings = GenesysSettings.from_env(sim.env())  # type: ignore[attr-defined]
        with GenesysConnector(settings, rate_limit=False, use_enrich=use_enrich) as conn:
            source = conn.ensure_external_source("Salesforce")
            before = conn.api_calls.total
            items = [
                (
                    f"003B{i:011d}",
                    {
                        "firstName": f"First{i}",
                        "lastName": f"Bench{i}",
                        "workEmail": f"bench{i}@example.com",
                        "externalIds": [{"externalSource": {"id": source["id"]}, "value": f"003B{i:011d}"}],
                    },
                )
                for i in range(records)
            ]
            report, seconds = timed(lambda: conn.create_contacts(items))
            assert report.counts() == {"created": records}, report.counts()
            assert sim.count() == records  # type: ignore[attr-defined]
            return {"calls": conn.api_calls.total - before, "seconds": round(seconds, 1)}


def dynamics_creates(records: int, batch: int) -> dict[str, Any]:
    with serve_simulator(DynamicsSimulator(service_protection_limit=None)) as sim:
        settings = DynamicsSettings.from_env(sim.env())  # type: ignore[attr-defined]
        with DynamicsConnector(settings, rate_limit_per_minute=None, create_batch_size=batch) as conn:
            items = [
                (f"k{i}", {"firstname": f"First{i}", "lastname": f"Bench{i}", "emailaddress1": f"b{i}@example.com"})
                for i in range(records)
            ]
            report, seconds = timed(lambda: conn.create_contacts(items))
            assert report.counts() == {"created": records}, report.counts()
            assert sim.count() == records  # type: ignore[attr-defined]
            return {"calls": report.api_calls, "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    args = parser.parse_args()
    n = args.records
    results = {
        "genesys bulk enrich (200 a call)": genesys_creates(n, use_enrich=True),
        "genesys bulk add (200 a call)": genesys_creates(n, use_enrich=False),
        "dynamics CreateMultiple (100 a call)": dynamics_creates(n, batch=100),
        "dynamics one request per record (4 workers)": dynamics_creates(n, batch=0),
    }
    print(f"{'path':46} {'calls':>7} {'seconds':>8}")
    for path, figures in results.items():
        print(f"{path:46} {figures['calls']:>7} {figures['seconds']:>8}")
    print(f"target: Genesys bulk enrich in at most ceil({n}/200) = {math.ceil(n / 200)} calls (+1 token)")
    print(json.dumps({"records": n, **results}))


if __name__ == "__main__":
    main()
