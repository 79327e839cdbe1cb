"""The three-way field merge: for every matched pair and mapped field, decide who wins and what must be written.

Vectorized over a long frame (one row per pair and field). Values are compared on keys built per the field's
``compare`` kind (text trimmed, emails case-folded, phones by E.164, numbers numerically, tags as sets), so values
that only differ in formatting are never written. Rules, against the base (the value last synced, from the ledger):

- neither side changed -> nothing; only one side changed -> copied across if the field's direction allows it;
- both changed to the same value -> nothing written, base updated;
- both changed differently, or first sync (no base) with different values -> a conflict, resolved by the field's
  policy: ``crm_wins``, ``genesys_wins``, ``last_write_wins`` (record ``modified_at``; ties go to the CRM) or
  ``manual`` (held until a decision exists; decisions take the CRM value, the Genesys value, or a given value);
- a field synced in one direction only has a master: whenever the values differ the source side wins;
- ``one_way`` mode: every field that may go to Genesys is CRM-mastered, nothing is ever planned toward the CRM,
  fields mapped ``genesys_to_crm`` are left alone, decisions are not used.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from contact_sync.sync.normalize import normalize_phone

_NULL: Final = "\x00null"
"""Stands in for a missing key so that two missing values compare equal."""

MERGE_COLUMNS: Final = (
    "crm_id",
    "genesys_id",
    "field",
    "base",
    "crm_value",
    "genesys_value",
    "changed_on",
    "conflict",
    "policy",
    "winner",
    "action",
    "new_value",
    "base_update",
    "crm_modified_at",
    "genesys_modified_at",
)


FIELD_FRAME_COLUMNS: Final = (
    "crm_id",
    "genesys_id",
    "field",
    "base",
    "crm_value",
    "genesys_value",
    "base_key",
    "crm_key",
    "genesys_key",
    "has_base",
    "crm_modified_at",
    "genesys_modified_at",
)


def effective_direction(direction: str, mode: str) -> str:
    """The direction a field really syncs in under a mode: one_way keeps only CRM -> Genesys ("none" otherwise)."""
    if mode == "one_way":
        return "crm_to_genesys" if direction in ("crm_to_genesys", "both") else "none"
    return direction


def _objects(values: pd.Series | np.ndarray) -> np.ndarray:
    """An object array with None for every kind of missing value."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype):
        return values.to_numpy(dtype=object, na_value=None)
    arr = np.asarray(values, dtype=object)
    missing = pd.isna(arr)
    if missing.any():
        arr = arr.copy()
        arr[missing] = None
    return arr


def column_values(frame: pd.DataFrame, name: str, rows: np.ndarray) -> np.ndarray:
    """Values of one canonical column at the given row positions, as objects with None for missing."""
    column = frame[name]
    if isinstance(column.dtype, pd.StringDtype):
        return column.array.take(rows).to_numpy(dtype=object, na_value=None)
    return _objects(column.to_numpy()[rows])


STAMP_COLUMNS: Final = ("crm_modified_at", "genesys_modified_at")


def stack_frames(
    parts: list[pd.DataFrame], columns: tuple[str, ...] | list[str], stamps: tuple[str, ...] = STAMP_COLUMNS
) -> pd.DataFrame:
    """Concatenate frames column by column with numpy.

    ``pd.concat`` inspects every value of all-missing object columns to decide dtypes, which costs more than the
    whole merge on millions of rows. ``stamps`` columns are ``datetime64[ns, UTC]`` (a part may hold None there).
    """
    data: dict[str, object] = {}
    for name in columns:
        columns_of = [part[name] for part in parts]
        if name in stamps:
            ns = [
                col.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
                if isinstance(col.dtype, pd.DatetimeTZDtype)
                else np.full(len(col), np.datetime64("NaT"), dtype="datetime64[ns]")
                for col in columns_of
            ]
            data[name] = pd.DatetimeIndex(np.concatenate(ns)).tz_localize("UTC")
        elif all(col.dtype == bool for col in columns_of):
            data[name] = np.concatenate([col.to_numpy(dtype=bool) for col in columns_of])
        else:
            data[name] = np.concatenate(
                [col.to_numpy() if col.dtype == object else _objects(col) for col in columns_of]
            )
    return pd.DataFrame(data, columns=list(columns))


def _arrow_text(values: np.ndarray) -> pd.Series:
    """Trimmed text (pyarrow-backed, so string functions run in C); empty after trimming counts as missing."""
    present = pd.notna(values)
    if present.any() and pd.api.types.infer_dtype(values, skipna=True) != "string":
        values = np.where(present, values.astype(str), None)
    text = pd.Series(pd.array(values, dtype="string[pyarrow]")).str.strip()
    return text.where(text != "")


def _by_distinct(values: pd.Series, fn) -> pd.Series:  # type: ignore[no-untyped-def]
    """Apply a per-value function once per distinct value (keys repeat a lot: tags, scores)."""
    distinct = pd.unique(values.dropna())
    mapping = {value: fn(value) for value in distinct}
    return values.map(mapping)


def _tags_key(value: object) -> str | None:
    tags = sorted({part.strip() for part in str(value).split(";") if part.strip()})
    return ";".join(tags) if tags else None


def _number_key(value: object) -> str | None:
    number = pd.to_numeric(value, errors="coerce")
    if pd.isna(number):
        text = str(value).strip()
        return f"raw:{text}" if text else None
    return repr(round(float(number), 9) + 0.0)


def compare_keys(values: pd.Series | np.ndarray, kind: str, region: str, e164: np.ndarray | None = None) -> np.ndarray:
    """Comparison keys of values of one field (object array, None for empty), per the field's compare kind.

    ``e164`` is the already-normalized phone of each value when the caller has it (the canonical frames do), so
    phones are only parsed for values that lack it (the base).
    """
    values = _objects(values)
    if kind == "number":
        return _objects(_by_distinct(pd.Series(values, dtype=object), _number_key))
    text = _arrow_text(values)
    if kind == "email":
        key = text.str.lower()
        special = key.str.contains(r"[^\x00-\x7f]", regex=True).fillna(False).astype(bool)
        if special.any():
            key[special] = key[special].astype(object).map(str.casefold)
    elif kind == "phone":
        if e164 is None:
            e164 = _objects(normalize_phone(text.astype("string[python]"), region))
        raw = ("raw:" + text).to_numpy(dtype=object, na_value=None)
        return np.where(pd.notna(e164), e164, raw)
    elif kind == "tags":
        key = _by_distinct(text.astype(object), _tags_key)
    else:
        key = text
    return _objects(key)


def _filled(keys: np.ndarray) -> np.ndarray:
    """Keys with None replaced by a marker, so == treats two missing values as equal."""
    out = keys.copy()
    out[pd.isna(keys)] = _NULL
    return out


def _same(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Equality of two key arrays already passed through ``_filled``."""
    return left == right


def by_record_id(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical frame indexed by record_id (as is when it already is), ids seen twice left out."""
    if frame.index.name == "record_id":
        return frame
    return frame[~frame["record_id"].duplicated(keep=False)].set_index("record_id")


def _base_by_field(base: pd.DataFrame, crm_ids: np.ndarray, gen_ids: np.ndarray) -> dict[str, pd.DataFrame]:
    """Base rows of the current pairs only (a base stored for an older link of the same CRM id does not count),
    split by field, one row per CRM id."""
    stored = base[["crm_id", "genesys_id", "field", "value"]]
    linked_to = pd.Series(gen_ids, index=pd.Index(crm_ids, dtype=object))
    current = stored["genesys_id"].to_numpy(dtype=object) == linked_to.reindex(stored["crm_id"]).to_numpy(dtype=object)
    stored = stored[current].drop_duplicates(subset=["crm_id", "field"], keep="last")
    return {str(name): rows for name, rows in stored.groupby("field", sort=False)}


def field_frame(
    pairs: pd.DataFrame,
    crm: pd.DataFrame,
    genesys: pd.DataFrame,
    policy: object,
    base: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per (pair, mapped field): both current values, the base, their comparison keys and modify stamps."""
    c = by_record_id(crm)
    g = by_record_id(genesys)
    ci = c.index.get_indexer(pairs["crm_id"])
    gi = g.index.get_indexer(pairs["genesys_id"])
    if (ci < 0).any() or (gi < 0).any():
        raise ValueError("every pair must name a record of each snapshot")
    region = getattr(policy, "default_region", "US")
    crm_mod = pd.Series(c["modified_at"].array.take(ci))
    gen_mod = pd.Series(g["modified_at"].array.take(gi))
    crm_ids = _objects(pairs["crm_id"])
    gen_ids = _objects(pairs["genesys_id"])
    bases = _base_by_field(base, crm_ids, gen_ids) if base is not None and len(base) else {}
    n = len(ci)
    chunks = []
    for rule in policy.fields:  # type: ignore[attr-defined]
        crm_values = column_values(c, rule.name, ci)
        gen_values = column_values(g, rule.name, gi)
        crm_e164 = gen_e164 = None
        if rule.compare == "phone" and rule.name == "phone":
            crm_e164 = column_values(c, "phone_e164", ci)
            gen_e164 = column_values(g, "phone_e164", gi)
        base_values = np.full(n, None, dtype=object)
        base_keys = np.full(n, None, dtype=object)
        has_base = np.zeros(n, dtype=bool)
        stored = bases.get(rule.name)
        if stored is not None:
            at = pd.Index(stored["crm_id"], dtype=object).get_indexer(crm_ids)
            has_base = at >= 0
            base_values[has_base] = _objects(stored["value"].to_numpy())[at[has_base]]
            base_keys[has_base] = compare_keys(base_values[has_base], rule.compare, region)
        chunks.append(
            pd.DataFrame(
                {
                    "crm_id": crm_ids,
                    "genesys_id": gen_ids,
                    "field": np.full(n, rule.name, dtype=object),
                    "base": base_values,
                    "crm_value": crm_values,
                    "genesys_value": gen_values,
                    "base_key": base_keys,
                    "crm_key": compare_keys(crm_values, rule.compare, region, crm_e164),
                    "genesys_key": compare_keys(gen_values, rule.compare, region, gen_e164),
                    "has_base": has_base,
                    "crm_modified_at": crm_mod,
                    "genesys_modified_at": gen_mod,
                }
            )
        )
    return stack_frames(chunks, FIELD_FRAME_COLUMNS)


def _keys_per_field(frame: pd.DataFrame, column: str, policy: object) -> np.ndarray:
    """Comparison keys of a value column whose rows belong to different fields."""
    keys = np.full(len(frame), None, dtype=object)
    region = getattr(policy, "default_region", "US")
    for rule in policy.fields:  # type: ignore[attr-defined]
        rows = np.flatnonzero((frame["field"] == rule.name).to_numpy())
        if len(rows):
            keys[rows] = compare_keys(frame[column].iloc[rows], rule.compare, region)
    return keys


def merge_fields(
    pairs: pd.DataFrame,
    crm: pd.DataFrame,
    genesys: pd.DataFrame,
    base: pd.DataFrame | None,
    decisions: pd.DataFrame | None,
    policy: object,
) -> pd.DataFrame:
    """Merge every mapped field of every pair (crm_id, genesys_id of live matched records).

    ``base``: crm_id, genesys_id, field, value (the last synced value; None on first sync). ``decisions``: crm_id,
    field, use (crm|genesys|value), value. Returns MERGE_COLUMNS; ``new_value`` is the value to write (or the agreed
    value), ``base_update`` says whether ``new_value`` must be stored as the new base once the writes succeed.
    """
    mode = getattr(policy, "mode", "one_way")
    rules = {rule.name: rule for rule in policy.fields}  # type: ignore[attr-defined]
    long = field_frame(pairs, crm, genesys, policy, base=base)
    has_base = long["has_base"].to_numpy(dtype=bool)
    base_key = long["base_key"].to_numpy()

    crm_key = _filled(long["crm_key"].to_numpy())
    gen_key = _filled(long["genesys_key"].to_numpy())
    base_key = _filled(base_key)
    same = _same(crm_key, gen_key)
    crm_changed = has_base & ~_same(crm_key, base_key)
    gen_changed = has_base & ~_same(gen_key, base_key)
    both = (crm_changed & gen_changed) | (~has_base & ~same)
    changed_on = np.select([both, crm_changed, gen_changed], ["both", "crm", "genesys"], "none")
    conflict = both & ~same

    field = long["field"]
    eff = field.map({name: effective_direction(rule.direction, mode) for name, rule in rules.items()}).to_numpy()
    configured = field.map({name: rule.conflict for name, rule in rules.items()}).to_numpy()
    policy_used = np.where(mode == "one_way", "one_way", np.where(eff == "both", configured, "direction")).astype(
        object
    )
    held = (mode != "one_way") & conflict & (configured == "manual")
    policy_used = np.where(held, "manual", policy_used)

    # As int64 nanoseconds a missing stamp (NaT) is the smallest value: the oldest write.
    crm_mod = long["crm_modified_at"].to_numpy(dtype="datetime64[ns]").view("i8")
    gen_mod = long["genesys_modified_at"].to_numpy(dtype="datetime64[ns]").view("i8")
    crm_newer = crm_mod >= gen_mod
    winner = np.select(
        [
            same,
            held,
            eff == "none",
            eff == "crm_to_genesys",
            eff == "genesys_to_crm",
            changed_on == "crm",
            changed_on == "genesys",
            configured == "crm_wins",
            configured == "genesys_wins",
            (configured == "last_write_wins") & crm_newer,
            configured == "last_write_wins",
        ],
        ["none", "held", "none", "crm", "genesys", "crm", "genesys", "crm", "genesys", "crm", "genesys"],
        "held",
    ).astype(object)

    crm_value = long["crm_value"].to_numpy()
    gen_value = long["genesys_value"].to_numpy()
    new_value = np.where(winner == "genesys", gen_value, crm_value)
    new_key = np.where(winner == "genesys", gen_key, crm_key)

    if decisions is not None and len(decisions) and mode != "one_way":
        chosen = decisions[["crm_id", "field", "use", "value"]].drop_duplicates(subset=["crm_id", "field"], keep="last")
        chosen = chosen.assign(value_key=_keys_per_field(chosen, "value", policy))
        picked = long[["crm_id", "field"]].merge(chosen, on=["crm_id", "field"], how="left")
        use = picked["use"].to_numpy(dtype=object)
        decided = conflict & pd.notna(use)
        winner = np.where(decided, "decision", winner)
        typed = decided & (use == "value")
        taken_gen = decided & (use == "genesys")
        taken_crm = decided & (use == "crm")
        new_value = np.where(typed, _objects(picked["value"]), new_value)
        new_key = np.where(typed, _filled(_objects(picked["value_key"])), new_key)
        new_value = np.where(taken_gen, gen_value, np.where(taken_crm, crm_value, new_value))
        new_key = np.where(taken_gen, gen_key, np.where(taken_crm, crm_key, new_key))

    resolved = np.isin(winner, ["crm", "genesys", "decision"])
    need_genesys = resolved & np.isin(eff, ["crm_to_genesys", "both"]) & ~_same(new_key, gen_key)
    need_crm = resolved & np.isin(eff, ["genesys_to_crm", "both"]) & ~_same(new_key, crm_key)
    action = np.select(
        [winner == "held", need_genesys & need_crm, need_genesys, need_crm],
        ["hold", "write_both", "write_genesys", "write_crm"],
        "none",
    ).astype(object)
    # Agreement (already equal, or resolved by this plan) is stored as the next base when it moves the base.
    agreed = same | resolved
    base_update = agreed & (~has_base | ~_same(new_key, base_key))

    long["changed_on"] = changed_on
    long["conflict"] = conflict
    long["policy"] = policy_used
    long["winner"] = winner
    long["action"] = action
    long["new_value"] = np.where(agreed, new_value, None)
    long["base_update"] = base_update
    return long[list(MERGE_COLUMNS)]
