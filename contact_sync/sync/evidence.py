"""Scoring candidate pairs of contacts on all their evidence, as arrays: the identity model matching decides with.

The model is Fellegi-Sunter: every comparison (email, phone, first name, last name, account) lands on a level, each
level carries a weight in bits (log2 of how much likelier that level is for one person than for two), and a pair's
score is the match probability ``1 / (1 + 2 ** -(prior + sum of weights))``. Defaults (``MatchingPolicy``) and why:

- An equal email held by one person on each side is close to proof (+18); an equal phone less so (+10: lines are
  reassigned, typed wrong, shared). A key held by several people on either side, or a role mailbox (``info@``,
  ``sales@`` ...), is a *shared* key and nearly no evidence (+4 / +2): it says "same company or household", not "same
  person". Different values count a little against (-2 each: people have several addresses and numbers).
- Names decide between people who share a key: an exact first name +7, a nickname +4 (Bob ~ Robert, the dataset's
  direct relation only), a typo +3.5 (Jaro-Winkler >= 0.88), one edit apart in a short name +1.5 (Amy/Any), an
  initial only +1.5, a clearly different first name -10; last names +8 exact, +6 typo, +5 when one is a part of a
  compound name, -9 when clearly different. First and last swapped on one side count +11 in
  place of both. The same account +2, another account -1 (people move; organizations are not always mapped).
- The prior is -12 bits: a pair a blocking key proposed is a match only with more evidence than one key alone.

Conflicting strong evidence never links whatever the sum: a clearly different first name (an office line or a
household mailbox shared by two people), a first name one edit apart unless email and phone both agree (Jon/Jan may
be siblings), or a clearly different last name without an agreeing first name. Such a pair is a question for the
review queue when its score reaches the link threshold, and no match below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from contact_sync.sync.names import FIRST_NAME_LEVELS, LAST_NAME_LEVELS, first_name_levels, last_name_levels

KEY_LEVELS: Final = ("missing", "equal", "shared", "different")
ACCOUNT_LEVELS: Final = ("missing", "same", "different")
COMPARISONS: Final = ("email", "phone", "first_name", "last_name", "account")

DEFAULT_ROLE_LOCAL_PARTS: Final = (
    "info", "sales", "support", "office", "admin", "contact", "hello", "billing", "accounts", "reception",
    "enquiries", "inquiries", "team", "help", "service", "customerservice", "marketing", "hr", "jobs", "careers",
    "noreply", "no-reply", "mail", "general", "orders", "finance", "frontdesk",
)  # fmt: skip

DEFAULT_WEIGHTS: Final[dict[str, dict[str, float]]] = {
    "email": {"equal": 18.0, "shared": 4.0, "different": -2.0, "missing": 0.0},
    "phone": {"equal": 10.0, "shared": 2.0, "different": -2.0, "missing": 0.0},
    "first_name": {
        "exact": 7.0, "nickname": 4.0, "similar": 3.5, "typo": 1.5, "initial": 1.5, "different": -10.0,
        "missing": 0.0,
    },
    "last_name": {"exact": 8.0, "similar": 6.0, "compound": 5.0, "different": -9.0, "missing": 0.0},
    "account": {"same": 2.0, "different": -1.0, "missing": 0.0},
    "swapped_names": {"swapped": 11.0},
}  # fmt: skip


@dataclass(frozen=True)
class MatchingPolicy:
    """How records are proposed, scored and decided (the policy file's ``matching`` section)."""

    link_threshold: float = 0.95
    """A pair scoring at least this (and with no conflicting evidence) is linked."""
    review_threshold: float = 0.2
    """A pair scoring at least this but not linked waits in the match review queue; below it, no match."""
    prior_bits: float = -12.0
    weights: dict[str, dict[str, float]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_WEIGHTS.items()}
    )
    compare: tuple[str, ...] = COMPARISONS
    """Comparisons that count; one left out weighs nothing (its level is still shown in the evidence)."""
    role_local_parts: tuple[str, ...] = DEFAULT_ROLE_LOCAL_PARTS
    shared_key_people: int = 2
    """A key held by this many distinct people or more on either side is shared (weak evidence)."""
    max_block_records: int = 50
    """A blocking key held by more records than this on either side proposes no pairs (it is still evidence)."""
    names_across_accounts: bool = False
    """Also propose pairs by first + last name in any account (last name + account is always a blocking key)."""
    recheck_links: bool = False
    """Score stored links and external ids too; one that does not reach the link threshold waits for review."""
    review_hold_days: float | None = None
    """None: a record in review is never created on the other side until the pair is decided. N: after N days the
    pair is released and each record is free to match elsewhere or be created."""

    @property
    def link_bits(self) -> float:
        return float(np.log2(self.link_threshold / (1 - self.link_threshold))) if self.link_threshold < 1 else np.inf

    @property
    def review_bits(self) -> float:
        if self.review_threshold <= 0:
            return -np.inf
        return float(np.log2(self.review_threshold / (1 - self.review_threshold)))


@dataclass(frozen=True)
class PairSides:
    """Aligned arrays describing the two records of each pair (normalized values, None when missing)."""

    email: tuple[np.ndarray, np.ndarray]
    phone: tuple[np.ndarray, np.ndarray]
    first: tuple[np.ndarray, np.ndarray]
    last: tuple[np.ndarray, np.ndarray]
    account: tuple[np.ndarray, np.ndarray]
    email_shared: np.ndarray
    phone_shared: np.ndarray


@dataclass(frozen=True)
class Scores:
    """Levels, score and veto per pair; ``explain`` turns chosen pairs into text."""

    email: np.ndarray
    phone: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    account: np.ndarray
    swapped: np.ndarray
    bits: np.ndarray
    score: np.ndarray
    veto: np.ndarray
    """True where conflicting strong evidence forbids an automatic link."""
    first_names: tuple[np.ndarray, np.ndarray]

    def take(self, at: np.ndarray) -> Scores:
        return Scores(
            **{
                name: getattr(self, name)[at]
                for name in ("email", "phone", "first_name", "last_name", "account", "swapped", "bits", "score")
            },
            veto=self.veto[at],
            first_names=(self.first_names[0][at], self.first_names[1][at]),
        )

    def explain(self) -> np.ndarray:
        """One line per pair: ``email equal, phone missing, first name nickname (bob~robert), ... -> 0.97``.

        The line is a function of the levels (the score is their weights' sum), so it is built once per distinct
        combination of levels and spread to the pairs; only nickname pairs add their two names."""
        n = len(self.score)
        if n == 0:
            return np.array([], dtype=object)
        combo = np.zeros(n, dtype=np.int64)
        for codes, size in (
            (self.email, len(KEY_LEVELS)),
            (self.phone, len(KEY_LEVELS)),
            (self.first_name, len(FIRST_NAME_LEVELS)),
            (self.last_name, len(LAST_NAME_LEVELS)),
            (self.account, len(ACCOUNT_LEVELS)),
            (self.swapped, 2),
            (self.veto, 2),
        ):
            combo = combo * size + codes.astype(np.int64)
        _, first_at, inverse = np.unique(combo, return_index=True, return_inverse=True)
        lines = self.take(first_at)._lines()
        text = lines[inverse].astype(object)
        nick = np.flatnonzero((self.first_name == FIRST_NAME_LEVELS.index("nickname")) & ~self.swapped)
        if len(nick):
            head, _, tail = (
                part.to_numpy(dtype=object)[inverse[nick]]
                for _, part in pd.Series(lines, dtype=object).str.partition("first name nickname").items()
            )
            text[nick] = (
                pd.Series(head, dtype=object)
                + "first name nickname ("
                + pd.Series(self.first_names[0][nick], dtype=object).fillna("").astype(str).to_numpy()
                + "~"
                + pd.Series(self.first_names[1][nick], dtype=object).fillna("").astype(str).to_numpy()
                + ")"
                + tail
            ).to_numpy(dtype=object)
        return text

    def _lines(self) -> np.ndarray:
        """The explanation of each pair, built column by column (``explain`` calls it once per level combination)."""
        n = len(self.score)
        if n == 0:
            return np.array([], dtype=object)

        def words(prefix: str, levels: tuple[str, ...], codes: np.ndarray) -> pd.Series:
            return pd.Series(np.asarray(levels, dtype=object)[codes], dtype=object).radd(prefix)

        first = words("first name ", FIRST_NAME_LEVELS, self.first_name)
        names = (first + ", " + words("last name ", LAST_NAME_LEVELS, self.last_name)).where(
            ~self.swapped, "first and last name swapped"
        )
        text = (
            words("email ", KEY_LEVELS, self.email)
            + ", "
            + words("phone ", KEY_LEVELS, self.phone)
            + ", "
            + names
            + ", "
            + words("account ", ACCOUNT_LEVELS, self.account)
            + " -> "
            + pd.Series(np.floor(self.score * 1000) / 1000).map("{:.3f}".format)
        )
        text = text.where(~self.veto, text + " (conflicting evidence: never linked automatically)")
        return text.to_numpy(dtype=object)


def _key_levels(pair: tuple[np.ndarray, np.ndarray], shared: np.ndarray) -> np.ndarray:
    a, b = (pd.Series(side, dtype=object) for side in pair)
    missing = (a.isna() | b.isna()).to_numpy()
    equal = ~missing & (a == b).to_numpy(dtype=bool)
    return np.select([missing, equal & ~shared, equal], [0, 1, 2], default=3).astype(np.int8)


def _account_levels(pair: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    a, b = (pd.Series(side, dtype=object) for side in pair)
    missing = (a.isna() | b.isna()).to_numpy()
    same = ~missing & (a == b).to_numpy(dtype=bool)
    return np.select([missing, same], [0, 1], default=2).astype(np.int8)


def _weights(policy: MatchingPolicy, comparison: str, levels: tuple[str, ...]) -> np.ndarray:
    if comparison not in policy.compare:
        return np.zeros(len(levels))
    table = policy.weights.get(comparison, {})
    return np.array([float(table.get(level, 0.0)) for level in levels])


def score_pairs(sides: PairSides, policy: MatchingPolicy) -> Scores:
    """Compare every pair on every comparison and score it (see the module docstring for the model)."""
    email = _key_levels(sides.email, sides.email_shared)
    phone = _key_levels(sides.phone, sides.phone_shared)
    first = first_name_levels(*sides.first)
    last = last_name_levels(*sides.last)
    account = _account_levels(sides.account)
    f_a, f_b = (pd.Series(s, dtype=object) for s in sides.first)
    l_a, l_b = (pd.Series(s, dtype=object) for s in sides.last)
    swapped = (
        (first != FIRST_NAME_LEVELS.index("exact"))
        & f_a.notna().to_numpy()
        & l_a.notna().to_numpy()
        & (f_a == l_b).to_numpy(dtype=bool)
        & (l_a == f_b).to_numpy(dtype=bool)
    )
    name_bits = (
        _weights(policy, "first_name", FIRST_NAME_LEVELS)[first] + _weights(policy, "last_name", LAST_NAME_LEVELS)[last]
    )
    swap_bits = float(policy.weights.get("swapped_names", {}).get("swapped", 0.0))
    names_on = "first_name" in policy.compare or "last_name" in policy.compare
    name_bits = np.where(swapped & names_on, swap_bits, name_bits)
    bits = (
        policy.prior_bits
        + _weights(policy, "email", KEY_LEVELS)[email]
        + _weights(policy, "phone", KEY_LEVELS)[phone]
        + name_bits
        + _weights(policy, "account", ACCOUNT_LEVELS)[account]
    )
    score = 1.0 / (1.0 + np.exp2(-bits))
    first_differs = (first == FIRST_NAME_LEVELS.index("different")) & ~swapped
    last_differs = (last == LAST_NAME_LEVELS.index("different")) & ~swapped
    first_agrees = np.isin(first, [FIRST_NAME_LEVELS.index("exact"), FIRST_NAME_LEVELS.index("nickname")])
    # A one-letter slip in a short first name is a typo only when both keys agree too; alone it may be a sibling.
    both_keys = np.isin(email, [1, 2]) & np.isin(phone, [1, 2])
    first_typo = (first == FIRST_NAME_LEVELS.index("typo")) & ~both_keys
    veto = first_differs | first_typo | (last_differs & ~first_agrees)
    return Scores(
        email=email,
        phone=phone,
        first_name=first,
        last_name=last,
        account=account,
        swapped=swapped,
        bits=bits,
        score=score,
        veto=veto,
        first_names=sides.first,
    )
