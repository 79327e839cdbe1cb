"""Comparing personal names over arrays of pairs: exact, nickname-equivalent, typo-close, initial-only, compound.

Names arrive normalized (``normalize.normalize_name``: case-folded, accents folded). String similarity is rapidfuzz's
Jaro-Winkler over aligned arrays (C++, no Python loop per pair); nickname equivalence is the ``nicknames`` package's
dataset (Bob ~ Robert, Peggy ~ Margaret, Liz ~ Elizabeth), read once and joined as a table.
"""

from __future__ import annotations

from functools import cache
from typing import Final

import numpy as np
import pandas as pd
from nicknames import NickNamer
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

FIRST_NAME_LEVELS: Final = ("missing", "exact", "nickname", "similar", "initial", "different")
LAST_NAME_LEVELS: Final = ("missing", "exact", "similar", "compound", "different")

FIRST_SIMILAR: Final = 0.88
"""Jaro-Winkler at or above which two first names are a typo of each other (Jon/John 0.93, Ann/Anne 0.94)."""
LAST_SIMILAR: Final = 0.90
"""The same for last names, a little stricter (Smith/Smtih 0.95, Garcia/Garza 0.87 is not similar)."""


@cache
def _nickname_groups() -> pd.DataFrame:
    """name, group: every name of the dataset with each group it belongs to (a canonical name and its nicknames)."""
    lookup = NickNamer().nickname_lookup
    names: list[str] = []
    groups: list[int] = []
    for group, (canonical, nicknames) in enumerate(sorted(lookup.items())):
        for name in (canonical, *sorted(nicknames)):
            names.append(name)
            groups.append(group)
    return pd.DataFrame({"name": names, "group": np.asarray(groups, dtype=np.int32)}).drop_duplicates()


def nickname_equivalent(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """True where the two names share a nickname group (one is a nickname of the other, or both of one name)."""
    result = np.zeros(len(left), dtype=bool)
    known = pd.notna(left) & pd.notna(right)
    if not known.any():
        return result
    groups = _nickname_groups()
    at = np.flatnonzero(known)
    a = pd.DataFrame({"pair": at, "name": left[at]}).merge(groups, on="name")
    if a.empty:
        return result
    b = pd.DataFrame({"pair": at, "name": right[at]}).merge(groups, on="name")
    shared = a[["pair", "group"]].merge(b[["pair", "group"]], on=["pair", "group"])
    result[shared["pair"].to_numpy()] = True
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


def first_name_levels(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """A level of ``FIRST_NAME_LEVELS`` per pair, as an index into it."""
    a, b = _text(left), _text(right)
    missing = (a.isna() | b.isna()).to_numpy()
    exact = ~missing & (a == b).to_numpy(dtype=bool)
    open_ = ~missing & ~exact
    nickname = np.zeros(len(a), dtype=bool)
    similar = np.zeros(len(a), dtype=bool)
    initial = np.zeros(len(a), dtype=bool)
    if open_.any():
        nickname[open_] = nickname_equivalent(left[open_], right[open_])
        similar[open_] = similarity(left[open_], right[open_]) >= FIRST_SIMILAR
        one_letter = _is_initial(a) | _is_initial(b)
        initial = open_ & one_letter & (a.str[0] == b.str[0]).to_numpy(dtype=bool)
    return np.select([missing, exact, nickname, similar & ~initial, initial], [0, 1, 2, 3, 4], default=5).astype(
        np.int8
    )


def _parts(name: pd.Series) -> pd.Series:
    return name.str.split(r"[\s\-]+", regex=True)


def last_name_levels(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """A level of ``LAST_NAME_LEVELS`` per pair: compound means one name is a part of the other's hyphenated or
    spaced parts (Garcia ~ Garcia-Lopez, de la Cruz ~ Cruz)."""
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
