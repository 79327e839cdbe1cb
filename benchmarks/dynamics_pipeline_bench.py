"""End-to-end benchmark for Dynamics 365: first sync of N Dynamics contacts into an empty Genesys through the real
Dagster job (`sync_one_way`, cohort "all") on the simulators, rate limits off (Genesys limiter and Dynamics service
protection). Target: 100,000 contacts within 5 minutes. Runs and prints like `benchmarks/pipeline_bench.py`.

    .venv/bin/python benchmarks/dynamics_pipeline_bench.py [--contacts 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_bench import run, show

FIRST_SYNC_TARGET_S = 300.0
# Salesforce field of the generated rows -> Dynamics contact column.
COLUMNS = {"FirstName": "firstname", "LastName": "lastname", "Email": "emailaddress1", "Phone": "telephone1"}


def dynamics_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The generated (Salesforce-shaped) contact rows as Dynamics columns, the account as `parentcustomerid`."""
    out = []
    for row in rows:
        converted = {COLUMNS[k]: v for k, v in row.items() if k in COLUMNS}
        if row.get("AccountId"):
            converted["parentcustomerid"] = row["AccountId"]
        out.append(converted)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    args = parser.parse_args()

    from contact_sync.simulators import run_simulators
    from contact_sync.simulators.seed import generate_dataset

    with tempfile.TemporaryDirectory(prefix="contact-sync-bench-") as folder:
        root = Path(folder)
        options = {"genesys": {"rate_limit_per_minute": None}, "dynamics": {"service_protection_limit": None}}
        with run_simulators(state_dir=root / "sims", options=options) as sims, dg.instance_for_test() as instance:
            started = time.perf_counter()
            dataset = generate_dataset(args.contacts, overlap=0.0, duplicates=0.0, genesys_only=0.0)
            accounts = sims.dynamics.load_accounts([{"name": a["Name"]} for a in dataset.accounts])
            rows = dynamics_rows(dataset.salesforce_contact_rows(accounts))
            crm_ids: list[str] = []
            for start in range(0, len(rows), 10_000):
                crm_ids += sims.dynamics.load_contacts(rows[start : start + 10_000])
            print(f"seeded {len(crm_ids)} Dynamics contacts in {time.perf_counter() - started:.1f} s (not timed)")
            os.environ.update(sims.env)
            os.environ["CONTACT_SYNC_CRM"] = "dynamics"
            os.environ["CONTACT_SYNC_DATA_DIR"] = str(root / "data")
            instance.add_dynamic_partitions("rollout_cohort", ["all"])

            seconds, report = run(instance, "sync_one_way")
            show(f"first sync of {len(crm_ids)} Dynamics contacts (sync_one_way)", seconds, report)
            # Generated people may share an email or phone: those CRM duplicates are folded into one (skipped).
            created, skipped = report["created"]["genesys"], report["skipped"]
            complete = created + skipped == len(crm_ids) and report["errors"] == 0
            within = seconds <= FIRST_SYNC_TARGET_S
            print(
                f"Genesys contacts created: {created}, CRM duplicates skipped: {skipped}, of {len(crm_ids)}; "
                f"Genesys holds {sims.genesys.count()}; "
                f"{'within' if within else 'NOT within'} the {FIRST_SYNC_TARGET_S:.0f} s target"
            )
            return 0 if complete and within else 1


if __name__ == "__main__":
    sys.exit(main())
