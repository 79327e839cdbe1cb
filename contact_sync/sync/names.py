"""Comparing personal names over arrays of pairs: exact, nickname-equivalent, typo-close, initial-only, compound.

Names arrive normalized (``normalize.normalize_name``: case-folded, accents folded). String similarity is rapidfuzz's
Jaro-Winkler over aligned arrays (C++, no Python loop per pair); nickname equivalence is the ``nicknames`` package's
dataset (Bob ~ Robert, Peggy ~ Margaret, Liz ~ Elizabeth), read once and joined as a table.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Final

import numpy as np
import pandas as pd
from nicknames import NickNamer
from rapidfuzz import process
from rapidfuzz.distance import OSA, JaroWinkler

FIRST_NAME_LEVELS: Final = ("missing", "exact", "nickname", "similar", "typo", "initial", "different")
LAST_NAME_LEVELS: Final = ("missing", "exact", "similar", "compound", "different")

FIRST_SIMILAR: Final = 0.88
"""Jaro-Winkler at or above which two first names are a typo of each other (Jon/John 0.93, Ann/Anne 0.94)."""
LAST_SIMILAR: Final = 0.90
"""The same for last names, a little stricter (Smith/Smtih 0.95, Garcia/Garza 0.87 is not similar)."""


@cache
def _nickname_pairs() -> pd.DataFrame:
    """left, right: every (name, nickname) pair of the dataset, both ways round.

    Only the dataset's direct relation counts (Robert ~ Bob, Bob ~ Rob): two names that merely share a third (Robert
    and William are both nicknames of "Bill" there) are different people."""
    lookup = NickNamer().nickname_lookup
    left = [name for name, nicknames in lookup.items() for _ in nicknames]
    right = [nickname for nicknames in lookup.values() for nickname in nicknames]
    pairs = pd.DataFrame({"left": left + right, "right": right + left})
    return pairs[pairs["left"] != pairs["right"]].drop_duplicates().reset_index(drop=True)


def nickname_equivalent(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """True where one name is a nickname of the other in the ``nicknames`` dataset."""
    result = np.zeros(len(left), dtype=bool)
    known = pd.notna(left) & pd.notna(right)
    if not known.any():
        return result
    at = np.flatnonzero(known)
    asked = pd.DataFrame({"pair": at, "left": left[at], "right": right[at]})
    found = asked.merge(_nickname_pairs(), on=["left", "right"])
    result[found["pair"].to_numpy()] = True
    return result


def similarity(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Jaro-Winkler similarity (0..1) of aligned pairs; 0 where either side is missing."""
    out = np.zeros(len(left), dtype=np.float32)
    known = pd.notna(left) & pd.notna(right)
    if known.any():
        out[known] = process.cpdist(
            left[known].astype(str), right[known].astype(str), scorer=JaroWinkler.normalized_similarity
        )
    return out


def _text(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype=object)


def _is_initial(name: pd.Series) -> np.ndarray:
    """One letter, with or without a dot ("j", "j.")."""
    return name.str.fullmatch(r"\w\.?", na=False).to_numpy(dtype=bool)


def _per_distinct_pair(
    left: np.ndarray, right: np.ndarray, levels: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """``levels`` computed once per distinct (left, right) pair of names and spread back: names repeat (a few
    thousand first names cover most people), so a million pairs are a few thousand comparisons."""
    if len(left) == 0:
        return np.zeros(0, dtype=np.int8)
    codes, names = pd.factorize(np.concatenate([np.asarray(left, dtype=object), np.asarray(right, dtype=object)]))
    n = len(left)
    width = len(names) + 1
    pair = (codes[:n].astype(np.int64) + 1) * width + (codes[n:].astype(np.int64) + 1)
    distinct, inverse = np.unique(pair, return_inverse=True)
    lookup = np.concatenate([np.array([None], dtype=object), np.asarray(names, dtype=object)])
    return levels(lookup[distinct // width], lookup[distinct % width])[inverse]


def first_name_levels(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """A level of ``FIRST_NAME_LEVELS`` per pair, as an index into it."""
    return _per_distinct_pair(left, right, _first_name_levels)


def last_name_levels(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """A level of ``LAST_NAME_LEVELS`` per pair: compound means one name is a part of the other's hyphenated or
    spaced parts (Garcia ~ Garcia-Lopez, de la Cruz ~ Cruz)."""
    return _per_distinct_pair(left, right, _last_name_levels)


def _first_name_levels(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    a, b = _text(left), _text(right)
    missing = (a.isna() | b.isna()).to_numpy()
    exact = ~missing & (a == b).to_numpy(dtype=bool)
    open_ = ~missing & ~exact
    nickname = np.zeros(len(a), dtype=bool)
    similar = np.zeros(len(a), dtype=bool)
    typo = np.zeros(len(a), dtype=bool)
    initial = np.zeros(len(a), dtype=bool)
    if open_.any():
        nickname[open_] = nickname_equivalent(left[open_], right[open_])
        similar[open_] = similarity(left[open_], right[open_]) >= FIRST_SIMILAR
        typo[open_] = one_edit_apart(left[open_], right[open_])
        oa, ob = a[open_], b[open_]
        one_letter = _is_initial(oa) | _is_initial(ob)
        initial[open_] = one_letter & (oa.str[0] == ob.str[0]).to_numpy(dtype=bool)
    return np.select(
        [missing, exact, nickname, similar & ~initial, typo & ~initial, initial], [0, 1, 2, 3, 4, 5], default=6
    ).astype(np.int8)


def one_edit_apart(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """One substitution, insertion, deletion or swap of neighbours apart (rapidfuzz's optimal string alignment
    distance), both names at least three letters long: the typos of short names Jaro-Winkler scores low (Amy/Any,
    Jay/Jya, Sean/Sran)."""
    out = np.zeros(len(left), dtype=bool)
    a, b = _text(left), _text(right)
    long_enough = ((a.str.len() >= 3) & (b.str.len() >= 3)).to_numpy(dtype=bool)
    if long_enough.any():
        distance = process.cpdist(
            left[long_enough].astype(str), right[long_enough].astype(str), scorer=OSA.distance, dtype=np.int32
        )
        out[long_enough] = distance == 1
    return out


def _parts(name: pd.Series) -> pd.Series:
    return name.str.split(r"[\s\-]+", regex=True)


def _last_name_levels(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    a, b = _text(left), _text(right)
    missing = (a.isna() | b.isna()).to_numpy()
    exact = ~missing & (a == b).to_numpy(dtype=bool)
    open_ = ~missing & ~exact
    similar = np.zeros(len(a), dtype=bool)
    compound = np.zeros(len(a), dtype=bool)
    at = np.flatnonzero(open_)
    if len(at):
        similar[at] = similarity(left[at], right[at]) >= LAST_SIMILAR
        multi = at[(a.iloc[at].str.contains(r"[\s\-]", regex=True) | b.iloc[at].str.contains(r"[\s\-]", regex=True))]
        if len(multi):
            pa_ = _parts(a.iloc[multi]).explode().rename("part").reset_index()
            pb_ = _parts(b.iloc[multi]).explode().rename("part").reset_index()
            pa_ = pa_[pa_["part"].str.len() > 1]
            pb_ = pb_[pb_["part"].str.len() > 1]
            shared = pa_.merge(pb_, on=["index", "part"])["index"].unique()
            compound[shared] = True
    return np.select([missing, exact, similar, compound], [0, 1, 2, 3], default=4).astype(np.int8)
