"""The bulk write paths against the ones they replace, side by side in one run: Genesys creates through bulk enrich and
through bulk add, Dynamics creates through CreateMultiple and updates through $batch (each against one request per
record), Salesforce creates and updates through one Bulk API 2.0 ingest job and through sObject Collections (200 a
call).

    python benchmarks/bulk_paths_bench.py [--records 10000] [--salesforce-latency-ms 0]

Each path creates `--records` new contacts in an empty simulator (served on 127.0.0.1 over real HTTP, rate limits
off) through the project's connector; the Salesforce and Dynamics updates then change every one of them. The figures
are wall time and the calls the connector counted for the write (Genesys: after its token and source lookup;
Dynamics and Salesforce: the token or login included). `--salesforce-latency-ms` delays every Salesforce data call
by that much (the simulator's `slow` fault) to model a service farther away than 127.0.0.1; Salesforce's own
processing time of a Bulk job is not modelled (the simulator processes a job at once). Prints a table and one JSON
line.
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
from contact_sync.crms.salesforce.connector import SalesforceConnector
from contact_sync.crms.salesforce.settings import SalesforceSettings
from contact_sync.settings import GenesysSettings
from contact_sync.simulators import serve_simulator
from contact_sync.simulators.dynamics import DynamicsSimulator
from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync.simulators.salesforce import SalesforceSimulator


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


def dynamics_writes(records: int, batch: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(creates, updates) of `records` contacts: CreateMultiple and $batch updates of `batch` records a call, or
    one request a record (`batch` 0)."""
    with serve_simulator(DynamicsSimulator(service_protection_limit=None)) as sim:
        settings = DynamicsSettings.from_env(sim.env())  # type: ignore[attr-defined]
        with DynamicsConnector(
            settings, rate_limit_per_minute=None, create_batch_size=batch, update_batch_size=batch
        ) as conn:
            items = [
                (f"k{i}", {"firstname": f"First{i}", "lastname": f"Bench{i}", "emailaddress1": f"b{i}@example.com"})
                for i in range(records)
            ]
            report, seconds = timed(lambda: conn.create_contacts(items))
            assert report.counts() == {"created": records}, report.counts()
            assert sim.count() == records  # type: ignore[attr-defined]
            etags = {r["contactid"]: r["@odata.etag"] for r in conn.read_contacts(None).records}
            changes = {i: {"telephone1": f"+1555{n:07d}"} for n, i in enumerate(etags)}
            updated, update_s = timed(lambda: conn.update_contacts(changes, etags))
            assert updated.counts() == {"updated": records}, updated.counts()
            return (
                {"calls": report.api_calls, "seconds": round(seconds, 1)},
                {"calls": updated.api_calls, "seconds": round(update_s, 1)},
            )


def salesforce_writes(records: int, bulk: bool, latency_ms: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(creates, updates) of `records` contacts, through one Bulk API 2.0 job each or sObject Collections."""
    with serve_simulator(SalesforceSimulator(daily_api_limit=10_000_000)) as sim:
        if latency_ms:
            sim.set_faults([{"kind": "slow", "path": "^/services/data/", "delay": latency_ms / 1000}])  # type: ignore[attr-defined]
        settings = SalesforceSettings.from_env(sim.env())  # type: ignore[attr-defined]
        threshold = 1 if bulk else 0
        with SalesforceConnector(settings, bulk_write_threshold=threshold, bulk_poll_seconds=0.2) as conn:
            items = [
                (f"k{i}", {"FirstName": f"First{i}", "LastName": f"Bench{i}", "Email": f"b{i}@example.com"})
                for i in range(records)
            ]
            created, create_s = timed(lambda: conn.create_contacts(items))
            assert created.counts() == {"created": records}, created.counts()
            assert sim.count() == records  # type: ignore[attr-defined]
            ids = [o.record_id for o in created.outcomes]
            stamps = {r["Id"]: r["SystemModstamp"] for r in conn.read_contacts(None).records}
            changes = {i: {"Phone": f"+1555{n:07d}"} for n, i in enumerate(ids)}
            updated, update_s = timed(lambda: conn.update_contacts(changes, stamps))  # type: ignore[arg-type]
            assert updated.counts() == {"updated": records}, updated.counts()
            return (
                {"calls": created.api_calls, "seconds": round(create_s, 1)},
                {"calls": updated.api_calls, "seconds": round(update_s, 1)},
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--salesforce-latency-ms", type=int, default=0)
    args = parser.parse_args()
    n, latency = args.records, args.salesforce_latency_ms
    sf_bulk_create, sf_bulk_update = salesforce_writes(n, bulk=True, latency_ms=latency)
    sf_coll_create, sf_coll_update = salesforce_writes(n, bulk=False, latency_ms=latency)
    dyn_bulk_create, dyn_batch_update = dynamics_writes(n, batch=100)
    dyn_each_create, dyn_each_update = dynamics_writes(n, batch=0)
    results = {
        "genesys bulk enrich (200 a call)": genesys_creates(n, use_enrich=True),
        "genesys bulk add (200 a call)": genesys_creates(n, use_enrich=False),
        "dynamics CreateMultiple (100 a call)": dyn_bulk_create,
        "dynamics creates, one request per record (4 workers)": dyn_each_create,
        "dynamics updates, $batch (100 a call, If-Match each)": dyn_batch_update,
        "dynamics updates, one request per record (4 workers)": dyn_each_update,
        "salesforce creates, one Bulk API 2.0 job": sf_bulk_create,
        "salesforce creates, sObject Collections": sf_coll_create,
        "salesforce updates, one Bulk API 2.0 job": sf_bulk_update,
        "salesforce updates, sObject Collections": sf_coll_update,
    }
    print(f"{'path':54} {'calls':>7} {'seconds':>8}")
    for path, figures in results.items():
        print(f"{path:54} {figures['calls']:>7} {figures['seconds']:>8}")
    print(f"target: Genesys bulk enrich in at most ceil({n}/200) = {math.ceil(n / 200)} calls")
    print(json.dumps({"records": n, "salesforce_latency_ms": latency, **results}))


if __name__ == "__main__":
    main()
