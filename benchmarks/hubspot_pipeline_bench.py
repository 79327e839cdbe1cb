"""End-to-end benchmark for HubSpot: the two runs of `benchmarks/pipeline_bench.py` with `CONTACT_SYNC_CRM=hubspot`.

1. First sync: N HubSpot contacts into an empty Genesys (`sync_one_way`, cohort "all"). Target: 100,000 in 5 min.
2. Steady state: 1% of contacts changed on each side (HubSpot phones, Genesys phones of other contacts), then one
   `sync_bidirectional` run. Target: under 60 s, HubSpot calls proportional to the changes.

Rate limits are off (simulators and clients) so the runs measure the product; each run's HubSpot calls are then priced
at HubSpot's published limits (100 calls per 10 s for a Professional private app, search 4 per second as the
connector paces it): the modeled time is the least a run can take against a real account.

    .venv/bin/python benchmarks/hubspot_pipeline_bench.py [--contacts 100000] [--changed 0.01]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_bench import _genesys_ids, run, show

FIRST_SYNC_TARGET_S = 300.0
STEADY_TARGET_S = 60.0
PER_10S, SEARCH_PER_S = 100, 4


def modeled_seconds(calls: dict[str, int]) -> tuple[int, int, float]:
    """(HubSpot calls, of which searches, the least seconds they take under HubSpot's limits)."""
    hubspot = {k: v for k, v in calls.items() if k.startswith("hubspot ")}
    total = sum(hubspot.values())
    searches = sum(v for k, v in hubspot.items() if k.endswith("/search"))
    # Searches count against their own per-second limit; the rest against the 10-second window.
    return total, searches, max(10.0 * math.ceil((total - searches) / PER_10S) - 10.0, 0.0) + searches / SEARCH_PER_S


def price(label: str, report: dict[str, Any]) -> float:
    total, searches, seconds = modeled_seconds(report["api_calls"])
    print(
        f"  {label}: {total} HubSpot calls ({searches} searches): at least {seconds:.0f} s at {PER_10S} calls "
        f"per 10 s and {SEARCH_PER_S} searches per second"
    )
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args()

    from contact_sync.crms import crm_plugin
    from contact_sync.simulators import run_simulators
    from contact_sync.simulators.seed import generate_dataset

    with tempfile.TemporaryDirectory(prefix="contact-sync-bench-") as folder:
        root = Path(folder)
        options = {
            "genesys": {"rate_limit_per_minute": None},
            "hubspot": {"rate_limit_per_10s": None, "search_rate_limit_per_s": None, "daily_limit": None},
        }
        with run_simulators(state_dir=root / "sims", options=options) as sims, dg.instance_for_test() as instance:
            started = time.perf_counter()
            dataset = generate_dataset(args.contacts, overlap=0.0, duplicates=0.0, genesys_only=0.0)
            # The account's contacts were last modified over the 30 days before two hours ago, in 200 batches (one
            # modify stamp each), so the steady state's search re-reads, besides what changed, the one batch inside
            # its overlap window, as a real account re-reads its latest changes. (One stamp for all of them would be
            # 100,000 contacts in one millisecond: past the search cap, a full list.)
            end = datetime.now(UTC) - timedelta(hours=2)
            seat = crm_plugin("hubspot").seat(sims.hubspot)
            sims.hubspot.set_clock(lambda: end - timedelta(days=31))
            companies = seat.load_accounts(dataset.accounts)
            rows = dataset.salesforce_contact_rows(companies)
            crm_ids: list[str] = []
            batch = max(1, math.ceil(len(rows) / 200))
            for start in range(0, len(rows), batch):
                stamp = end - timedelta(days=30) * (1 - (start + batch) / len(rows))
                sims.hubspot.set_clock(lambda stamp=stamp: stamp)
                crm_ids += seat.load_contacts(rows[start : start + batch])
            sims.hubspot.set_clock(None)
            print(f"seeded {len(crm_ids)} HubSpot contacts in {time.perf_counter() - started:.1f} s (not timed)")
            os.environ.update(sims.env)
            os.environ.update(
                CONTACT_SYNC_CRM="hubspot",
                CONTACT_SYNC_DATA_DIR=str(root / "data"),
                # The connector's own pacing off too: the runs measure the product, the limits are priced below.
                HUBSPOT_RATE_LIMIT_PER_10S="1000000",
                HUBSPOT_SEARCH_RATE_LIMIT_PER_S="1000000",
            )
            instance.add_dynamic_partitions("rollout_cohort", ["all"])

            first_s, report = run(instance, "sync_one_way")
            show(f"first sync of {len(crm_ids)} HubSpot contacts (sync_one_way)", first_s, report)
            first_modeled = price("first sync", report)
            created, skipped = report["created"]["genesys"], report["skipped"]
            complete = created + skipped == len(crm_ids) and report["errors"] == 0
            print(f"  Genesys contacts created: {created}, CRM duplicates skipped: {skipped}, of {len(crm_ids)}")

            n = max(1, int(len(crm_ids) * args.changed))
            started = time.perf_counter()
            for i, crm_id in enumerate(crm_ids[:n]):
                sims.hubspot.edit_contact(crm_id, {"phone": f"+1 415 555 {i % 10000:04d}"})
            linked = _genesys_ids(sims)[n : 2 * n]
            for i, gid in enumerate(linked):
                sims.genesys.edit_contact(gid, {"workPhone": {"display": f"+1 628 555 {i % 10000:04d}"}})
            print(f"changed {n} HubSpot and {len(linked)} Genesys contacts in {time.perf_counter() - started:.1f} s")

            steady_s, report = run(instance, "sync_bidirectional")
            show("steady-state run (sync_bidirectional)", steady_s, report)
            steady_modeled = price("steady state", report)
            complete = complete and report["errors"] == 0

            for label, wall, modeled, target in (
                ("first sync", first_s, first_modeled, FIRST_SYNC_TARGET_S),
                ("steady state", steady_s, steady_modeled, STEADY_TARGET_S),
            ):
                verdict = "within" if max(wall, modeled) <= target else "NOT within"
                print(f"{label}: {wall:.1f} s wall, {modeled:.0f} s modeled: {verdict} the {target:.0f} s target")
            return 0 if complete and first_s <= FIRST_SYNC_TARGET_S and steady_s <= STEADY_TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
