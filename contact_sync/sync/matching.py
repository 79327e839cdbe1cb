"""Match CRM contacts to Genesys contacts on evidence, and group duplicates inside each system the same way.

Trusted facts first: a stored link (ledger), a pair someone accepted in the match review queue, the CRM id a Genesys
contact carries in ``externalIds``. They are authoritative (score 1.0) unless ``matching.recheck_links`` is on. Every
other pair is only *proposed* by blocking keys (normalized email, E.164 phone, last name + account, and with
``matching.names_across_accounts`` first + last name) and then scored on all its evidence
(``contact_sync.sync.evidence``): a shared phone or email is not proof that two records are one person.

Decisions, in up to three rounds over the records still free: a pair that is the best candidate of both its records
links when it scores at least ``link_threshold``, is not tied with another candidate of either record and has no
conflicting evidence; it waits in the review queue (``MatchResult.review``) when it scores at least
``review_threshold`` but cannot link, or reaches the link threshold with conflicting evidence; otherwise it is no
match (conflicting evidence below the link threshold is no match: a household's two people, an office line).
Records in review are neither linked nor created on the other side until someone decides. A key held by more than
``max_block_records`` records on either side proposes no pairs (it is still evidence, as a shared key); a pair
someone rejected is never proposed again.

Duplicates inside one system are pairs sharing an email or phone that score as one person on the same evidence: two
colleagues on ``sales@acme.com`` are two people. In the CRM one record per group is the primary, chosen
deterministically (a record already linked first, then the oldest ``created_at``, then the lowest ``record_id``);
only primaries are matched and created in Genesys. Genesys groups are decided after matching, with matched and
reviewed records ranked first, so only an unmatched group primary may be created in the CRM, and not when a CRM
record (live, or deleted/merged away) scores as the same person on email or phone.

Deleted or merged CRM records never match new Genesys contacts; their stored links are still matched so the plan can
unlink or delete. Once the link is dropped they match nothing, not even a Genesys contact that still carries their id.
One exception is the CRM's own word: a link (stored, or the id in ``externalIds``) of a record merged into a live record
that has no link of its own moves to that record (rule ``merged``; ``MatchResult.moved_links`` names the stored links
it replaces). A HubSpot merge makes a new record of both, and a Salesforce master may have been unlinked: without this
the survivor would be created in Genesys a second time. When several links merge into one record, none is chosen: the
record is reported ambiguous (rule ``merged``) and held, and the links go by ``on_crm_delete``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from contact_sync.sync.evidence import MatchingPolicy, PairSides, Scores, score_pairs
from contact_sync.sync.normalize import normalize_email, normalize_name

if TYPE_CHECKING:
    from contact_sync.sync.incremental import DecisionScope

RULE_SCORES: Final = {"link": 1.0, "accepted": 1.0, "external_id": 1.0, "merged": 1.0}
"""Score of the trusted rules; proposed pairs carry their evidence score."""
TRUSTED_EVIDENCE: Final = {
    "link": "stored link",
    "accepted": "accepted in the match review queue",
    "external_id": "CRM id in the Genesys contact's externalIds",
    "merged": "linked to a CRM record merged into this one",
}
BLOCKING_KEYS: Final = ("email", "phone", "name_account", "name")
"""Blocking keys in the order a proposed pair's ``rule`` names the first that proposed it."""

MATCH_COLUMNS: Final = ("crm_id", "genesys_id", "rule", "score", "evidence")
REVIEW_COLUMNS: Final = ("crm_id", "genesys_id", "rule", "score", "evidence", "reason")
AMBIGUOUS_COLUMNS: Final = ("rule", "key", "system", "record_id")
DUPLICATE_COLUMNS: Final = ("group_id", "key_type", "key", "record_id", "is_primary", "primary_id", "score", "evidence")
REJECTED_COLUMNS: Final = ("system", "record_id", "reason")
SHARED_KEY_COLUMNS: Final = ("key_type", "key", "crm_records", "genesys_records")
DECISION_COLUMNS: Final = ("crm_id", "genesys_id", "decision")
KEPT_APART_COLUMNS: Final = ("reason", "pairs")
MOVED_COLUMNS: Final = ("crm_id", "genesys_id", "merged_into")
PAIR_DECISIONS: Final = ("accept", "reject", "release")


@dataclass(frozen=True)
class MatchResult:
    """What matching found. Every frame has plain string/float/bool columns."""

    matches: pd.DataFrame
    """crm_id, genesys_id, rule (link|accepted|external_id|email|phone|name_account|name), score, evidence (why,
    in words). 1:1 on both ids."""
    ambiguous: pd.DataFrame
    """rule, key, system ("crm"|"genesys"), record_id: records of a corrupt ledger (an id linked twice)."""
    crm_duplicates: pd.DataFrame
    """group_id, key_type (email|phone), key, record_id, is_primary, primary_id, score, evidence: live CRM records
    sharing a key that score as one person; score and evidence compare a secondary with its primary."""
    genesys_duplicates: pd.DataFrame
    """Same columns, for Genesys records. Matched or reviewed records come first when choosing a primary."""
    unmatched_crm: pd.DataFrame
    """crm_id, duplicate_of, held: live CRM records with no Genesys match. Only rows with a null duplicate_of
    (the primary of their duplicate group, or in none) and held False may be created in Genesys; held is True for
    records in the review queue and for records an unreadable Genesys contact names."""
    unmatched_genesys: pd.DataFrame
    """genesys_id, linked_crm_id, duplicate_of, crm_twin_id, review_crm_id: Genesys records with no CRM match;
    linked_crm_id is the CRM id in their externalIds when it names no CRM record of this snapshot, duplicate_of the
    primary of a Genesys duplicate group they are a secondary of, crm_twin_id a CRM record (live first, else deleted
    or merged away) scoring as the same person on email or phone, review_crm_id the CRM record of a pair waiting for
    review. Only rows with all four null may be used to create a CRM contact (``unmatched_genesys_reasons``)."""
    rejected: pd.DataFrame
    """system, record_id, reason: input rows left out (null or duplicate ids in one snapshot)."""
    review: pd.DataFrame
    """crm_id, genesys_id, rule, score, evidence, reason: pairs held for a person to decide; nothing is written for
    them and neither record is created on the other side."""
    shared_keys: pd.DataFrame
    """key_type, key, crm_records, genesys_records: keys too common to propose pairs (over max_block_records)."""
    kept_apart: pd.DataFrame = field(default_factory=lambda: _frame(KEPT_APART_COLUMNS))
    """reason, pairs: how many proposed pairs were neither linked nor held, by why (conflicting evidence, a score
    below the review threshold, a better candidate taken, a pair someone rejected or released)."""
    moved_links: pd.DataFrame = field(default_factory=lambda: _frame(MOVED_COLUMNS))
    """crm_id, genesys_id, merged_into: stored links whose CRM record was merged into `merged_into`, now linked to
    the Genesys contact in ``matches`` (rule ``merged``) in their place."""
    scope: DecisionScope | None = None
    """The records an incremental decision matched (``sync.incremental``); None when both snapshots were matched
    whole. The frames above then hold only those records."""


def _frame(columns: tuple[str, ...], data: dict[str, object] | None = None) -> pd.DataFrame:
    if data is None:
        return pd.DataFrame({name: pd.Series([], dtype=object) for name in columns})
    return pd.DataFrame(data, columns=list(columns))


def matching_rules(policy: object) -> MatchingPolicy:
    """The policy's matching section (the defaults when it has none)."""
    rules = getattr(policy, "matching", None)
    return rules if isinstance(rules, MatchingPolicy) else MatchingPolicy()


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


def _text_key(values: pd.Series) -> pd.Series:
    """Values as objects, None for missing or empty."""
    key = values.astype(object)
    return key.where(key.notna() & (key != ""), None)


def _prepare(frame: pd.DataFrame, rules: MatchingPolicy) -> pd.DataFrame:
    """The columns matching needs, one row per record in input order (a RangeIndex: every selection below is a mask
    or an array of positions)."""
    email = _text_key(normalize_email(frame["email"]))
    first = _text_key(normalize_name(frame["first_name"]))
    last = _text_key(normalize_name(frame["last_name"]))
    account = _text_key(frame["account_id"])
    work = pd.DataFrame(
        {
            "id": frame["record_id"].astype(object).to_numpy(),
            "link": _text_key(frame["crm_id"]).to_numpy(),
            "email": email.to_numpy(),
            "phone": _text_key(frame["phone_e164"]).to_numpy(),
            "first": first.to_numpy(),
            "last": last.to_numpy(),
            "account": account.to_numpy(),
            "created_at": pd.to_datetime(frame["created_at"], utc=True).to_numpy(dtype="datetime64[ns]"),
            "live": (~frame["is_deleted"].fillna(False).astype(bool) & frame["merged_into"].isna()).to_numpy(),
            "merged_into": _text_key(frame["merged_into"]).to_numpy(),
        }
    )
    work["role_email"] = _role_mailbox(work["email"], rules.role_local_parts)
    return work


def candidate_keys(frame: pd.DataFrame, policy: object) -> dict[str, np.ndarray]:
    """Each record's blocking keys as matching reads them (object arrays, None when missing): email, phone,
    name_account and, with ``matching.names_across_accounts``, name. Two records can only become candidates of each
    other through one of these (the incremental engine's edges between records)."""
    rules = matching_rules(policy)
    work = _prepare(frame, rules)

    def joined(a: str, b: str) -> np.ndarray:
        first, second = work[a].to_numpy(dtype=object), work[b].to_numpy(dtype=object)
        both = pd.notna(first) & pd.notna(second)
        out = np.full(len(work), None, dtype=object)
        out[both] = first[both].astype(str) + "\x1f" + second[both].astype(str)
        return out

    keys = {
        "email": work["email"].to_numpy(dtype=object),
        "phone": work["phone"].to_numpy(dtype=object),
        "name_account": joined("last", "account"),
    }
    if rules.names_across_accounts:
        keys["name"] = joined("first", "last")
    return keys


def _add_key_codes(c: pd.DataFrame, g: pd.DataFrame) -> None:
    """Integer codes of every blocking key in one code space for both frames (``<key>_code``, -1 when missing), so
    counting, joining and comparing keys is integer work: email, phone, name_account (last name + account), name
    (first + last name), and last_code for splitting crowded blocks."""
    n = len(c)

    def codes(column: str) -> np.ndarray:
        values = np.concatenate([c[column].to_numpy(dtype=object), g[column].to_numpy(dtype=object)])
        return pd.factorize(values, use_na_sentinel=True)[0].astype(np.int64)

    def combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        width = int(b.max()) + 1 if len(b) else 1
        return np.where((a >= 0) & (b >= 0), a * width + b, -1)

    last = codes("last")
    keys = {
        "email": codes("email"),
        "phone": codes("phone"),
        "name_account": combine(last, codes("account")),
        "name": combine(codes("first"), last),
        "last": last,
    }
    for name, values in keys.items():
        c[f"{name}_code"] = values[:n]
        g[f"{name}_code"] = values[n:]


def _key_text(frame: pd.DataFrame, key: str, at: np.ndarray) -> np.ndarray:
    """The key of the records at ``at`` in words, for reports."""
    if key in ("email", "phone"):
        return frame[key].to_numpy(dtype=object)[at]
    first, second = ("last", "account") if key == "name_account" else ("first", "last")
    joiner = " @ " if key == "name_account" else " "
    a = pd.Series(frame[first].to_numpy(dtype=object)[at], dtype=object).astype(str)
    b = pd.Series(frame[second].to_numpy(dtype=object)[at], dtype=object).astype(str)
    return (a + joiner + b).to_numpy(dtype=object)


def _role_mailbox(emails: pd.Series, local_parts: tuple[str, ...]) -> np.ndarray:
    """True for the addresses whose local part is a role (``info@``, ``sales@`` ...): one regular expression over
    the whole column in Arrow, no Python call per address."""
    if not local_parts or emails.empty:
        return np.zeros(len(emails), dtype=bool)
    pattern = "^(" + "|".join(re.escape(part) for part in local_parts) + ")@"
    found = pc.match_substring_regex(pa.array(emails.to_numpy(dtype=object), type=pa.string()), pattern=pattern)
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def _positions(work: pd.DataFrame, ids: pd.Series | pd.Index) -> np.ndarray:
    at = pd.Index(work["id"]).get_indexer(pd.Index(ids).unique())
    return at[at >= 0]


def _mask(n: int, at: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[at] = True
    return mask


def _people_per_key(work: pd.DataFrame, counted: np.ndarray, column: str, duplicates: pd.DataFrame) -> pd.Series:
    """key code -> how many people hold it among the ``counted`` records: the records less the duplicates among
    them (the non-primary members of that key's duplicate groups)."""
    codes = work[f"{column}_code"].to_numpy()[counted]
    holders = pd.Series(codes[codes >= 0]).value_counts(sort=False)
    twins = duplicates[(duplicates["key_type"] == column) & ~duplicates["is_primary"].astype(bool)]
    if twins.empty:
        return holders
    twin_codes = work[f"{column}_code"].to_numpy()[_positions(work, twins["record_id"])]
    repeated = pd.Series(twin_codes).value_counts(sort=False)
    return holders.sub(repeated.reindex(holders.index).fillna(0).astype(np.int64))


def _shared(
    codes: np.ndarray, roles: np.ndarray | None, people: tuple[pd.Series, pd.Series], rules: MatchingPolicy
) -> np.ndarray:
    """Per pair: is the (CRM side's) key held by several people on either side, or a role mailbox."""
    shared = np.zeros(len(codes), dtype=bool)
    for counts in people:
        if counts.empty:
            continue
        held = counts.reindex(codes).to_numpy(dtype=float)
        shared |= np.nan_to_num(held, nan=0.0) >= rules.shared_key_people
    if roles is not None:
        shared |= roles
    return shared


def _sides(
    c: pd.DataFrame, g: pd.DataFrame, ci: np.ndarray, gi: np.ndarray, shared: dict[str, np.ndarray]
) -> PairSides:
    def pair(column: str) -> tuple[np.ndarray, np.ndarray]:
        return c[column].to_numpy(dtype=object)[ci], g[column].to_numpy(dtype=object)[gi]

    return PairSides(
        email=pair("email"),
        phone=pair("phone"),
        first=pair("first"),
        last=pair("last"),
        account=pair("account"),
        email_shared=shared["email"],
        phone_shared=shared["phone"],
    )


class _Scorer:
    """Scores pairs of positions (CRM frame, Genesys frame) with the key frequencies of this run."""

    def __init__(
        self, c: pd.DataFrame, g: pd.DataFrame, people: dict[str, tuple[pd.Series, pd.Series]], rules: MatchingPolicy
    ) -> None:
        self.c, self.g, self.people, self.rules = c, g, people, rules

    def score(self, ci: np.ndarray, gi: np.ndarray) -> Scores:
        roles = self.c["role_email"].to_numpy(dtype=bool)[ci] | self.g["role_email"].to_numpy(dtype=bool)[gi]
        shared = {
            "email": _shared(self.c["email_code"].to_numpy()[ci], roles, self.people["email"], self.rules),
            "phone": _shared(self.c["phone_code"].to_numpy()[ci], None, self.people["phone"], self.rules),
        }
        return score_pairs(_sides(self.c, self.g, ci, gi, shared), self.rules)


def _block(
    left: pd.DataFrame, right: pd.DataFrame, keys: tuple[str, ...], rules: MatchingPolicy
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candidate pairs (li, ri, keys bitmask) of positions in ``left`` x ``right`` sharing a blocking key, and the
    keys too common to propose pairs. ``left``/``right`` are prepared frames restricted to the records that may
    take part (their index holds the positions)."""
    found: list[pd.DataFrame] = []
    crowded: list[pd.DataFrame] = []
    for key in keys:
        bit = 1 << BLOCKING_KEYS.index(key)
        lk = left[f"{key}_code"]
        rk = right[f"{key}_code"]
        lk, rk = lk[lk.to_numpy() >= 0], rk[rk.to_numpy() >= 0]
        if lk.empty or rk.empty:
            continue
        l_count = lk.value_counts(sort=False)
        r_count = rk.value_counts(sort=False)
        both = l_count.index.intersection(r_count.index)
        if both.empty:
            continue
        too_many = (l_count.reindex(both) > rules.max_block_records) | (r_count.reindex(both) > rules.max_block_records)
        if too_many.any():
            over = both[too_many.to_numpy()]
            sample = lk[lk.isin(over)].drop_duplicates()
            crowded.append(
                pd.DataFrame(
                    {
                        "key_type": key,
                        "key": _key_text(left, key, sample.index.to_numpy()),
                        "crm_records": l_count.reindex(sample.to_numpy()).to_numpy(),
                        "genesys_records": r_count.reindex(sample.to_numpy()).to_numpy(),
                    }
                )
            )
        usable = both[~too_many.to_numpy()]
        lk = lk[lk.isin(usable)]
        rk = rk[rk.isin(usable)]
        pairs = pd.DataFrame({"li": lk.index.to_numpy(), "key": lk.to_numpy()}).merge(
            pd.DataFrame({"ri": rk.index.to_numpy(), "key": rk.to_numpy()}), on="key"
        )
        found.append(pd.DataFrame({"li": pairs["li"].to_numpy(), "ri": pairs["ri"].to_numpy(), "keys": bit}))
    if not found:
        pairs = pd.DataFrame({"li": np.array([], dtype=np.int64), "ri": np.array([], dtype=np.int64), "keys": 0})
    else:
        pairs = pd.concat(found, ignore_index=True).groupby(["li", "ri"], sort=False, as_index=False)["keys"].sum()
    shared = pd.concat(crowded, ignore_index=True) if crowded else _frame(SHARED_KEY_COLUMNS)
    return pairs, shared


def _rule_of(keys: np.ndarray) -> np.ndarray:
    """The first blocking key (by ``BLOCKING_KEYS``) of each bitmask."""
    names = np.asarray(BLOCKING_KEYS, dtype=object)
    lowest = np.zeros(len(keys), dtype=np.int64)
    for bit in range(len(BLOCKING_KEYS) - 1, -1, -1):
        lowest = np.where((keys >> bit) & 1, bit, lowest)
    return names[lowest]


def _best_per(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: is it at its record's best score, and how many pairs of that record share the best score."""
    frame = pd.DataFrame({"id": ids, "score": scores})
    best = frame.groupby("id", sort=False)["score"].transform("max").to_numpy()
    at_best = scores >= best
    ties = pd.Series(at_best.astype(np.int64)).groupby(ids, sort=False).transform("sum").to_numpy()
    return at_best, ties


@dataclass(frozen=True)
class _Decided:
    links: pd.DataFrame  # ci, gi, rule, score, evidence
    review: pd.DataFrame  # ci, gi, rule, score, evidence, reason
    kept_apart: pd.DataFrame  # reason, pairs


def _decide(cand: pd.DataFrame, scores: Scores, rules: MatchingPolicy, rounds: int = 3) -> _Decided:
    """Mutual-best decisions over scored candidate pairs (see the module docstring); no Python loop over pairs."""
    ci = cand["li"].to_numpy()
    gi = cand["ri"].to_numpy()
    bits = scores.bits
    # Conflicting evidence below the link threshold is no match; above it, a question for a person.
    active = (bits >= rules.review_bits) & (~scores.veto | (bits >= rules.link_bits))
    link_at: list[np.ndarray] = []
    review_at: list[np.ndarray] = []
    review_reason: list[np.ndarray] = []
    for _ in range(rounds):
        at = np.flatnonzero(active)
        if not len(at):
            break
        best_c, ties_c = _best_per(ci[at], bits[at])
        best_g, ties_g = _best_per(gi[at], bits[at])
        top = best_c & best_g
        tied = top & ((ties_c > 1) | (ties_g > 1))
        strong = bits[at] >= rules.link_bits
        vetoed = scores.veto[at]
        links = at[top & ~tied & strong & ~vetoed]
        held = top & ~(~tied & strong & ~vetoed)
        reviews = at[held]
        reason = np.where(
            tied[held],
            "tied with another candidate at the same score",
            np.where(vetoed[held], "conflicting evidence", "score below the link threshold"),
        )
        link_at.append(links)
        review_at.append(reviews)
        review_reason.append(reason)
        taken_c = np.unique(np.concatenate([ci[links], ci[reviews]]))
        taken_g = np.unique(np.concatenate([gi[links], gi[reviews]]))
        active &= ~np.isin(ci, taken_c) & ~np.isin(gi, taken_g)
        if not len(links):
            break
    links = np.concatenate(link_at) if link_at else np.array([], dtype=np.int64)
    reviews = np.concatenate(review_at) if review_at else np.array([], dtype=np.int64)
    reasons = np.concatenate(review_reason) if review_reason else np.array([], dtype=object)
    rule = _rule_of(cand["keys"].to_numpy())

    def rows(at: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "ci": ci[at],
            "gi": gi[at],
            "rule": rule[at],
            "score": scores.score[at].astype(float),
            "evidence": scores.take(at).explain(),
        }

    chosen = np.zeros(len(ci), dtype=bool)
    chosen[links] = True
    chosen[reviews] = True
    conflicting = ~chosen & scores.veto & (bits < rules.link_bits)
    weak = ~chosen & ~conflicting & (bits < rules.review_bits)
    counts = {
        "conflicting evidence (e.g. a shared line or mailbox, another first name)": int(conflicting.sum()),
        "score below the review threshold": int(weak.sum()),
        "a record took a better candidate": int((~chosen & ~conflicting & ~weak).sum()),
    }
    kept_apart = pd.DataFrame({"reason": list(counts), "pairs": list(counts.values())})
    return _Decided(
        links=pd.DataFrame(rows(links)),
        review=pd.DataFrame({**rows(reviews), "reason": reasons}),
        kept_apart=kept_apart[kept_apart["pairs"] > 0].reset_index(drop=True),
    )


def _duplicate_pairs(work: pd.DataFrame, members: np.ndarray, rules: MatchingPolicy) -> pd.DataFrame:
    """key_type, key, a, b (positions, a < b), score, evidence: pairs of ``members`` (a mask) sharing an email or
    phone that score as one person. A key held by more than ``max_block_records`` records is split by last name."""
    sub = work[members]
    scorer = _Scorer(work, work, {"email": _no_people(), "phone": _no_people()}, rules)
    found: list[pd.DataFrame] = []
    width = int(work["last_code"].max()) + 2 if len(work) else 1
    for key_type in ("email", "phone"):
        held = sub[f"{key_type}_code"]
        held = held[held.to_numpy() >= 0]
        held = held[held.duplicated(keep=False)]
        if held.empty:
            continue
        size = held.groupby(held, sort=False).transform("size")
        by_last = held * width + sub.loc[held.index, "last_code"] + 1
        block = held.where(size <= rules.max_block_records, -1 - by_last)
        block = block[block.groupby(block, sort=False).transform("size").between(2, rules.max_block_records)]
        if block.empty:
            continue
        long = pd.DataFrame({"pos": block.index.to_numpy(), "block": block.to_numpy()})
        pairs = long.merge(long, on="block", suffixes=("_a", "_b"))
        pairs = pairs[pairs["pos_a"].to_numpy() < pairs["pos_b"].to_numpy()]
        a, b = pairs["pos_a"].to_numpy(dtype=np.int64), pairs["pos_b"].to_numpy(dtype=np.int64)
        scores = scorer.score(a, b)
        same = np.flatnonzero((scores.bits >= rules.link_bits) & ~scores.veto)
        if not len(same):
            continue
        found.append(
            pd.DataFrame(
                {
                    "key_type": key_type,
                    "key": work[key_type].to_numpy(dtype=object)[a[same]],
                    "a": a[same],
                    "b": b[same],
                    "score": scores.score[same].astype(float),
                    "evidence": scores.take(same).explain(),
                }
            )
        )
    if not found:
        return pd.DataFrame(
            {"key_type": [], "key": [], "a": np.array([], dtype=np.int64), "b": np.array([], dtype=np.int64),
             "score": [], "evidence": []}
        )  # fmt: skip
    return pd.concat(found, ignore_index=True)


def _duplicate_groups(work: pd.DataFrame, pairs: pd.DataFrame, first: np.ndarray) -> pd.DataFrame:
    """Groups of records joined by duplicate ``pairs``, one per (key_type, key, primary), with a deterministic primary:
    records marked ``first`` rank first, then the oldest created_at, then the lowest record_id. Score and evidence
    of a secondary compare it with the partner that made it one."""
    if pairs.empty:
        return _frame(DUPLICATE_COLUMNS)
    involved = np.unique(np.concatenate([pairs["a"].to_numpy(), pairs["b"].to_numpy()]))
    order = pd.DataFrame(
        {
            "unranked": ~first[involved],
            "created_at": work["created_at"].to_numpy()[involved],
            "id": work["id"].to_numpy(dtype=object)[involved],
        },
        index=involved,
    ).sort_values(["unranked", "created_at", "id"], na_position="last")
    rank = pd.Series(np.arange(len(order)), index=order.index)
    ra, rb = rank.reindex(pairs["a"]).to_numpy(), rank.reindex(pairs["b"]).to_numpy()
    better_a = ra < rb
    oriented = pairs.assign(
        lead=np.where(better_a, pairs["a"], pairs["b"]),
        member=np.where(better_a, pairs["b"], pairs["a"]),
        lead_rank=np.minimum(ra, rb),
    )
    # Each record's leader (per key) is its best-ranked partner; one more hop so a chain ends on one primary.
    oriented = oriented.sort_values("lead_rank").drop_duplicates(["key_type", "key", "member"])
    leader = oriented.set_index(["key_type", "key", "member"])["lead"]
    hop = leader.reindex(pd.MultiIndex.from_arrays([oriented["key_type"], oriented["key"], oriented["lead"]]))
    oriented["primary"] = np.where(hop.notna().to_numpy(), hop.to_numpy(), oriented["lead"].to_numpy()).astype(np.int64)
    secondaries = oriented[["key_type", "key", "member", "primary", "score", "evidence"]].rename(
        columns={"member": "pos"}
    )
    primaries = secondaries.drop_duplicates(["key_type", "key", "primary"]).assign(
        pos=lambda f: f["primary"], score=np.nan, evidence=None
    )
    long = pd.concat([primaries, secondaries], ignore_index=True).drop_duplicates(["key_type", "key", "pos"])
    ids = work["id"].to_numpy(dtype=object)
    long["record_id"] = ids[long["pos"].to_numpy(dtype=np.int64)]
    long["primary_id"] = ids[long["primary"].to_numpy(dtype=np.int64)]
    long["rank"] = rank.reindex(long["pos"]).to_numpy()
    long = long.sort_values(["key_type", "key", "primary_id", "rank"])
    long["group_id"] = long.groupby(["key_type", "key", "primary_id"], sort=True).ngroup().astype("int64")
    long["is_primary"] = long["record_id"] == long["primary_id"]
    return long[list(DUPLICATE_COLUMNS)].reset_index(drop=True)


def _no_people() -> tuple[pd.Series, pd.Series]:
    empty = pd.Series([], dtype=np.int64)
    return empty, empty


def duplicate_figures(duplicates: pd.DataFrame, side: str) -> dict[str, int]:
    """The duplicate figures of one side, the same wherever they are shown: records in a duplicate group (each once,
    though a record can share its email and its phone with its twin), and those folded into their group's primary
    (not created or linked a second time)."""
    secondary = ~duplicates["is_primary"].astype(bool)
    return {
        f"{side}_duplicate_records": int(duplicates["record_id"].nunique()),
        f"{side}_duplicates_folded": int(duplicates.loc[secondary, "record_id"].nunique()),
    }


def unmatched_genesys_reasons(unmatched: pd.DataFrame) -> pd.Series:
    """Why each unmatched Genesys record (``MatchResult.unmatched_genesys``) is not a new CRM contact; null for the
    records that are only in Genesys, the ones ``create_crm_from_genesys`` may create."""
    linked, duplicate_of, twin, review = (
        unmatched[name].astype(object) if name in unmatched else pd.Series(None, index=unmatched.index, dtype=object)
        for name in ("linked_crm_id", "duplicate_of", "crm_twin_id", "review_crm_id")
    )
    reasons = np.select(
        [
            linked.notna().to_numpy(),
            duplicate_of.notna().to_numpy(),
            review.notna().to_numpy(),
            twin.notna().to_numpy(),
        ],
        [
            ("carries CRM id " + linked.fillna("") + ", which names no CRM record").to_numpy(),
            ("duplicate of Genesys contact " + duplicate_of.fillna("")).to_numpy(),
            ("in match review with CRM record " + review.fillna("")).to_numpy(),
            ("same person as CRM record " + twin.fillna("") + " by email or phone").to_numpy(),
        ],
        default=None,
    )
    return pd.Series(reasons, index=unmatched.index, dtype=object)


def _survivors(c: pd.DataFrame, ci: np.ndarray) -> np.ndarray:
    """For each CRM position, the position of the live record it was merged into (-1 when none is in the frame)."""
    target = pd.Index(c["id"]).get_indexer(c["merged_into"].to_numpy(dtype=object)[ci])
    ok = target >= 0
    ok[ok] = c["live"].to_numpy()[target[ok]]
    return np.where(ok, target, -1)


def _move_merged_links(
    c: pd.DataFrame, found: list[pd.DataFrame], taken_c: np.ndarray, held: np.ndarray, ambiguous: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Move each stored link (``found[0]``) of a record merged into a free live record to that record; a record
    several links merge into is reported ambiguous and taken. Returns the ambiguous frame and the moves (crm_id,
    genesys_id as a position, merged_into)."""
    stored = found[0]
    ci = stored["ci"].to_numpy(dtype=np.int64)
    survivor = _survivors(c, ci)
    free = (survivor >= 0) & ~taken_c[np.maximum(survivor, 0)] & ~held[np.maximum(survivor, 0)]
    crowded = free & pd.Series(survivor).duplicated(keep=False).to_numpy()
    moving = free & ~crowded
    ids = c["id"].to_numpy(dtype=object)
    moved = pd.DataFrame(
        {"crm_id": ids[ci[moving]], "genesys_id": stored["gi"].to_numpy()[moving], "merged_into": ids[survivor[moving]]}
    )
    stored = stored.copy()
    at = np.flatnonzero(moving)
    stored.loc[at, "ci"] = survivor[moving]
    stored.loc[at, "rule"] = "merged"
    stored.loc[at, "evidence"] = (
        "stored link of " + pd.Series(ids[ci[moving]], dtype=object) + ", merged into it"
    ).to_numpy()
    found[0] = stored
    taken_c[survivor[moving]] = True
    taken_c[survivor[crowded]] = True
    if not crowded.any():
        return ambiguous, moved
    keys = ids[survivor[crowded]]
    return pd.concat(
        [ambiguous, _frame(AMBIGUOUS_COLUMNS, {"rule": "merged", "key": keys, "system": "crm", "record_id": keys})],
        ignore_index=True,
    ).drop_duplicates(subset=["system", "record_id"]), moved


def _trusted(ci: np.ndarray, gi: np.ndarray, rule: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"ci": ci, "gi": gi, "rule": rule, "score": RULE_SCORES[rule], "evidence": TRUSTED_EVIDENCE[rule]}
    )


def _pairs_at(c: pd.DataFrame, g: pd.DataFrame, pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions of (crm_id, genesys_id) pairs whose two records are both in the frames."""
    ci = pd.Index(c["id"]).get_indexer(pairs["crm_id"])
    gi = pd.Index(g["id"]).get_indexer(pairs["genesys_id"])
    ok = (ci >= 0) & (gi >= 0)
    return ci[ok], gi[ok]


def match_contacts(
    crm: pd.DataFrame,
    genesys: pd.DataFrame,
    links: pd.DataFrame | None,
    policy: object,
    held_crm_ids: pd.Index | None = None,
    pair_decisions: pd.DataFrame | None = None,
    unreadable_genesys: pd.DataFrame | None = None,
) -> MatchResult:
    """Link each CRM contact to at most one Genesys contact (see the module docstring).

    ``crm`` and ``genesys`` are canonical frames; ``links`` the ledger's (crm_id, genesys_id) pairs or None.
    ``held_crm_ids`` are CRM ids that must not match new Genesys contacts nor be created (e.g. a Genesys record that
    links to them could not be read); they still keep stored links. ``pair_decisions`` (crm_id, genesys_id,
    decision: accept|reject|release) are the review queue's answers: an accepted pair links, a rejected one is never
    proposed again, a released one (in review longer than ``review_hold_days``) is no match for this run.
    ``unreadable_genesys`` are Genesys records a converter rejected, with what could be read of who they are
    (``RejectedRecord``'s identity columns): a CRM record that may be the same person is held, not created twice.
    """
    rules = matching_rules(policy)
    crm, crm_rejected = _reject_bad_ids(crm, "crm")
    genesys, gen_rejected = _reject_bad_ids(genesys, "genesys")
    c = _prepare(crm, rules)
    g = _prepare(genesys, rules)
    n_c, n_g = len(c), len(g)
    taken_c, taken_g = np.zeros(n_c, dtype=bool), np.zeros(n_g, dtype=bool)
    held = _mask(n_c, _positions(c, pd.Index([] if held_crm_ids is None else held_crm_ids, dtype=object)))
    held |= _held_by_unreadable(c, unreadable_genesys, rules)
    live_c, live_g = c["live"].to_numpy(), g["live"].to_numpy()
    decisions = _frame(DECISION_COLUMNS) if pair_decisions is None else pair_decisions
    found: list[pd.DataFrame] = []
    ambiguous = _frame(AMBIGUOUS_COLUMNS)
    moved = _frame(MOVED_COLUMNS)

    def take(rows: pd.DataFrame) -> None:
        found.append(rows)
        taken_c[rows["ci"].to_numpy(dtype=np.int64)] = True
        taken_g[rows["gi"].to_numpy(dtype=np.int64)] = True

    # Stored links whose two records are both in the snapshots. A corrupt ledger (an id linked twice) is reported,
    # never guessed.
    if links is not None and len(links):
        stored = links[["crm_id", "genesys_id"]].dropna().drop_duplicates()
        ci, gi = _pairs_at(c, g, stored)
        twice = pd.Series(ci).duplicated(keep=False).to_numpy() | pd.Series(gi).duplicated(keep=False).to_numpy()
        crm_ids, gen_ids = c["id"].to_numpy(dtype=object), g["id"].to_numpy(dtype=object)
        ambiguous = pd.concat(
            [
                _frame(AMBIGUOUS_COLUMNS, {"rule": "link", "key": crm_ids[ci[twice]], "system": "crm",
                                           "record_id": crm_ids[ci[twice]]}),
                _frame(AMBIGUOUS_COLUMNS, {"rule": "link", "key": crm_ids[ci[twice]], "system": "genesys",
                                           "record_id": gen_ids[gi[twice]]}),
            ],
            ignore_index=True,
        ).drop_duplicates(subset=["system", "record_id"])  # fmt: skip
        taken_c[ci[twice]] = True
        taken_g[gi[twice]] = True
        take(_trusted(ci[~twice], gi[~twice], "link"))
        ambiguous, moved = _move_merged_links(c, found, taken_c, held, ambiguous)

    # Pairs a person accepted in the review queue, while both records are free and the CRM record is live.
    accepted = decisions[decisions["decision"] == "accept"].drop_duplicates(["crm_id"]).drop_duplicates(["genesys_id"])
    ci, gi = _pairs_at(c, g, accepted)
    ok = live_c[ci] & ~taken_c[ci] & ~taken_g[gi]
    take(_trusted(ci[ok], gi[ok], "accepted"))

    # The CRM id a Genesys contact carries in externalIds.
    gi = np.flatnonzero(~taken_g & g["link"].notna().to_numpy())
    ci = pd.Index(c["id"]).get_indexer(g["link"].to_numpy(dtype=object)[gi])
    ok = ci >= 0
    ci, gi = ci[ok], gi[ok]
    # The id of a record merged away counts as its survivor's.
    survivor = _survivors(c, ci)
    follow = (survivor >= 0) & ~held[np.maximum(survivor, 0)]
    ci = np.where(follow, survivor, ci)
    twice = pd.Series(ci).duplicated(keep=False).to_numpy()
    ok = live_c[ci] & ~taken_c[ci]
    crowded = ok & twice
    if crowded.any():
        crm_ids, gen_ids = c["id"].to_numpy(dtype=object), g["id"].to_numpy(dtype=object)
        ambiguous = pd.concat(
            [
                ambiguous,
                _frame(AMBIGUOUS_COLUMNS, {"rule": "external_id", "key": crm_ids[ci[crowded]], "system": "crm",
                                           "record_id": crm_ids[ci[crowded]]}).drop_duplicates(),
                _frame(AMBIGUOUS_COLUMNS, {"rule": "external_id", "key": crm_ids[ci[crowded]], "system": "genesys",
                                           "record_id": gen_ids[gi[crowded]]}),
            ],
            ignore_index=True,
        )  # fmt: skip
        taken_c[ci[crowded]] = True
        taken_g[gi[crowded]] = True
    take(_trusted(ci[ok & ~twice & ~follow], gi[ok & ~twice & ~follow], "external_id"))
    take(_trusted(ci[ok & ~twice & follow], gi[ok & ~twice & follow], "merged"))

    # Duplicates inside each system: pairs scored once; they count the people who hold a key, and the CRM groups are
    # decided after the trusted tiers so an already linked record is its group's primary.
    _add_key_codes(c, g)
    crm_pairs = _duplicate_pairs(c, live_c, rules)
    gen_pairs = _duplicate_pairs(g, live_g, rules)
    crm_dups = _duplicate_groups(c, crm_pairs, taken_c)
    people = {
        column: (
            _people_per_key(c, live_c, column, crm_dups),
            _people_per_key(g, live_g, column, _duplicate_groups(g, gen_pairs, taken_g)),
        )
        for column in ("email", "phone")
    }
    scorer = _Scorer(c, g, people, rules)
    review_parts: list[pd.DataFrame] = []
    if rules.recheck_links and found:
        trusted = pd.concat(found, ignore_index=True)
        checkable = (trusted["rule"] != "accepted").to_numpy()
        if checkable.any():
            scores = scorer.score(trusted["ci"].to_numpy()[checkable], trusted["gi"].to_numpy()[checkable])
            weak = (scores.bits < rules.link_bits) | scores.veto
            at = np.flatnonzero(checkable)[weak]
            review_parts.append(
                trusted.iloc[at].assign(
                    score=scores.score[weak].astype(float),
                    evidence=scores.take(np.flatnonzero(weak)).explain(),
                    reason="stored link re-checked: " + trusted["rule"].iloc[at].astype(str),
                )
            )
            found = [trusted.drop(index=trusted.index[at])]

    secondary = crm_dups.loc[~crm_dups["is_primary"]].drop_duplicates(subset=["record_id"])
    is_secondary = _mask(n_c, _positions(c, secondary["record_id"]))

    # Proposed pairs: live, free, primary CRM records against free Genesys records that carry no CRM id of their own.
    free_c = c[live_c & ~taken_c & ~is_secondary & ~held]
    free_g = g[live_g & ~taken_g & g["link"].isna().to_numpy()]
    keys = ("email", "phone", "name_account", "name") if rules.names_across_accounts else BLOCKING_KEYS[:3]
    cand, shared_keys = _block(free_c, free_g, keys, rules)
    refused = _pairs_at(c, g, decisions[decisions["decision"].isin(["reject", "release"])])
    proposed = len(cand)
    cand = _without(cand, refused, n_g)
    decided = _decide(cand, scorer.score(cand["li"].to_numpy(), cand["ri"].to_numpy()), rules)
    take(decided.links)
    review_parts.append(decided.review)
    kept_apart = decided.kept_apart
    if proposed > len(cand):
        kept_apart = pd.concat(
            [
                kept_apart,
                pd.DataFrame({"reason": ["rejected or released in the review queue"], "pairs": [proposed - len(cand)]}),
            ],
            ignore_index=True,
        )

    crm_ids, gen_ids = c["id"].to_numpy(dtype=object), g["id"].to_numpy(dtype=object)
    matches = _with_ids(pd.concat(found, ignore_index=True), crm_ids, gen_ids, MATCH_COLUMNS)
    review = pd.concat([part for part in review_parts if len(part)], ignore_index=True) if any(
        len(part) for part in review_parts
    ) else pd.DataFrame({"ci": np.array([], dtype=np.int64), "gi": np.array([], dtype=np.int64), "rule": [],
                         "score": [], "evidence": [], "reason": []})  # fmt: skip
    in_review_c = _mask(n_c, review["ci"].to_numpy(dtype=np.int64))
    in_review_g = _mask(n_g, review["gi"].to_numpy(dtype=np.int64))
    review_frame = _with_ids(review, crm_ids, gen_ids, REVIEW_COLUMNS)

    lone = live_c & ~taken_c & ~in_review_c
    duplicate_of = secondary.set_index("record_id")["primary_id"]
    unmatched_crm = pd.DataFrame(
        {
            "crm_id": crm_ids[lone],
            "duplicate_of": duplicate_of.reindex(crm_ids[lone]).astype(object).to_numpy(),
            "held": held[lone],
        }
    )
    # Genesys groups are decided last: a record that matched or waits for review outranks its unmatched twins, so
    # those twins are secondaries and never become CRM contacts of their own.
    gen_dups = _duplicate_groups(g, gen_pairs, taken_g | in_review_g)
    gen_secondary = gen_dups.loc[~gen_dups["is_primary"]].drop_duplicates(subset=["record_id"])
    lone_g = live_g & ~taken_g
    first_review = review_frame.drop_duplicates("genesys_id")
    review_of_g = pd.Series(first_review["crm_id"].to_numpy(), index=first_review["genesys_id"].to_numpy())
    unmatched_genesys = pd.DataFrame(
        {
            "genesys_id": gen_ids[lone_g],
            "linked_crm_id": g["link"].to_numpy(dtype=object)[lone_g],
            "duplicate_of": gen_secondary.set_index("record_id")["primary_id"].reindex(gen_ids[lone_g]).to_numpy(),
            "crm_twin_id": _crm_twins(c, g, lone_g & ~in_review_g, scorer, rules, refused)
            .reindex(gen_ids[lone_g])
            .to_numpy(),
            "review_crm_id": review_of_g.reindex(gen_ids[lone_g]).to_numpy(),
        }
    )

    if len(moved):  # positions to ids; a moved link the re-check sent to review is not moved
        moved = moved.assign(genesys_id=gen_ids[moved["genesys_id"].to_numpy(dtype=np.int64)])
        moved = moved.merge(matches[["crm_id", "genesys_id"]].rename(columns={"crm_id": "merged_into"}))
    return MatchResult(
        moved_links=moved[list(MOVED_COLUMNS)].astype(object),
        matches=matches,
        ambiguous=ambiguous.reset_index(drop=True),
        crm_duplicates=crm_dups,
        genesys_duplicates=gen_dups,
        unmatched_crm=unmatched_crm.astype({"crm_id": object, "duplicate_of": object}),
        unmatched_genesys=unmatched_genesys.astype(object),
        rejected=pd.concat([crm_rejected, gen_rejected], ignore_index=True),
        review=review_frame,
        shared_keys=shared_keys.astype({"key_type": object, "key": object}),
        kept_apart=kept_apart,
    )


def _with_ids(rows: pd.DataFrame, crm_ids: np.ndarray, gen_ids: np.ndarray, columns: tuple[str, ...]) -> pd.DataFrame:
    """Decided pairs by position (ci, gi, ...) as a frame of record ids with ``columns``."""
    data: dict[str, object] = {
        "crm_id": crm_ids[rows["ci"].to_numpy(dtype=np.int64)],
        "genesys_id": gen_ids[rows["gi"].to_numpy(dtype=np.int64)],
    }
    for name in columns[2:]:
        data[name] = rows[name].to_numpy(dtype=float if name == "score" else object)
    return _frame(columns, data)


def unreadable_identities(rows: pd.DataFrame) -> pd.DataFrame:
    """What could be read of who unreadable records are (``RejectedRecord``'s identity columns), in the columns
    matching reads from a canonical frame: never linked, live, nothing else known."""
    none = np.full(len(rows), None, dtype=object)
    column = lambda name: rows[name].astype(object).to_numpy() if name in rows else none  # noqa: E731
    return pd.DataFrame(
        {
            "record_id": column("record_id"), "crm_id": none, "email": column("email"),
            "phone_e164": column("phone_e164"), "first_name": column("first_name"),
            "last_name": column("last_name"), "account_id": column("account_id"),
            "created_at": pd.NaT, "is_deleted": False, "merged_into": none,
        }
    )  # fmt: skip


def _held_by_unreadable(c: pd.DataFrame, unreadable: pd.DataFrame | None, rules: MatchingPolicy) -> np.ndarray:
    """A mask of the CRM records that may be the same person as a Genesys record that could not be read (sharing
    its email or phone and scoring at least the review threshold, every key counted as unique): they are held so
    that person is not created in Genesys a second time while their contact there is unreadable."""
    held = np.zeros(len(c), dtype=bool)
    if unreadable is None or unreadable.empty or not {"email", "phone_e164"} <= set(unreadable.columns):
        return held
    rows = unreadable[unreadable["email"].notna() | unreadable["phone_e164"].notna()]
    if rows.empty or c.empty:
        return held
    h = _prepare(unreadable_identities(rows), rules)
    keys = c[["id", "email", "phone", "first", "last", "account", "live", "role_email"]].copy()
    _add_key_codes(keys, h)
    cand, _ = _block(keys[keys["live"].to_numpy()], h, ("email", "phone"), rules)
    if cand.empty:
        return held
    scores = _Scorer(keys, h, {"email": _no_people(), "phone": _no_people()}, rules).score(
        cand["li"].to_numpy(), cand["ri"].to_numpy()
    )
    held[cand["li"].to_numpy()[scores.bits >= rules.review_bits]] = True
    return held


def _without(cand: pd.DataFrame, refused: tuple[np.ndarray, np.ndarray], n_g: int) -> pd.DataFrame:
    """Candidate pairs (li into the CRM frame, ri into the Genesys frame) less the refused ones."""
    if not len(refused[0]) or cand.empty:
        return cand
    width = max(n_g, 1)
    codes = cand["li"].to_numpy(dtype=np.int64) * width + cand["ri"].to_numpy(dtype=np.int64)
    return cand[~np.isin(codes, refused[0].astype(np.int64) * width + refused[1])]


def _crm_twins(
    c: pd.DataFrame,
    g: pd.DataFrame,
    lone: np.ndarray,
    scorer: _Scorer,
    rules: MatchingPolicy,
    refused: tuple[np.ndarray, np.ndarray],
) -> pd.Series:
    """genesys_id -> a CRM record (live first) sharing its email or phone and scoring at least the review threshold:
    that person is already in the CRM (or was removed from it), so the Genesys record must not become a new one.
    A pair someone rejected or released is no twin."""
    if not lone.any():
        return pd.Series([], dtype=object)
    cand, _ = _block(c, g[lone], ("email", "phone"), rules)
    cand = _without(cand, refused, len(g))
    if cand.empty:
        return pd.Series([], dtype=object)
    scores = scorer.score(cand["li"].to_numpy(), cand["ri"].to_numpy())
    cand = cand.assign(bits=scores.bits, live=c["live"].to_numpy()[cand["li"].to_numpy()])
    same_person = (scores.bits >= rules.review_bits) & (~scores.veto | (scores.bits >= rules.link_bits))
    cand = cand[same_person].sort_values(["live", "bits"], ascending=False)
    cand = cand.drop_duplicates("ri")
    return pd.Series(
        c["id"].to_numpy(dtype=object)[cand["li"].to_numpy()],
        index=g["id"].to_numpy(dtype=object)[cand["ri"].to_numpy()],
    )
