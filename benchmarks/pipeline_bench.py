"""End-to-end sync benchmark through the real Dagster job on the simulators (rate limits off).

1. First sync: N Salesforce contacts into an empty Genesys (`sync_one_way`, cohort "all"). Target: 100,000 in 5 min.
2. Settling run: the first `sync_bidirectional` an hour after the first sync. It reads back from Genesys every
   contact the first sync created (they were modified after the first sync's read), as any deployment's second run does.
3. Steady state: 1% of contacts changed on each side (Salesforce phones, Genesys phones of other contacts), then one
   `sync_bidirectional` run. Targets (issue 12): at most 20 API calls and 8 s at 100,000 contacts.

The simulators' clocks run behind (seed 4 h ago, first sync 3 h ago, settling run 2 h ago, steady state now), so the
incremental reads' 5-minute overlap re-reads only what changed since the run before, as on a schedule of runs more
than 5 minutes apart.

    .venv/bin/python benchmarks/pipeline_bench.py [--contacts 100000] [--changed 0.01]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg


def run(instance: dg.DagsterInstance, job: str) -> tuple[float, dict[str, Any]]:
    from contact_sync.definitions import defs

    started = time.perf_counter()
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance,
        partition_key="all",
        run_config={"resources": {"contact_sync": {"config": {"rate_limit": False}}}},
        raise_on_error=True,
    )
    steps = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            steps[event.step_key] = event.event_specific_data.duration_ms / 1000
    report = result.output_for_node("sync_report")
    report["step_seconds"] = steps
    return time.perf_counter() - started, report


def show(label: str, seconds: float, report: dict[str, Any]) -> None:
    calls = report["api_calls"]
    print(f"{label}: {seconds:.1f} s wall (report duration {report['duration_s']:.1f} s)")
    for key in ("created", "updated", "deleted", "unlinked", "skipped", "errors", "conflicts"):
        print(f"  {key}: {report[key]}")
    print("  step seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report["step_seconds"].items()))
    reads = ", ".join(f"{side} {r['records']} ({r['how']})" for side, r in report["read"].items())
    print(f"  read: {reads}; decided: {report['decided']['records']} ({report['decided']['how']})")
    print(f"  API calls: {sum(calls.values())} in total")
    for endpoint, count in sorted(calls.items()):
        print(f"    {count:6d}  {endpoint}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args()

    from contact_sync.simulators import run_simulators
    from contact_sync.simulators.seed import generate_dataset

    with tempfile.TemporaryDirectory(prefix="contact-sync-bench-") as folder:
        root = Path(folder)
        options = {"genesys": {"rate_limit_per_minute": None}}
        with run_simulators(state_dir=root / "sims", options=options) as sims, dg.instance_for_test() as instance:
            started = time.perf_counter()
            dataset = generate_dataset(args.contacts, overlap=0.0, duplicates=0.0, genesys_only=0.0)

            def hours_ago(hours: float | None) -> None:
                """Run the simulators' clocks `hours` behind (still ticking: exports finish), None: real time."""
                clock = (lambda: datetime.now(UTC) - timedelta(hours=hours)) if hours is not None else None
                sims.salesforce.set_clock(clock)
                sims.genesys.set_clock(clock)

            hours_ago(4)
            accounts = sims.salesforce.load_accounts(dataset.accounts)
            crm_ids = sims.salesforce.load_contacts(dataset.salesforce_contact_rows(accounts))
            hours_ago(3.5)
            sims.salesforce.automation_edit(crm_ids[-1], MobilePhone="+1 415 555 9999")  # an unsynced field
            hours_ago(3)
            print(f"seeded {len(crm_ids)} Salesforce contacts in {time.perf_counter() - started:.1f} s (not timed)")
            os.environ.update(sims.env)
            os.environ["CONTACT_SYNC_DATA_DIR"] = str(root / "data")
            instance.add_dynamic_partitions("rollout_cohort", ["all"])

            seconds, report = run(instance, "sync_one_way")
            show(f"first sync of {len(crm_ids)} contacts (sync_one_way)", seconds, report)
            hours_ago(2)
            seconds, report = run(instance, "sync_bidirectional")
            show("settling run, an hour after the first sync (sync_bidirectional)", seconds, report)
            hours_ago(None)

            n = max(1, int(len(crm_ids) * args.changed))
            started = time.perf_counter()
            for i, crm_id in enumerate(crm_ids[:n]):
                sims.salesforce.edit_contact(crm_id, Phone=f"+1 415 555 {i % 10000:04d}")
            genesys = sims.genesys.service.store
            linked = [c["id"] for c in (genesys.get_contact(g) for g in _genesys_ids(sims)) if c][n : 2 * n]
            for i, gid in enumerate(linked):
                sims.genesys.edit_contact(gid, {"workPhone": {"display": f"+1 628 555 {i % 10000:04d}"}})
            print(f"changed {n} Salesforce and {len(linked)} Genesys contacts in {time.perf_counter() - started:.1f} s")

            seconds, report = run(instance, "sync_bidirectional")
            show("steady-state run (sync_bidirectional)", seconds, report)


def _genesys_ids(sims: Any) -> list[str]:
    from contact_sync.connectors.genesys import GenesysConnector
    from contact_sync.settings import GenesysSettings

    with GenesysConnector(GenesysSettings.from_env(sims.env), rate_limit=False) as genesys:
        return sorted(c["id"] for c in genesys.scan_contacts())


if __name__ == "__main__":
    main()
