"""Match CRM contacts to Genesys contacts, tier by tier, and group duplicates inside each system.

Order of trust: stored link (ledger) -> CRM id in Genesys ``externalIds`` -> normalized email -> E.164 phone ->
first + last name within the same account (only with ``policy.match_on_name``). Each tier only sees the records no
higher tier matched or flagged. Every tier is a join on a key that is unique on both sides; a key held by two or more
candidates on either side is ambiguous: those records are reported and left alone (nothing is written for them).

Duplicates inside one system (same normalized email or E.164 phone among live records) are grouped. In the CRM one
record per group is the primary, chosen deterministically: a record already linked to Genesys first, then the oldest
``created_at`` (missing dates last), then the lowest ``record_id``. Only primaries take part in the email, phone and
name tiers and only primaries are ever created in Genesys, so one person entered twice in the CRM never becomes two
Genesys contacts. Genesys duplicates keep taking part in matching (two Genesys candidates for one key stay
ambiguous), but their groups are decided after every tier, with matched and ambiguous records ranked first, so only
an unmatched group primary may be created in the CRM: one person entered twice in Genesys never becomes two CRM
contacts, nor a second CRM contact next to the one their twin already matched. Nor is an unmatched Genesys
record whose email or phone a CRM record holds: a live one (a CRM secondary, or a record matched or ambiguous
elsewhere) means that person is already in the CRM; a deleted or merged-away one means the CRM removed that person,
and a Genesys duplicate must not bring them back (when the plan deletes the linked twin, the next run would
otherwise find the duplicate alone and create it).

Deleted or merged CRM records never match new Genesys contacts; their stored links are still matched so the plan can
unlink or delete. Once the link is dropped they match nothing, not even a Genesys contact that still carries their id
(that contact is reported as unmatched, with the id it carries), so a handled delete is not handled again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from contact_sync.sync.normalize import normalize_email, normalize_name

RULE_SCORES: Final = {"link": 1.0, "external_id": 1.0, "email": 0.95, "phone": 0.85, "name_account": 0.6}
"""Confidence attached to a match by the tier that made it."""

MATCH_COLUMNS: Final = ("crm_id", "genesys_id", "rule", "score")
AMBIGUOUS_COLUMNS: Final = ("rule", "key", "system", "record_id")
DUPLICATE_COLUMNS: Final = ("group_id", "key_type", "key", "record_id", "is_primary", "primary_id")
REJECTED_COLUMNS: Final = ("system", "record_id", "reason")


@dataclass(frozen=True)
class MatchResult:
    """What matching found. Every frame has plain string/float/bool columns."""

    matches: pd.DataFrame
    """crm_id, genesys_id, rule (link|external_id|email|phone|name_account), score. 1:1 on both ids."""
    ambiguous: pd.DataFrame
    """rule, key, system ("crm"|"genesys"), record_id: records with two or more candidates at one tier."""
    crm_duplicates: pd.DataFrame
    """group_id, key_type (email|phone), key, record_id, is_primary, primary_id: live CRM records sharing a key."""
    genesys_duplicates: pd.DataFrame
    """Same columns, for Genesys records. Matched or ambiguous records come first when choosing a primary."""
    unmatched_crm: pd.DataFrame
    """crm_id, duplicate_of, held: live CRM records with no Genesys match. Only rows with a null duplicate_of
    (the primary of their duplicate group, or in none) and held False may be created in Genesys."""
    unmatched_genesys: pd.DataFrame
    """genesys_id, linked_crm_id, duplicate_of: Genesys records with no CRM match; linked_crm_id is the CRM id in
    their externalIds when it names no CRM record of this snapshot, duplicate_of the primary of a Genesys duplicate
    group they are a secondary of, crm_twin_id a CRM record (live first, else deleted or merged away) holding the
    same email or phone. Only rows with all three null may be used to create a CRM contact
    (``unmatched_genesys_reasons`` says which rule holds each of the others back)."""
    rejected: pd.DataFrame
    """system, record_id, reason: input rows left out (null or duplicate ids in one snapshot)."""


def _frame(columns: tuple[str, ...], data: dict[str, object] | None = None) -> pd.DataFrame:
    if data is None:
        return pd.DataFrame({name: pd.Series([], dtype=object) for name in columns})
    return pd.DataFrame(data, columns=list(columns))


def _reject_bad_ids(frame: pd.DataFrame, system: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop rows whose record_id is missing or appears more than once (every copy: we cannot tell which is right)."""
    ids = frame["record_id"].astype(object)
    missing = ids.isna() | (ids == "")
    repeated = ids.duplicated(keep=False) & ~missing
    bad = missing | repeated
    if not bad.any():
        return frame, _frame(REJECTED_COLUMNS)
    reasons = pd.Series("missing record_id", index=frame.index).where(missing, "record_id appears twice in snapshot")
    rejected = pd.DataFrame(
        {"system": system, "record_id": ids[bad].where(~missing[bad], None), "reason": reasons[bad]},
        columns=list(REJECTED_COLUMNS),
    )
    return frame.loc[~bad], rejected


def _email_key(values: pd.Series) -> pd.Series:
    """Normalized email; normalize_email already nulls anything that is not local@domain."""
    return _text_key(normalize_email(values))


def _text_key(values: pd.Series) -> pd.Series:
    """Values as objects, None for missing or empty."""
    key = values.astype(object)
    return key.where(key.notna() & (key != ""), None)


def _name_key(frame: pd.DataFrame) -> pd.Series:
    first = _text_key(normalize_name(frame["first_name"]))
    last = _text_key(normalize_name(frame["last_name"]))
    account = _text_key(frame["account_id"])
    key = first.astype(str) + "\x1f" + last.astype(str) + "\x1f" + account.astype(str)
    return key.where(first.notna() & last.notna() & account.notna(), None)


def _prepare(frame: pd.DataFrame, match_on_name: bool) -> pd.DataFrame:
    """The columns matching needs, one row per record in input order (a RangeIndex: record ids are looked up once,
    in ``_Taken``, and every later selection is a boolean mask by position)."""
    work = pd.DataFrame(
        {
            "id": frame["record_id"].astype(object).to_numpy(),
            "link": _text_key(frame["crm_id"]).to_numpy(),
            "email": _email_key(frame["email"]).to_numpy(),
            "phone": _text_key(frame["phone_e164"]).to_numpy(),
            "created_at": pd.to_datetime(frame["created_at"], utc=True).to_numpy(dtype="datetime64[ns]"),
            "live": (~frame["is_deleted"].fillna(False).astype(bool) & frame["merged_into"].isna()).to_numpy(),
        }
    )
    work["name"] = _name_key(frame).to_numpy() if match_on_name else None
    return work


class _Taken:
    """Which records of one prepared frame a tier already matched or flagged, as a mask by position."""

    def __init__(self, work: pd.DataFrame) -> None:
        self.record_ids = pd.Index(work["id"])  # every record of the frame, taken or not
        self.mask = np.zeros(len(work), dtype=bool)

    def has(self, ids: pd.Series | pd.Index) -> np.ndarray:
        """A mask of the records whose id is among ``ids``."""
        at = self.record_ids.get_indexer(pd.Index(ids).unique())
        mask = np.zeros(len(self.record_ids), dtype=bool)
        mask[at[at >= 0]] = True
        return mask

    def add(self, ids: pd.Series | pd.Index) -> None:
        self.mask |= self.has(ids)


def _unique_join(crm_keys: pd.DataFrame, genesys_keys: pd.DataFrame, rule: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Join (id, key) frames on key where the key is held once on each side; report keys held more often.

    Returns (matches, ambiguous). No cross product is ever built: ambiguous keys are found by counting first.
    """
    crm_keys = crm_keys.dropna(subset=["key"])
    genesys_keys = genesys_keys.dropna(subset=["key"])
    shared = pd.Index(crm_keys["key"].unique()).intersection(pd.Index(genesys_keys["key"].unique()))
    crm_keys = crm_keys[crm_keys["key"].isin(shared)]
    genesys_keys = genesys_keys[genesys_keys["key"].isin(shared)]
    crowded = pd.Index(
        pd.concat(
            [
                crm_keys.loc[crm_keys["key"].duplicated(), "key"],
                genesys_keys.loc[genesys_keys["key"].duplicated(), "key"],
            ]
        ).unique()
    )
    crm_amb = crm_keys["key"].isin(crowded)
    gen_amb = genesys_keys["key"].isin(crowded)
    pairs = crm_keys[~crm_amb].merge(genesys_keys[~gen_amb], on="key", suffixes=("_crm", "_gen"))
    matches = _frame(
        MATCH_COLUMNS,
        {"crm_id": pairs["id_crm"], "genesys_id": pairs["id_gen"], "rule": rule, "score": RULE_SCORES[rule]},
    )
    ambiguous = pd.concat(
        [
            _frame(
                AMBIGUOUS_COLUMNS,
                {
                    "rule": rule,
                    "key": crm_keys.loc[crm_amb, "key"],
                    "system": "crm",
                    "record_id": crm_keys.loc[crm_amb, "id"],
                },
            ),
            _frame(
                AMBIGUOUS_COLUMNS,
                {
                    "rule": rule,
                    "key": genesys_keys.loc[gen_amb, "key"],
                    "system": "genesys",
                    "record_id": genesys_keys.loc[gen_amb, "id"],
                },
            ),
        ],
        ignore_index=True,
    )
    return matches, ambiguous


def _duplicate_groups(work: pd.DataFrame, linked: np.ndarray) -> pd.DataFrame:
    """Groups of records sharing a normalized email or E.164 phone, with a deterministic primary per group.

    ``linked`` marks (by position in ``work``) the records that rank first when choosing a primary."""
    long = pd.concat(
        [
            pd.DataFrame(
                {
                    "key_type": kind,
                    "key": work[kind].to_numpy(),
                    "record_id": work["id"].to_numpy(),
                    "created_at": work["created_at"].to_numpy(),
                    "unlinked": ~linked,
                }
            )
            for kind in ("email", "phone")
        ],
        ignore_index=True,
    ).dropna(subset=["key"])
    long = long[long.duplicated(subset=["key_type", "key"], keep=False)]
    if long.empty:
        return _frame(DUPLICATE_COLUMNS)
    long = long.sort_values(["key_type", "key", "unlinked", "created_at", "record_id"], na_position="last")
    grouped = long.groupby(["key_type", "key"], sort=True)
    long["group_id"] = grouped.ngroup().astype("int64")
    long["primary_id"] = grouped["record_id"].transform("first")
    long["is_primary"] = long["record_id"] == long["primary_id"]
    return long[list(DUPLICATE_COLUMNS)].reset_index(drop=True)


def _crm_twins(crm: pd.DataFrame, genesys: pd.DataFrame) -> pd.Series:
    """For each Genesys record, a CRM record holding its email (else its phone), live ones first, or None."""
    twins = pd.Series(None, index=genesys.index, dtype=object)
    crm = crm.sort_values("live", ascending=False, kind="stable")
    for column in ("phone", "email"):
        owners = crm.dropna(subset=[column]).drop_duplicates(subset=[column]).set_index(column)["id"]
        found = genesys[column].map(owners)
        twins = found.where(found.notna(), twins)
    return twins


def unmatched_genesys_reasons(unmatched: pd.DataFrame) -> pd.Series:
    """Why each unmatched Genesys record (``MatchResult.unmatched_genesys``) is not a new CRM contact; null for the
    records that are only in Genesys, the ones ``create_crm_from_genesys`` may create."""
    linked, duplicate_of, twin = (
        unmatched[name].astype(object) for name in ("linked_crm_id", "duplicate_of", "crm_twin_id")
    )
    reasons = np.select(
        [linked.notna().to_numpy(), duplicate_of.notna().to_numpy(), twin.notna().to_numpy()],
        [
            ("carries CRM id " + linked.fillna("") + ", which names no CRM record").to_numpy(),
            ("duplicate of Genesys contact " + duplicate_of.fillna("")).to_numpy(),
            ("same email or phone as CRM record " + twin.fillna("")).to_numpy(),
        ],
        default=None,
    )
    return pd.Series(reasons, index=unmatched.index, dtype=object)


def match_contacts(
    crm: pd.DataFrame,
    genesys: pd.DataFrame,
    links: pd.DataFrame | None,
    policy: object,
    held_crm_ids: pd.Index | None = None,
) -> MatchResult:
    """Link each CRM contact to at most one Genesys contact, tier by tier (see the module docstring).

    ``crm`` and ``genesys`` are canonical frames; ``links`` the ledger's (crm_id, genesys_id) pairs or None.
    ``held_crm_ids`` are CRM ids that must not match new Genesys contacts nor be created (e.g. a Genesys record that
    links to them could not be read); they still keep stored links.
    """
    crm, crm_rejected = _reject_bad_ids(crm, "crm")
    genesys, gen_rejected = _reject_bad_ids(genesys, "genesys")
    match_on_name = bool(getattr(policy, "match_on_name", False))
    c = _prepare(crm, match_on_name)
    g = _prepare(genesys, match_on_name)
    taken_c, taken_g = _Taken(c), _Taken(g)
    held = taken_c.has(pd.Index([] if held_crm_ids is None else held_crm_ids, dtype=object))
    live_c, live_g = c["live"].to_numpy(), g["live"].to_numpy()

    found: list[pd.DataFrame] = []
    ambiguous: list[pd.DataFrame] = []

    def take(matches: pd.DataFrame, amb: pd.DataFrame) -> None:
        found.append(matches)
        ambiguous.append(amb)
        taken_c.add(pd.concat([matches["crm_id"], amb.loc[amb["system"] == "crm", "record_id"]]))
        taken_g.add(pd.concat([matches["genesys_id"], amb.loc[amb["system"] == "genesys", "record_id"]]))

    # Tier 1: stored links whose two records are both in the snapshots. A corrupt ledger (an id linked twice) is
    # reported, never guessed.
    if links is not None and len(links):
        stored = links[["crm_id", "genesys_id"]].dropna().drop_duplicates()
        stored = stored[stored["crm_id"].isin(taken_c.record_ids) & stored["genesys_id"].isin(taken_g.record_ids)]
        twice = stored["crm_id"].duplicated(keep=False) | stored["genesys_id"].duplicated(keep=False)
        bad = stored[twice]
        amb = pd.concat(
            [
                _frame(
                    AMBIGUOUS_COLUMNS,
                    {"rule": "link", "key": bad["crm_id"], "system": "crm", "record_id": bad["crm_id"]},
                ),
                _frame(
                    AMBIGUOUS_COLUMNS,
                    {"rule": "link", "key": bad["crm_id"], "system": "genesys", "record_id": bad["genesys_id"]},
                ),
            ],
            ignore_index=True,
        ).drop_duplicates(subset=["system", "record_id"])
        ok = stored[~twice]
        take(
            _frame(
                MATCH_COLUMNS,
                {"crm_id": ok["crm_id"], "genesys_id": ok["genesys_id"], "rule": "link", "score": RULE_SCORES["link"]},
            ),
            amb,
        )

    # Tier 2: the CRM id a Genesys contact carries in externalIds.
    free_c = c[live_c & ~taken_c.mask]
    free_g = g[~taken_g.mask]
    take(
        *_unique_join(
            pd.DataFrame({"id": free_c["id"], "key": free_c["id"]}),
            pd.DataFrame({"id": free_g["id"], "key": free_g["link"]}),
            "external_id",
        )
    )

    # Duplicate groups are decided after the trusted tiers so an already linked record is its group's primary.
    linked_c = taken_c.has(pd.concat([f["crm_id"] for f in found]))
    crm_dups = _duplicate_groups(c[live_c], linked_c[live_c])
    secondary = crm_dups.loc[~crm_dups["is_primary"]].drop_duplicates(subset=["record_id"])
    is_secondary = taken_c.has(secondary["record_id"])
    unlinked_g = g["link"].isna().to_numpy()

    # Tiers 3-5: live, free, primary CRM records against free Genesys records that carry no CRM id of their own.
    for rule, column in (("email", "email"), ("phone", "phone"), ("name_account", "name")):
        if column == "name" and not match_on_name:
            continue
        cand_c = c[live_c & ~taken_c.mask & ~is_secondary & ~held]
        cand_g = g[live_g & ~taken_g.mask & unlinked_g]
        take(
            *_unique_join(
                pd.DataFrame({"id": cand_c["id"], "key": cand_c[column]}),
                pd.DataFrame({"id": cand_g["id"], "key": cand_g[column]}),
                rule,
            )
        )

    matches = pd.concat(found, ignore_index=True) if found else _frame(MATCH_COLUMNS)
    all_amb = pd.concat(ambiguous, ignore_index=True) if ambiguous else _frame(AMBIGUOUS_COLUMNS)

    lone = live_c & ~taken_c.mask
    lone_c = c[lone]
    duplicate_of = secondary.set_index("record_id")["primary_id"]
    unmatched_crm = pd.DataFrame(
        {
            "crm_id": lone_c["id"].to_numpy(),
            "duplicate_of": duplicate_of.reindex(lone_c["id"]).to_numpy(),
            "held": held[lone],
        }
    )
    # Genesys groups are decided last: a record that matched or is ambiguous outranks its unmatched twins, so those
    # twins are secondaries and never become CRM contacts of their own.
    gen_dups = _duplicate_groups(g[live_g], taken_g.mask[live_g])
    gen_secondary = gen_dups.loc[~gen_dups["is_primary"]].drop_duplicates(subset=["record_id"])
    lone_g = g[live_g & ~taken_g.mask]
    unmatched_genesys = pd.DataFrame(
        {
            "genesys_id": lone_g["id"].to_numpy(),
            "linked_crm_id": lone_g["link"].to_numpy(),
            "duplicate_of": gen_secondary.set_index("record_id")["primary_id"].reindex(lone_g["id"]).to_numpy(),
            "crm_twin_id": _crm_twins(c, lone_g).to_numpy(),
        }
    )

    return MatchResult(
        matches=matches.reset_index(drop=True),
        ambiguous=all_amb,
        crm_duplicates=crm_dups,
        genesys_duplicates=gen_dups,
        unmatched_crm=unmatched_crm.astype({"crm_id": object, "duplicate_of": object}),
        unmatched_genesys=unmatched_genesys.astype(object),
        rejected=pd.concat([crm_rejected, gen_rejected], ignore_index=True),
    )
