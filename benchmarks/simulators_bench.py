"""Benchmark: the simulators must not be the bottleneck. Seed, then read everything back over real HTTP.

1. Seeding: generate N Salesforce contacts (2% duplicates) and N Genesys contacts (overlap 0.9 of the CRM people plus
   0.118*N only in Genesys, which makes exactly N for N=100,000) and load both into a state folder, as
   `contact-sync simulators seed` does. Target: <= 30 s.
2. A full cursor scan of the Genesys contacts with httpx, `limit=200`, rate limit off. Target: <= 15 s.
3. A full SOQL read of the Salesforce contacts with simple-salesforce `query_all_iter`, pages of 2000 (the
   `Sforce-Query-Options: batchSize=2000` header), over TLS. Target: <= 15 s.

    .venv/bin/python benchmarks/simulators_bench.py [--contacts 100000]
"""

from __future__ import annotations

import argparse
import ssl
import sys
import tempfile
import time
from pathlib import Path

import httpx
import requests
from simple_salesforce import Salesforce

from contact_sync.simulators import run_simulators
from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync.simulators.salesforce import SalesforceSimulator
from contact_sync.simulators.seed import generate_dataset

TARGETS = {"seed": 30.0, "genesys_scan": 15.0, "salesforce_soql": 15.0}
SOQL = (
    "SELECT Id, FirstName, LastName, Email, Phone, MobilePhone, AccountId, LeadScore__c, Tags__c, LastModifiedDate "
    "FROM Contact"
)


def seed(state_dir: Path, contacts: int) -> tuple[float, dict[str, float], tuple[int, int]]:
    """Generate and load; the (wall) seconds in all, by phase, and the record counts loaded."""
    phases: dict[str, float] = {}
    started = time.perf_counter()
    dataset = generate_dataset(contacts, overlap=0.9, duplicates=0.02, genesys_only=0.118, seed=1)
    phases["generate"] = time.perf_counter() - started
    salesforce = SalesforceSimulator(state_dir / "salesforce")
    genesys = GenesysSimulator(state_dir / "genesys")
    try:
        t = time.perf_counter()
        account_ids = salesforce.load_accounts(dataset.accounts)
        sf_ids = salesforce.load_contacts(dataset.salesforce_contact_rows(account_ids))
        phases["load Salesforce"] = time.perf_counter() - t
        t = time.perf_counter()
        org_ids = genesys.load_organizations(dataset.organizations)
        g_ids = genesys.load_contacts(dataset.genesys_contact_rows(org_ids))
        phases["load Genesys"] = time.perf_counter() - t
    finally:
        salesforce.close()
        genesys.close()
    return time.perf_counter() - started, phases, (len(sf_ids), len(g_ids))


def scan_genesys(env: dict[str, str]) -> tuple[float, int, int]:
    """Every contact through `/scan/contacts?limit=200`; seconds, contacts, pages."""
    started = time.perf_counter()
    with httpx.Client(base_url=env["GENESYS_API_URL"], timeout=60) as client:
        token = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(env["GENESYS_CLIENT_ID"], env["GENESYS_CLIENT_SECRET"]),
        )
        token.raise_for_status()
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        seen, pages, cursor = 0, 0, None
        while True:
            params: dict[str, str | int] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            response = client.get("/api/v2/externalcontacts/scan/contacts", params=params)
            response.raise_for_status()
            page = response.json()
            seen += len(page["entities"])
            pages += 1
            cursor = (page.get("cursors") or {}).get("after")
            if not cursor:
                break
    return time.perf_counter() - started, seen, pages


def read_salesforce(sims: object) -> tuple[float, int]:
    """Every contact through simple-salesforce `query_all_iter` in pages of 2000; seconds and records."""
    env = sims.env  # type: ignore[attr-defined]
    session = requests.Session()
    session.verify = env["SALESFORCE_CA_BUNDLE"]
    session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides `verify`
    started = time.perf_counter()
    client = Salesforce(
        instance_url=env["SALESFORCE_INSTANCE_URL"],
        session_id=sims.salesforce.new_session(),  # type: ignore[attr-defined]
        session=session,
        version="59.0",
    )
    seen = sum(1 for _ in client.query_all_iter(SOQL, headers={"Sforce-Query-Options": "batchSize=2000"}))
    return time.perf_counter() - started, seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    args = parser.parse_args()
    ssl.create_default_context()  # fail early on a broken SSL setup, before minutes of seeding

    rows: list[tuple[str, str, float, float, float]] = []  # label, target key, seconds, CPU seconds, records
    with tempfile.TemporaryDirectory(prefix="contact-sync-bench-") as tmp:
        state = Path(tmp)
        cpu = time.process_time()
        seconds, phases, (n_sf, n_g) = seed(state, args.contacts)
        detail = ", ".join(f"{k} {v:.1f} s" for k, v in phases.items())
        label = f"seed {n_sf:,} Salesforce + {n_g:,} Genesys contacts ({detail})"
        rows.append((label, "seed", seconds, time.process_time() - cpu, n_sf + n_g))
        with run_simulators(state_dir=state, options={"genesys": {"rate_limit_per_minute": None}}) as sims:
            cpu = time.process_time()
            seconds, seen, pages = scan_genesys(sims.env)
            assert seen == n_g, f"scan saw {seen} of {n_g} Genesys contacts"
            rows.append(
                (f"Genesys scan, limit=200 ({pages} pages)", "genesys_scan", seconds, time.process_time() - cpu, seen)
            )
            cpu = time.process_time()
            seconds, seen = read_salesforce(sims)
            assert seen == n_sf, f"SOQL read {seen} of {n_sf} Salesforce contacts"
            label = "Salesforce SOQL query_all_iter, batchSize=2000"
            rows.append((label, "salesforce_soql", seconds, time.process_time() - cpu, seen))

    width = max(len(r[0]) for r in rows)
    # CPU seconds: client and simulators together (they share this process); wall above CPU means waiting (cores, disk).
    print(f"{'measure':<{width}}  {'records':>9}  {'seconds':>8}  {'cpu s':>6}  {'rec/s':>8}  {'target':>7}  met")
    all_met = True
    for label, key, seconds, cpu_seconds, records in rows:
        met = seconds <= TARGETS[key]
        all_met &= met
        rate = records / seconds if seconds else float("inf")
        verdict = "yes" if met else "NO"
        figures = f"{records:>9,}  {seconds:>8.1f}  {cpu_seconds:>6.1f}  {rate:>8,.0f}  {TARGETS[key]:>6.0f}s"
        print(f"{label:<{width}}  {figures}  {verdict}")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
