"""Benchmark of the sync engine: matching + reconciliation of N CRM x N Genesys canonical contacts, and the speed-up
over a port of the guide's findMatchingContact loop at a smaller size.

Data is generated with numpy (no per-row Faker): 80% of the CRM people also exist in Genesys, with formatting noise
(email case and spaces, five phone formats, some missing values, edits on either side); 2% of the rows of each system
are duplicates of another row; half of the overlap is already linked in the ledger with a base, the rest is a first
sync. Run from the repository root:

    .venv/bin/python benchmarks/sync_engine_bench.py                 # 1,000,000 x 1,000,000 and 20,000 x 20,000
    .venv/bin/python benchmarks/sync_engine_bench.py --size 100000 --guide-size 5000
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
from typing import Any

import numpy as np
import pandas as pd
from guide_port import match_all  # benchmarks/ is on sys.path when this script runs

from contact_sync.sync.matching import match_contacts
from contact_sync.sync.normalize import normalize_phone
from contact_sync.sync.plan import build_plan, build_reconciliation
from contact_sync.sync.policy import load_policy

FIRST = np.array(
    ["Ann", "Bob", "Chloé", "David", "Eva", "Farid", "Grace", "Hiro", "Ines", "José", "Karl", "Lena", "Mia", "Noah",
     "Olga", "Pablo", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Wei", "Xena", "Yuki", "Zoë"], dtype=object
)  # fmt: skip
LAST = np.array(
    ["Lee", "Smith", "Núñez", "Müller", "Garcia", "Khan", "Ivanova", "Chen", "Okafor", "Rossi", "Dubois", "Novak",
     "Silva", "Kim", "Jensen", "Haddad", "Brown", "Tanaka", "Costa", "Fischer"], dtype=object
)  # fmt: skip
DOMAINS = np.array(["example.com", "acme.io", "mail.test", "corp.example", "shop.test"], dtype=object)
AREAS = np.array(["415", "212", "646", "312", "617", "206", "305", "404", "512", "303"], dtype=object)
TAGS = np.array([None, "vip", "gold;vip", "callback", "churn-risk;gold"], dtype=object)
T0 = np.datetime64("2025-01-01T00:00:00", "s")


def _pick(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    return pool[rng.integers(0, len(pool), n)]


def _text(values: np.ndarray | pd.Series) -> pd.Series:
    return pd.Series(values, dtype=object)


def people(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """n distinct people: names, unique email, unique phone digits, account, score, tags, creation time."""
    serial = _text(np.arange(n).astype(str))
    first, last = _pick(rng, FIRST, n), _pick(rng, LAST, n)
    email = _text(first) + "." + _text(last) + serial + "@" + _text(_pick(rng, DOMAINS, n))
    # Exchange 200-999 without N11 and 555, line from the serial: every person has a distinct valid US number.
    exchange = 200 + (np.arange(n) // 10_000) % 700
    exchange = np.where((exchange % 100 == 11) | (exchange == 555), exchange + 1, exchange)
    line = np.char.zfill((np.arange(n) % 10_000).astype(str), 4)
    area = _pick(rng, AREAS, n)
    return pd.DataFrame(
        {
            "first_name": first,
            "last_name": last,
            "email": email.str.lower(),
            "area": area,
            "exchange": exchange.astype(str),
            "line": line,
            "account_id": "001" + _text(rng.integers(0, 50_000, n).astype(str)),
            "lead_score": rng.integers(0, 100, n).astype(float),
            "tags": _pick(rng, TAGS, n),
            "created_at": T0 + rng.integers(0, 300 * 86_400, n).astype("timedelta64[s]"),
        }
    )


def format_phones(rng: np.random.Generator, frame: pd.DataFrame, styles: list[int]) -> pd.Series:
    """Phones in a random choice of the given styles (0..4), as people type them."""
    a, x, line = _text(frame["area"]), _text(frame["exchange"]), _text(frame["line"])
    shapes = [
        "(" + a + ") " + x + "-" + line,
        a + "-" + x + "-" + line,
        "+1 " + a + " " + x + " " + line,
        "+1" + a + x + line,
        a + "." + x + "." + line,
    ]
    choice = np.asarray(styles)[rng.integers(0, len(styles), len(frame))]
    out = shapes[0].copy()
    for style in range(1, len(shapes)):
        out = out.where(choice != style, shapes[style])
    return out


def _blank(rng: np.random.Generator, values: pd.Series, share: float) -> pd.Series:
    return values.where(rng.random(len(values)) >= share, None)


def canonical(
    system: str, ids: np.ndarray, p: pd.DataFrame, email: pd.Series, phone: pd.Series, rng: Any
) -> pd.DataFrame:
    n = len(ids)
    created = p["created_at"].to_numpy()
    modified = created + rng.integers(0, 60 * 86_400, n).astype("timedelta64[s]")
    frame = pd.DataFrame(
        {
            "system": system,
            "record_id": ids,
            "crm_id": ids if system != "genesys" else None,
            "first_name": p["first_name"].to_numpy(),
            "last_name": p["last_name"].to_numpy(),
            "email": email.to_numpy(),
            "phone": phone.to_numpy(),
            "phone_e164": None,
            "account_id": p["account_id"].to_numpy(),
            "lead_score": p["lead_score"].to_numpy(),
            "tags": p["tags"].to_numpy(),
            "created_at": pd.to_datetime(created, utc=True),
            "modified_at": pd.to_datetime(modified, utc=True),
            "is_deleted": False,
            "merged_into": None,
        }
    )
    for name in ("system", "record_id", "crm_id", "first_name", "last_name", "email", "phone", "phone_e164",
                 "account_id", "tags", "merged_into"):  # fmt: skip
        frame[name] = frame[name].astype("string")
    return frame


def generate(n: int, seed: int = 7) -> dict[str, pd.DataFrame]:
    """N CRM and N Genesys canonical rows (phone_e164 not yet filled), the ledger's links and base."""
    rng = np.random.default_rng(seed)
    n_dup = n * 2 // 100
    n_overlap = n * 80 // 100
    n_crm_people = n - n_dup
    n_gen_only = n - n_overlap - n_dup
    everyone = people(rng, n_crm_people + n_gen_only)

    # CRM: every CRM person once, plus 2% duplicate rows of random people (email re-typed in other case, or same phone).
    crm_people = everyone.iloc[:n_crm_people]
    dup_of = rng.integers(0, n_crm_people, n_dup)
    crm_rows = pd.concat([crm_people, everyone.iloc[dup_of]], ignore_index=True)
    crm_email = _text(crm_rows["email"])
    is_dup = np.arange(n) >= n_crm_people
    crm_email = crm_email.where(~(is_dup & (rng.random(n) < 0.5)), crm_email.str.upper())
    crm_email = _blank(rng, crm_email, 0.02)
    crm_phone = _blank(rng, format_phones(rng, crm_rows, [0, 1, 4]), 0.05)
    crm_ids = ("003" + _text(np.arange(n).astype(str)).str.zfill(15)).to_numpy()
    crm = canonical("salesforce", crm_ids, crm_rows, crm_email, crm_phone, rng)
    crm.loc[is_dup, "created_at"] = crm.loc[is_dup, "created_at"] + pd.Timedelta(days=400)
    deleted = rng.random(n) < 0.001
    crm.loc[deleted, "is_deleted"] = True

    # Genesys: 80% of the CRM people (noisy copies), Genesys-only people, 2% duplicate rows.
    gen_people = pd.concat([everyone.iloc[:n_overlap], everyone.iloc[n_crm_people:]], ignore_index=True)
    g_dup_of = rng.integers(0, len(gen_people), n_dup)
    gen_rows = pd.concat([gen_people, gen_people.iloc[g_dup_of]], ignore_index=True)
    gen_email = _text(gen_rows["email"])
    noisy = rng.random(n)
    gen_email = gen_email.where(noisy >= 0.3, gen_email.str.upper())
    gen_email = gen_email.where((noisy < 0.3) | (noisy >= 0.35), " " + gen_email + " ")
    gen_email = _blank(rng, gen_email, 0.03)
    gen_phone = _blank(rng, format_phones(rng, gen_rows, [0, 1, 2, 3, 4]), 0.03)
    gen_ids = ("g-" + _text(np.arange(n).astype(str)).str.zfill(10)).to_numpy()
    genesys = canonical("genesys", gen_ids, gen_rows, gen_email, gen_phone, rng)
    edited = rng.random(n) < 0.05
    genesys.loc[edited, "first_name"] = genesys.loc[edited, "first_name"] + "-G"

    # Half of the overlap is linked (ledger + externalIds) with a base: the CRM values, 2% of them stale.
    linked = np.arange(n_overlap // 2)
    links = pd.DataFrame({"crm_id": crm_ids[linked], "genesys_id": gen_ids[linked]}, dtype=object)
    genesys.loc[linked, "crm_id"] = crm_ids[linked]
    fields = ("first_name", "last_name", "email", "phone", "account_id", "lead_score", "tags")
    base = pd.concat(
        [
            pd.DataFrame(
                {
                    "crm_id": crm_ids[linked],
                    "genesys_id": gen_ids[linked],
                    "field": name,
                    "value": crm[name].to_numpy(dtype=object)[linked],
                }
            )
            for name in fields
        ],
        ignore_index=True,
    )
    stale = rng.random(len(base)) < 0.02
    base.loc[stale, "value"] = "stale"
    return {"crm": crm, "genesys": genesys, "links": links, "base": base}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_engine(data: dict[str, pd.DataFrame], policy: Any) -> dict[str, Any]:
    """Normalize phones, match, reconcile; wall and CPU time of each step (the machine is shared: CPU time is what
    the engine itself costs, wall time what it took next to everything else running)."""
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    start, start_cpu = time.perf_counter(), time.process_time()
    for name in ("crm", "genesys"):
        data[name]["phone_e164"] = normalize_phone(data[name]["phone"], policy.default_region)
    times["normalize_phones"], cpu["normalize_phones"] = time.perf_counter() - start, time.process_time() - start_cpu
    start, start_cpu = time.perf_counter(), time.process_time()
    match = match_contacts(data["crm"], data["genesys"], data["links"], policy)
    times["matching"], cpu["matching"] = time.perf_counter() - start, time.process_time() - start_cpu
    start, start_cpu = time.perf_counter(), time.process_time()
    recon, guard = build_reconciliation(match, data["crm"], data["genesys"], policy, base=data["base"])
    plan = build_plan(recon, match, policy, guard)
    times["reconciliation"], cpu["reconciliation"] = time.perf_counter() - start, time.process_time() - start_cpu
    return {"times": times, "cpu": cpu, "match": match, "plan": plan}


def guide_shapes(data: dict[str, pd.DataFrame]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The API shapes the guide's loop reads (Salesforce Contact rows, Genesys ExternalContact objects)."""
    c, g = data["crm"], data["genesys"]
    sf = [
        {"Id": i, "Email": e, "Phone": p, "FirstName": f, "LastName": la, "AccountId": a}
        for i, e, p, f, la, a in zip(
            c["record_id"], c["email"].astype(object).where(c["email"].notna(), None),
            c["phone"].astype(object).where(c["phone"].notna(), None), c["first_name"], c["last_name"],
            c["account_id"], strict=True,
        )
    ]  # fmt: skip
    gz = [
        {"id": i, "email": e, "phoneNumbers": [{"number": p}] if p is not None else [], "firstName": f,
         "lastName": la, "externalOrganization": {"id": a}}
        for i, e, p, f, la, a in zip(
            g["record_id"], g["email"].astype(object).where(g["email"].notna(), None),
            g["phone"].astype(object).where(g["phone"].notna(), None), g["first_name"], g["last_name"],
            g["account_id"], strict=True,
        )
    ]  # fmt: skip
    return sf, gz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1_000_000, help="CRM and Genesys rows each (default 1,000,000)")
    parser.add_argument("--guide-size", type=int, default=20_000, help="size of the side-by-side run (0: skip)")
    parser.add_argument(
        "--guide-sample", type=int, default=0, help="time the guide's loop on this many CRM contacts and extrapolate"
    )
    args = parser.parse_args()
    policy = load_policy().with_mode("bidirectional")

    if args.guide_size:
        small = generate(args.guide_size, seed=11)
        engine = run_engine(small, policy)
        engine_total = sum(engine["times"].values())
        engine_cpu = sum(engine["cpu"].values())
        sf, gz = guide_shapes(small)
        # Neither API returns contacts in the other system's order: shuffle, and sample CRM contacts at random.
        order = np.random.default_rng(3)
        gz = [gz[i] for i in order.permutation(len(gz))]
        sample = [sf[i] for i in order.permutation(len(sf))[: args.guide_sample or len(sf)]]
        start, start_cpu = time.perf_counter(), time.process_time()
        guide = match_all(sample, gz)
        guide_time = (time.perf_counter() - start) * len(sf) / len(sample)
        guide_cpu = (time.process_time() - start_cpu) * len(sf) / len(sample)
        found = sum(v is not None for v in guide.values())
        print(f"side by side at {args.guide_size:,} x {args.guide_size:,}:")
        print(
            f"  engine (normalize + match + reconcile): {engine_total:.2f} s wall, {engine_cpu:.2f} s CPU, "
            f"{len(engine['match'].matches):,} links"
        )
        scope = "" if len(sample) == len(sf) else f" (measured on {len(sample):,} CRM contacts, extrapolated)"
        print(f"  guide findMatchingContact loop (matching only): {guide_time:.1f} s wall, {guide_cpu:.1f} s CPU"
              f"{scope}, {found:,} of {len(sample):,} found")  # fmt: skip
        print(f"  speed-up: {guide_time / engine_total:.0f}x wall, {guide_cpu / engine_cpu:.0f}x CPU")
        del small, engine, sf, gz, guide
        gc.collect()

    if args.size:
        start = time.perf_counter()
        data = generate(args.size)
        gen_time = time.perf_counter() - start
        gc.collect()
        after_gen = peak_mb()
        print(
            f"generated {args.size:,} x {args.size:,} canonical rows in {gen_time:.1f} s (peak RSS {after_gen:,.0f} MB)"
        )
        result = run_engine(data, policy)
        times, cpu = result["times"], result["cpu"]
        for step, seconds in times.items():
            print(f"  {step}: {seconds:.1f} s wall, {cpu[step]:.1f} s CPU")
        both_wall = times["matching"] + times["reconciliation"]
        both_cpu = cpu["matching"] + cpu["reconciliation"]
        print(f"  total: {sum(times.values()):.1f} s wall, {sum(cpu.values()):.1f} s CPU")
        print(f"  matching + reconciliation: {both_wall:.1f} s wall, {both_cpu:.1f} s CPU")
        print(f"  peak RSS of the process: {peak_mb():,.0f} MB")
        match, plan = result["match"], result["plan"]
        rules = match.matches["rule"].value_counts().to_dict()
        print(f"  links: {len(match.matches):,} {rules}")
        print(f"  reconciliation rows: {len(plan.reconciliation):,}")
        print(f"  plan: {plan.summary()}")


if __name__ == "__main__":
    main()
