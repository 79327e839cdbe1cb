"""Soak: `contact-sync sync --mode bidirectional` in a loop for N minutes against a CRM simulator (Salesforce or
Dynamics 365) and the Genesys simulator, with random faults on both services and random edits on both sides between
runs, one pair of syncs started at the same moment, then a check that everything converged.

    python benchmarks/soak.py --minutes 5 --contacts 300 --seed 1 [--crm dynamics]

Each round edits the first name of some contacts in the CRM and of other contacts in Genesys (never one contact on
both sides in one round, so no edit can lose to a conflict rule), then injects faults (429, 500, 503, dropped
connections, answers lost after the service applied the call, expired tokens) and runs one sync through the CLI, as
an operator would. After the loop, with the faults off, two more syncs run and the invariants are checked:

- every edit made is on the other side (edits lost: expected 0);
- no CRM contact has two Genesys contacts (duplicates: 0);
- the ledger's links equal the CRM ids the Genesys contacts carry in their externalIds (links mismatched: 0).

Prints a summary and, last, one JSON line; exits 1 when an invariant fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contact_sync.connectors.genesys import GenesysConnector
from contact_sync.ledger import Ledger
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.settings import GenesysSettings
from contact_sync.simulators import RunningSimulators, run_simulators


@dataclass(frozen=True)
class SoakedCrm:
    """What the soak needs to know of one CRM: its simulator's column names, external source, and fault paths."""

    kind: str
    first_name: str
    last_name: str
    email: str
    external_source: str
    fault_paths: tuple[str, ...]


CRMS = {
    "salesforce": SoakedCrm(
        "salesforce",
        "FirstName",
        "LastName",
        "Email",
        "Salesforce",
        ("/composite/sobjects", "/query", "/services/data/"),
    ),
    "dynamics": SoakedCrm(
        "dynamics", "firstname", "lastname", "emailaddress1", "Dynamics 365", ("/contacts", r"/\$batch", "/api/data/")
    ),
}

COMMAND = str(Path(sys.executable).with_name("contact-sync"))
FAULT_KINDS = ("429", "500", "503", "drop", "lost", "expired_token")
GENESYS_FAULT_PATHS = (
    "/bulk/contacts/enrich",
    "/bulk/contacts/add",
    "/bulk/contacts/update",
    "/bulk/contacts",
    "/scan/contacts",
    "/api/v2/",
)


def sync(env: dict[str, str]) -> tuple[float, int, dict[str, Any] | None, str]:
    """One `contact-sync sync --mode bidirectional --json`: wall seconds, exit status, report (or None), stderr."""
    started = time.monotonic()
    done = subprocess.run(
        [COMMAND, "sync", "--mode", "bidirectional", "--json"], env=env, capture_output=True, text=True, timeout=900
    )
    report = None
    lines = done.stdout.strip().splitlines()
    if lines:
        try:
            report = json.loads(lines[-1])
        except json.JSONDecodeError:
            report = None
    return time.monotonic() - started, done.returncode, report, done.stderr.strip().splitlines()[-1:]


def random_faults(rng: random.Random, crm: SoakedCrm) -> dict[str, list[dict[str, Any]]]:
    rules: dict[str, list[dict[str, Any]]] = {}
    for service, paths in (("genesys", GENESYS_FAULT_PATHS), ("crm", crm.fault_paths)):
        kind = rng.choice(FAULT_KINDS)
        rule: dict[str, Any] = {"kind": kind, "path": rng.choice(paths), "count": rng.randint(1, 3)}
        if kind != "expired_token":
            rule["every"] = rng.randint(2, 6)
        rules[service] = [rule]
    return rules


def genesys_by_crm_id(
    sims: RunningSimulators, crm: SoakedCrm
) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Genesys contacts by the CRM id in their externalIds, and every contact."""
    with GenesysConnector(GenesysSettings.from_env(sims.env), rate_limit=False) as genesys:
        contacts = genesys.scan_contacts()
    by_crm: dict[str, list[dict[str, Any]]] = {}
    for contact in contacts:
        for link in contact.get("externalIds") or []:
            if (link.get("externalSource") or {}).get("name") == crm.external_source:
                by_crm.setdefault(link["value"], []).append(contact)
    return by_crm, contacts


def _seen(
    sims: RunningSimulators, crm: SoakedCrm, by_crm: dict[str, list[dict[str, Any]]], side: str, crm_id: str
) -> list[Any]:
    """The first name(s) `side` holds for the contact of `crm_id` (one per Genesys contact linked to it)."""
    if side == "genesys":
        return [c.get("firstName") for c in by_crm.get(crm_id, [])]
    return [(getattr(sims, crm.kind).contact(crm_id) or {}).get(crm.first_name)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--edits", type=int, default=8, help="edits per side per round")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crm", choices=sorted(CRMS), default="salesforce")
    args = parser.parse_args()
    crm = CRMS[args.crm]
    rng = random.Random(args.seed)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="contact-sync-soak-") as scratch, run_simulators() as sims:
        folder = Path(scratch)
        (folder / "home").mkdir()
        base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        env = base | sims.env | {"CONTACT_SYNC_DATA_DIR": str(folder / "data"), "DAGSTER_HOME": str(folder / "home")}
        env["CONTACT_SYNC_CRM"] = crm.kind
        crm_sim = getattr(sims, crm.kind)
        people = [
            {crm.first_name: f"First{i}", crm.last_name: f"Soak{i}", crm.email: f"soak{i}@example.com"}
            for i in range(args.contacts)
        ]
        crm_ids = crm_sim.load_contacts(people)
        first = sync(env)
        if first[1] != 0:
            print(f"the first sync failed: {first[3]}")
            return 1
        expected: dict[tuple[str, str], str] = {}  # (side the edit must reach, crm id) -> first name
        faults: Counter[str] = Counter()
        runs, failed, reasons, edits = 1, 0, Counter[str](), 0
        lock_wait: dict[str, Any] = {}
        round_no = 0
        while time.monotonic() - began < args.minutes * 60:
            round_no += 1
            by_crm, _ = genesys_by_crm_id(sims, crm)
            # An edit still on its way (its run failed under faults) is not edited over from the other side: that
            # would be a conflict the policy settles (crm_wins), not a lost edit.
            pending = {
                crm_id for (side, crm_id), name in expected.items() if _seen(sims, crm, by_crm, side, crm_id) != [name]
            }
            linked = [c for c in crm_ids if len(by_crm.get(c, [])) == 1 and c not in pending]
            picked = rng.sample(linked, min(len(linked), 2 * args.edits))
            for crm_id in picked[: args.edits]:
                name = f"Crm{round_no}x{rng.randint(0, 999)}"
                crm_sim.edit_contact(crm_id, **{crm.first_name: name})
                expected[("genesys", crm_id)] = name
                expected.pop(("crm", crm_id), None)
                edits += 1
            for crm_id in picked[args.edits :]:
                name = f"Gen{round_no}x{rng.randint(0, 999)}"
                sims.genesys.edit_contact(by_crm[crm_id][0]["id"], {"firstName": name})
                expected[("crm", crm_id)] = name
                expected.pop(("genesys", crm_id), None)
                edits += 1
            rules = random_faults(rng, crm) if round_no != 2 else {"genesys": [], "crm": []}
            sims.genesys.set_faults(rules["genesys"], seed=round_no)
            crm_sim.set_faults(rules["crm"], seed=round_no)
            if round_no == 2:
                # Two syncs started at the same moment (no faults this round): exactly one may write; the other
                # waits for the lock or is refused in one line.
                with ThreadPoolExecutor(2) as pool:
                    both = list(pool.map(lambda _: sync(env), range(2)))
                runs += 2
                (fast, slow) = sorted(both, key=lambda r: r[0])
                lock_wait = {
                    "first_s": round(fast[0], 1),
                    "second_s": round(slow[0], 1),
                    "exit_statuses": [fast[1], slow[1]],
                    "second_outcome": "ran after waiting" if slow[1] == 0 else (slow[3][0] if slow[3] else "")[:120],
                }
                outcomes = both
            else:
                outcomes = [sync(env)]
                runs += 1
            for service in ("genesys", crm.kind):
                sim = getattr(sims, service)
                for fired in sim.faults.fired:
                    faults[f"{service} {fired.kind}"] += 1
            sims.genesys.set_faults([])
            crm_sim.set_faults([])
            for _, status, _report, stderr in outcomes:
                if status != 0:
                    failed += 1
                    reasons[(stderr[0] if stderr else "no message")[:160]] += 1
        settle = [sync(env) for _ in range(2)]
        runs += 2
        by_crm, contacts = genesys_by_crm_id(sims, crm)
        lost = []
        for (side, crm_id), name in expected.items():
            found = _seen(sims, crm, by_crm, side, crm_id)
            if found != [name]:
                lost.append({"side": side, "crm_id": crm_id, "expected": name, "found": found})
        duplicates = sum(len(v) - 1 for v in by_crm.values() if len(v) > 1)
        ledger = Ledger(PipelineSettings.from_env(env).database_url)
        try:
            links = ledger.links(crm_system=crm.kind)
        finally:
            ledger.dispose()
        carried = {(crm, c[0]["id"]) for crm, c in by_crm.items() if len(c) == 1}
        stored = set(zip(links["crm_id"].astype(str), links["genesys_id"].astype(str), strict=True))
        result = {
            "crm": crm.kind,
            "minutes": args.minutes,
            "contacts": args.contacts,
            "genesys_contacts": len(contacts),
            "runs": runs,
            "runs_failed": failed,
            "failure_reasons": dict(reasons),
            "settle_runs_ok": all(s[1] == 0 for s in settle),
            "faults_injected": dict(faults),
            "faults_total": sum(faults.values()),
            "edits_made": edits,
            "edits_lost": len(lost),
            "duplicates": duplicates,
            "links_mismatched": len(stored ^ carried),
            "concurrent_start": lock_wait,
            "wall_s": round(time.monotonic() - began, 1),
        }
    print(f"runs {runs} ({failed} failed under faults), faults injected {result['faults_total']}, edits {edits}")
    print(f"edits lost {len(lost)}, duplicates {duplicates}, links mismatched {result['links_mismatched']}")
    print(f"concurrent start: {lock_wait}")
    for item in lost[:10]:
        print(f"  lost: {item}")
    print(json.dumps(result))
    ok = not lost and not duplicates and not result["links_mismatched"] and result["settle_runs_ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
