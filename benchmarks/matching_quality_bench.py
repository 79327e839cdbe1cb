"""Benchmark of matching quality: precision and recall of `match_contacts` against the seed generator's ground truth.

Generates a seeded dataset with `contact_sync.simulators.seed.generate_dataset` with generous identity-trap shares
(colleagues on one office line, role mailboxes, household emails, nicknames, typos, swapped names, a key missing on
one side), so every trap class has a few hundred records; converts both sides to canonical frames with the
product's converters (`salesforce_to_canonical`, `genesys_to_canonical`); runs `match_contacts(crm, genesys, None,
load_policy())` with no stored links; and scores the links against who is who:

- a link is correct when its Genesys and CRM records are the same person (any CRM record of that person: a CRM
  duplicate counts); precision = correct links / links, recall = correct links / true pairs (each Genesys record
  whose person is in the CRM, once), F1; the same per trap class of the Genesys record, with the pairs held for
  review and the false links;
- CRM duplicates: duplicate records grouped with their own person vs records grouped with another person.

Then up to --examples wrong links and missed pairs per class, with the product's evidence text. A missed pair that
is neither linked nor in review has no evidence of its own in the result: it is scored here with
`contact_sync.sync.evidence.score_pairs` the way matching scores it (a key held by several people on either side,
or a role mailbox, is a shared key). Run from the repository root:

    .venv/bin/python benchmarks/matching_quality_bench.py                      # 20,000 contacts, seed 7
    .venv/bin/python benchmarks/matching_quality_bench.py --contacts 5000 --trap-share 0.02 --examples 3
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

import numpy as np
import pandas as pd

from contact_sync.crms.salesforce.convert import salesforce_to_canonical
from contact_sync.simulators.seed import TRAP_CLASSES, Dataset, generate_dataset
from contact_sync.sync.convert import genesys_to_canonical
from contact_sync.sync.evidence import MatchingPolicy, PairSides, score_pairs
from contact_sync.sync.matching import MatchResult, match_contacts
from contact_sync.sync.normalize import normalize_email, normalize_name
from contact_sync.sync.policy import load_policy

TRAP_KNOBS = ("office_lines", "role_emails", "households", "nicknames", "typos", "swapped", "missing_keys")
CREATED = "2025-01-01T00:00:00.000+0000"
MODIFIED = "2025-06-01T00:00:00.000+0000"
TARGETS = {"precision": 0.995, "recall": 0.97}
KEY_NAMES = {"email": "email", "phone": "phone", "name_account": "last name + account"}


def canonical_frames(data: Dataset) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """CRM and Genesys canonical frames (by the product's converters), and each frame's record id -> position in
    the dataset's lists."""
    account_ids = [f"001{i:015d}" for i in range(len(data.accounts))]
    org_ids = [f"org-{i:06d}" for i in range(len(data.organizations))]
    sf_ids = [f"003{i:015d}" for i in range(len(data.salesforce_contacts))]
    g_ids = [f"g-{j:08d}" for j in range(len(data.genesys_contacts))]
    sf_rows = [
        {"Id": rid, "CreatedDate": CREATED, "LastModifiedDate": MODIFIED, **row}
        for rid, row in zip(sf_ids, data.salesforce_contact_rows(account_ids), strict=True)
    ]
    g_rows = [
        {"id": gid, "createDate": CREATED, "modifyDate": MODIFIED, **row}
        for gid, row in zip(g_ids, data.genesys_contact_rows(org_ids), strict=True)
    ]
    policy = load_policy()
    crm = salesforce_to_canonical(sf_rows, policy)
    genesys = genesys_to_canonical(g_rows, "Salesforce", dict(zip(org_ids, account_ids, strict=True)), policy)
    for name, result, n in (("Salesforce", crm, len(sf_rows)), ("Genesys", genesys, len(g_rows))):
        if len(result.rejected) or len(result.frame) != n:
            raise SystemExit(f"{name} conversion rejected {len(result.rejected)} records: {result.rejected.head()}")
    return (
        crm.frame,
        genesys.frame,
        pd.Series(np.arange(len(sf_ids)), index=sf_ids),
        pd.Series(np.arange(len(g_ids)), index=g_ids),
    )


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else float("nan")


def outcome_frame(data: Dataset, result: MatchResult, sf_pos: pd.Series, g_pos: pd.Series) -> pd.DataFrame:
    """One row per Genesys record: its class, person, whether the CRM has that person, its link and review pair."""
    sf_person = data.salesforce_person
    g = pd.DataFrame(
        {
            "genesys_id": g_pos.index.to_numpy(dtype=object),
            "trap": np.asarray(data.genesys_trap, dtype=object),
            "person": data.genesys_person,
            "true_pair": data.genesys_match >= 0,
        }
    ).set_index("genesys_id")
    links = result.matches.set_index("genesys_id")
    g["link_crm"] = links["crm_id"].reindex(g.index)
    g["link_evidence"] = links["evidence"].reindex(g.index)
    linked = g["link_crm"].notna().to_numpy()
    link_person = np.full(len(g), -1, dtype=np.int64)
    link_person[linked] = sf_person[sf_pos.reindex(g["link_crm"][linked]).to_numpy()]
    g["linked"] = linked
    g["correct"] = linked & (link_person == g["person"].to_numpy())
    g["false_link"] = linked & ~g["correct"].to_numpy()
    review = result.review.drop_duplicates("genesys_id").set_index("genesys_id")
    g["review_crm"] = review["crm_id"].reindex(g.index)
    g["review_evidence"] = review["evidence"].reindex(g.index)
    g["review_reason"] = review["reason"].reindex(g.index)
    in_review = g["review_crm"].notna().to_numpy()
    review_person = np.full(len(g), -1, dtype=np.int64)
    review_person[in_review] = sf_person[sf_pos.reindex(g["review_crm"][in_review]).to_numpy()]
    g["in_review"] = in_review
    g["review_right"] = in_review & (review_person == g["person"].to_numpy())
    return g


def class_table(g: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for label in [*TRAP_CLASSES, "all"]:
        part = g if label == "all" else g[g["trap"] == label]
        if not len(part):
            continue
        pairs = int(part["true_pair"].sum())
        links, correct = int(part["linked"].sum()), int(part["correct"].sum())
        precision, recall = ratio(correct, links), ratio(correct, pairs)
        rows.append(
            {
                "class": label,
                "genesys records": len(part),
                "true pairs": pairs,
                "links": links,
                "correct": correct,
                "false links": int(part["false_link"].sum()),
                "review": int(part["in_review"].sum()),
                "review, right pair": int(part["review_right"].sum()),
                "missed, not in review": int((part["true_pair"] & ~part["correct"] & ~part["in_review"]).sum()),
                "precision": precision,
                "recall": recall,
                "F1": f1(precision, recall),
            }
        )
    return pd.DataFrame(rows)


def dedup_figures(data: Dataset, result: MatchResult, sf_pos: pd.Series) -> dict[str, Any]:
    """CRM duplicate records grouped with their own person, and records grouped with another person."""
    dups = result.crm_duplicates
    secondary = dups[~dups["is_primary"].astype(bool)].drop_duplicates("record_id")
    person = data.salesforce_person
    sec_person = person[sf_pos.reindex(secondary["record_id"]).to_numpy()]
    pri_person = person[sf_pos.reindex(secondary["primary_id"]).to_numpy()]
    wrong = secondary[sec_person != pri_person]
    # Each CRM duplicate record of the data and its original: grouped when one is the other's group primary or both
    # share a primary.
    root = pd.Series(sf_pos.index.to_numpy(dtype=object), index=sf_pos.index)
    root[secondary["record_id"].to_numpy()] = secondary["primary_id"].to_numpy()
    ids = sf_pos.index.to_numpy(dtype=object)
    is_dup = data.salesforce_duplicate_of >= 0
    dup_ids, orig_ids = ids[is_dup], ids[data.salesforce_duplicate_of[is_dup]]
    together = root.reindex(dup_ids).to_numpy() == root.reindex(orig_ids).to_numpy()
    trap = np.asarray(data.salesforce_trap, dtype=object)
    wrong_traps = pd.Series(trap[sf_pos.reindex(wrong["record_id"]).to_numpy()]).value_counts().to_dict()
    return {
        "duplicate records": int(is_dup.sum()),
        "grouped with their own person": int(together.sum()),
        "secondaries reported": len(secondary),
        "secondaries of another person (wrongly grouped)": len(wrong),
        "wrongly grouped, by class": wrong_traps,
        "wrong": wrong,
    }


def _people_per_key(frame: pd.DataFrame, key: pd.Series, dups: pd.DataFrame, key_type: str) -> pd.Series:
    """key -> people holding it: records less the non-primary members of that key's duplicate groups (as matching
    counts them)."""
    holders = key.dropna().value_counts()
    twins = dups[(dups["key_type"] == key_type) & ~dups["is_primary"].astype(bool)].groupby("key").size()
    return holders.sub(twins.reindex(holders.index).fillna(0))


def explain_pairs(
    crm: pd.DataFrame, genesys: pd.DataFrame, pairs: pd.DataFrame, result: MatchResult, rules: MatchingPolicy
) -> list[str]:
    """Evidence text for (crm_id, genesys_id) pairs, scored as matching scores a proposed pair, with whether any
    blocking key (email, phone, last name + account) would propose it."""
    if pairs.empty:
        return []
    keys = {}
    for name, frame in (("crm", crm), ("genesys", genesys)):
        email = normalize_email(frame["email"]).astype(object)
        keys[name] = pd.DataFrame(
            {
                "email": email.where(email.notna() & (email != ""), None).to_numpy(),
                "phone": frame["phone_e164"].astype(object).where(frame["phone_e164"].notna(), None).to_numpy(),
                "first": normalize_name(frame["first_name"]).astype(object).to_numpy(),
                "last": normalize_name(frame["last_name"]).astype(object).to_numpy(),
                "account": frame["account_id"].astype(object).where(frame["account_id"].notna(), None).to_numpy(),
            },
            index=frame["record_id"].astype(object).to_numpy(),
        )
        keys[name] = keys[name].where(keys[name].notna(), None)
    c = keys["crm"].loc[pairs["crm_id"]]
    g = keys["genesys"].loc[pairs["genesys_id"]]
    people = {
        kind: (
            _people_per_key(crm, keys["crm"][kind], result.crm_duplicates, kind),
            _people_per_key(genesys, keys["genesys"][kind], result.genesys_duplicates, kind),
        )
        for kind in ("email", "phone")
    }
    role = re.compile("^(" + "|".join(re.escape(p) for p in rules.role_local_parts) + ")@")

    def shared(kind: str) -> np.ndarray:
        values = c[kind].to_numpy(dtype=object)
        held = np.zeros(len(values), dtype=bool)
        for counts in people[kind]:
            held |= np.nan_to_num(counts.reindex(values).to_numpy(dtype=float), nan=0) >= rules.shared_key_people
        if kind == "email":
            for side in (c, g):
                held |= np.array([bool(v and role.match(v)) for v in side["email"]], dtype=bool)
        return held

    def pair(kind: str) -> tuple[np.ndarray, np.ndarray]:
        return c[kind].to_numpy(dtype=object), g[kind].to_numpy(dtype=object)

    sides = PairSides(
        email=pair("email"),
        phone=pair("phone"),
        first=pair("first"),
        last=pair("last"),
        account=pair("account"),
        email_shared=shared("email"),
        phone_shared=shared("phone"),
    )
    text = score_pairs(sides, rules).explain()
    crowded = set(zip(result.shared_keys["key_type"], result.shared_keys["key"], strict=True))
    proposed = []
    for (_, a), (_, b) in zip(c.iterrows(), g.iterrows(), strict=True):
        keys_of = {k: a[k] for k in ("email", "phone") if a[k] is not None and a[k] == b[k]}
        same_account = a["account"] is not None and a["account"] == b["account"]
        if same_account and a["last"] is not None and a["last"] == b["last"]:
            keys_of["name_account"] = f"{a['last']}\x1f{a['account']}"
        by = [
            KEY_NAMES[k] + (" (held by too many records: proposes nothing)" if (k, v) in crowded else "")
            for k, v in keys_of.items()
        ]
        proposed.append("proposed by " + ", ".join(by) if by else "no shared blocking key: never proposed")
    return [f"{t} [{p}]" for t, p in zip(text, proposed, strict=True)]


def show_record(frame: pd.DataFrame, record_id: str) -> str:
    row = frame.loc[record_id]
    value = {k: (None if pd.isna(row[k]) else row[k]) for k in ("first_name", "last_name", "email", "phone_e164")}
    return f"{value['first_name']} {value['last_name']} <{value['email']}> {value['phone_e164']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=20_000, help="Salesforce contact records (default 20,000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the dataset (default 7)")
    parser.add_argument("--overlap", type=float, default=0.6, help="share of CRM people also in Genesys")
    parser.add_argument("--duplicates", type=float, default=0.03, help="share of CRM records that are duplicates")
    parser.add_argument("--genesys-only", type=float, default=0.15, help="people only in Genesys, share of contacts")
    parser.add_argument("--trap-share", type=float, default=0.04, help="share of every identity trap (default 0.04)")
    parser.add_argument("--examples", type=int, default=5, help="example pairs shown per class and kind of error")
    args = parser.parse_args()

    started = time.perf_counter()
    data = generate_dataset(
        args.contacts,
        overlap=args.overlap,
        duplicates=args.duplicates,
        genesys_only=args.genesys_only,
        seed=args.seed,
        **{knob: args.trap_share for knob in TRAP_KNOBS},
    )
    crm, genesys, sf_pos, g_pos = canonical_frames(data)
    prepared = time.perf_counter() - started
    policy = load_policy()
    start, start_cpu = time.perf_counter(), time.process_time()
    result = match_contacts(crm, genesys, None, policy)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    print(
        f"{len(crm):,} Salesforce x {len(genesys):,} Genesys contacts (seed {args.seed}, trap share "
        f"{args.trap_share}); generated and converted in {prepared:.1f} s"
    )
    print(f"match_contacts: {wall:.2f} s wall, {cpu:.2f} s CPU; {len(result.matches):,} links, "
          f"{len(result.review):,} pairs in review")  # fmt: skip

    g = outcome_frame(data, result, sf_pos, g_pos)
    table = class_table(g)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        print()
        print("By trap class of the Genesys record (a true pair: a Genesys record whose person is in the CRM):")
        print(table.to_string(index=False))
    overall = table[table["class"] == "all"].iloc[0]
    for name, target in TARGETS.items():
        met = "met" if overall[name] >= target else "NOT met"
        print(f"  {name} {overall[name]:.4f} (target >= {target}): {met}")
    print(f"  F1 {overall['F1']:.4f}")

    dedup = dedup_figures(data, result, sf_pos)
    print()
    print("CRM duplicates (result.crm_duplicates):")
    for key, value in dedup.items():
        if key != "wrong":
            print(f"  {key}: {value}")

    if args.examples:
        rules = policy.matching
        print()
        print(f"Examples (up to {args.examples} per class):")
        for label in TRAP_CLASSES:
            part = g[g["trap"] == label]
            wrong = part[part["false_link"]].head(args.examples)
            missed = part[part["true_pair"] & ~part["correct"]].head(args.examples)
            if wrong.empty and missed.empty and not (part["in_review"] & ~part["true_pair"]).any():
                continue
            print(f"\n[{label}]")
            for gid, row in wrong.iterrows():
                print(f"  false link {row['link_crm']} ~ {gid}: {row['link_evidence']}")
                print(f"    CRM {show_record(crm.set_index('record_id'), row['link_crm'])}"
                      f" | Genesys {show_record(genesys.set_index('record_id'), gid)}")  # fmt: skip
            if not missed.empty:
                true_crm = [crm["record_id"].iloc[int(data.genesys_match[g_pos[gid]])] for gid in missed.index.tolist()]
                pairs = pd.DataFrame({"crm_id": true_crm, "genesys_id": missed.index.to_numpy(dtype=object)})
                texts = explain_pairs(crm, genesys, pairs, result, rules)
                for (gid, row), crm_id, text in zip(missed.iterrows(), true_crm, texts, strict=True):
                    status = (
                        f"in review ({row['review_reason']})"
                        if row["review_right"]
                        else f"linked to {row['link_crm']} instead"
                        if row["linked"]
                        else f"in review with {row['review_crm']} instead"
                        if row["in_review"]
                        else "not linked"
                    )
                    print(f"  missed {crm_id} ~ {gid}, {status}: {text}")
                    print(f"    CRM {show_record(crm.set_index('record_id'), crm_id)}"
                          f" | Genesys {show_record(genesys.set_index('record_id'), gid)}")  # fmt: skip
            held = part[part["in_review"] & ~part["review_right"] & ~part["true_pair"]].head(args.examples)
            for gid, row in held.iterrows():
                print(f"  in review, two people {row['review_crm']} ~ {gid} ({row['review_reason']}): "
                      f"{row['review_evidence']}")  # fmt: skip
                print(f"    CRM {show_record(crm.set_index('record_id'), row['review_crm'])}"
                      f" | Genesys {show_record(genesys.set_index('record_id'), gid)}")  # fmt: skip
        wrong = dedup["wrong"].head(args.examples)
        if len(wrong):
            print("\n[CRM duplicates grouped across two people]")
            for row in wrong.itertuples():
                print(f"  {row.record_id} -> {row.primary_id} ({row.key_type} {row.key}): {row.evidence}")


if __name__ == "__main__":
    main()
