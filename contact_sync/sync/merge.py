"""The three-way field merge: for every matched pair and mapped field, decide who wins and what must be written.

Vectorized, one field at a time over all pairs. Values are compared on keys built per the field's
``compare`` kind (text trimmed, emails case-folded, phones by E.164, numbers numerically, tags as sets), so values
that only differ in formatting are never written; keys are compared as integer codes (Arrow dictionary encoding), and
the text columns of the result share one string object per label. Rules, against the base (the value last synced,
from the ledger):

- neither side changed -> nothing; only one side changed -> copied across if the field's direction allows it;
- both changed to the same value -> nothing written, base updated;
- both changed differently -> a conflict, resolved by the field's policy: ``crm_wins``, ``genesys_wins``,
  ``last_write_wins`` (record ``modified_at``; ties go to the CRM) or ``manual`` (held until a decision exists;
  decisions take the CRM value, the Genesys value, or a given value);
- no base yet (a first link) and different values -> a **baseline difference** (``changed_on`` "baseline"): nobody
  edited anything since a sync, so it is not a conflict, but it is settled the same way, by the field's policy (held
  under ``manual``, in bidirectional mode);
- a field synced in one direction only has a master: whenever the values differ the source side wins;
- ``one_way`` mode: every field that may go to Genesys is CRM-mastered, nothing is ever planned toward the CRM,
  fields mapped ``genesys_to_crm`` are left alone, decisions are not used.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from contact_sync.sync.normalize import normalize_phone

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
BOOL_COLUMNS: Final = ("conflict", "base_update", "has_base")

CHANGED_LABELS: Final = np.array(["none", "both", "crm", "genesys", "baseline"], dtype=object)
WINNER_LABELS: Final = np.array(["none", "held", "crm", "genesys", "decision"], dtype=object)
ACTION_LABELS: Final = np.array(["none", "hold", "write_both", "write_genesys", "write_crm"], dtype=object)
_NONE, _HELD, _CRM, _GENESYS, _DECISION = range(5)
"""Winner codes (indexes into WINNER_LABELS); the other label arrays are indexed the same way, by small ints, so the
frame's text columns share one string object per label instead of holding millions of copies."""

Columns = dict[str, np.ndarray]
"""A frame under construction: column name -> numpy array (stamps as int64 nanoseconds, NaT the smallest)."""


def stamps_ns(frame: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
    """``modified_at`` as int64 nanoseconds since the epoch (UTC), NaT as the smallest int64; a column that is not
    timezone-aware counts as missing (the canonical schema requires UTC)."""
    column = frame["modified_at"]
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        ns = column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view("i8")
    else:
        ns = np.full(len(column), np.iinfo(np.int64).min, dtype=np.int64)
    return ns if rows is None else ns[rows]


def columns_to_frame(parts: list[Columns], columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """One frame from parts built column by column: each column concatenated once, with numpy.

    Stamp columns become ``datetime64[ns, UTC]``, bool columns stay bool, every other column is object. This avoids
    ``pd.concat``, which inspects every value of all-missing object columns to decide dtypes.
    """
    # The text columns go straight into one 2-D object block (the layout pandas would consolidate them into), so
    # each value is copied once.
    texts = [name for name in columns if name not in STAMP_COLUMNS and name not in BOOL_COLUMNS]
    sizes = [len(part[columns[0]]) for part in parts]
    block = np.empty((len(texts), sum(sizes)), dtype=object)
    start = 0
    for part, size in zip(parts, sizes, strict=True):
        for row, name in enumerate(texts):
            block[row, start : start + size] = part[name]
        start += size
    frame = pd.DataFrame(block.T, columns=texts, copy=False)
    for position, name in enumerate(columns):
        if name in texts:
            continue
        arrays = [part[name] for part in parts]
        if name in STAMP_COLUMNS:
            ns = np.concatenate([np.asarray(a, dtype=np.int64) for a in arrays]) if arrays else np.empty(0, np.int64)
            values: object = pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
        else:
            values = np.concatenate(arrays).astype(bool, copy=False) if arrays else np.empty(0, dtype=bool)
        frame.insert(position, name, values)
    return frame


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


def _to_arrow(values: pd.Series | np.ndarray) -> pa.Array:
    """Keys as one Arrow string array (null for missing)."""
    if isinstance(values, pd.Series) and getattr(values.dtype, "storage", None) == "pyarrow":
        return pa.array(values.array).cast(pa.string())
    return pa.array(_objects(values), type=pa.string(), from_pandas=True)


def key_array(
    values: pd.Series | np.ndarray, kind: str, region: str, e164: np.ndarray | None = None
) -> pa.Array | pa.ChunkedArray:
    """Comparison keys of values of one field as an Arrow string array (null for empty); see ``compare_keys``."""
    values = _objects(values)
    if kind == "number":
        return _to_arrow(_by_distinct(pd.Series(values, dtype=object), _number_key))
    text = _arrow_text(values)
    if kind == "email":
        key = text.str.lower()
        special = key.str.contains(r"[^\x00-\x7f]", regex=True).fillna(False).astype(bool)
        if special.any():
            key[special] = key[special].astype(object).map(str.casefold)
    elif kind == "phone":
        if e164 is None:
            e164 = _objects(normalize_phone(text.astype("string[python]"), region))
        e164_keys = pa.array(_objects(e164), type=pa.string(), from_pandas=True)
        raw = pc.binary_join_element_wise("raw:", _to_arrow(text), "")
        return pc.if_else(pc.is_valid(e164_keys), e164_keys, raw)
    elif kind == "tags":
        key = _by_distinct(text.astype(object), _tags_key)
    else:
        key = text
    return _to_arrow(key)


def compare_keys(values: pd.Series | np.ndarray, kind: str, region: str, e164: np.ndarray | None = None) -> np.ndarray:
    """Comparison keys of values of one field (object array, None for empty), per the field's compare kind.

    ``e164`` is the already-normalized phone of each value when the caller has it (the canonical frames do), so
    phones are only parsed for values that lack it (the base).
    """
    return key_array(values, kind, region, e164).to_numpy(zero_copy_only=False)


def key_codes(*keys: pa.Array) -> list[np.ndarray]:
    """Integer codes of key arrays in one shared code space: equal keys get equal codes, missing keys -1 (so two
    missing values compare equal). Comparing codes replaces comparing millions of Python strings."""
    lengths = [len(k) for k in keys]
    arrays = [(k.combine_chunks() if isinstance(k, pa.ChunkedArray) else k).cast(pa.string()) for k in keys]
    encoded = pc.dictionary_encode(pa.concat_arrays(arrays))
    codes = np.asarray(encoded.indices.fill_null(-1), dtype=np.int64)
    return np.split(codes, np.cumsum(lengths)[:-1])


def by_record_id(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical frame indexed by record_id (as is when it already is), ids seen twice left out."""
    if frame.index.name == "record_id":
        return frame
    return frame[~frame["record_id"].duplicated(keep=False)].set_index("record_id")


def pair_rows(pairs: pd.DataFrame, crm: pd.DataFrame, genesys: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of each pair's CRM and Genesys records in the (record_id-indexed) frames."""
    ci = crm.index.get_indexer(pairs["crm_id"])
    gi = genesys.index.get_indexer(pairs["genesys_id"])
    if (ci < 0).any() or (gi < 0).any():
        raise ValueError("every pair must name a record of each snapshot")
    return ci, gi


def _base_by_field(
    base: pd.DataFrame, crm_ids: np.ndarray, gen_ids: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Base values of the current pairs only (a base stored for an older link of the same CRM id does not count):
    field -> (pair positions, values), one value per pair (the last stored)."""
    stored = base[["crm_id", "genesys_id", "field", "value"]]
    at = pd.Index(crm_ids, dtype=object).get_indexer(stored["crm_id"])
    found = at >= 0
    current = np.zeros(len(stored), dtype=bool)
    current[found] = stored["genesys_id"].to_numpy(dtype=object)[found] == gen_ids[at[found]]
    rows = np.flatnonzero(current)
    field_codes, names = pd.factorize(stored["field"].to_numpy(dtype=object)[rows])
    keys = pd.DataFrame({"at": at[rows], "field": field_codes})
    last = ~keys.duplicated(keep="last").to_numpy()
    rows, field_codes = rows[last], field_codes[last]
    values = _objects(stored["value"].to_numpy()[rows])
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for code, name in enumerate(names):
        mine = field_codes == code
        out[str(name)] = (at[rows[mine]], values[mine])
    return out


def field_values(
    pairs: pd.DataFrame, crm: pd.DataFrame, genesys: pd.DataFrame, policy: object, ci: np.ndarray, gi: np.ndarray
) -> list[Columns]:
    """Per mapped field: crm_id, genesys_id, field, crm_value, genesys_value and both modify stamps of each pair."""
    crm_ids = _objects(pairs["crm_id"])
    gen_ids = _objects(pairs["genesys_id"])
    crm_mod, gen_mod = stamps_ns(crm, ci), stamps_ns(genesys, gi)
    n = len(ci)
    return [
        {
            "crm_id": crm_ids,
            "genesys_id": gen_ids,
            "field": np.full(n, rule.name, dtype=object),
            "crm_value": column_values(crm, rule.name, ci),
            "genesys_value": column_values(genesys, rule.name, gi),
            "crm_modified_at": crm_mod,
            "genesys_modified_at": gen_mod,
        }
        for rule in policy.fields  # type: ignore[attr-defined]
    ]


def _decisions_by_field(decisions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    chosen = decisions[["crm_id", "field", "use", "value"]].drop_duplicates(subset=["crm_id", "field"], keep="last")
    return {str(name): rows for name, rows in chosen.groupby("field", sort=False)}


def _merge_field(
    rule: object,
    mode: str,
    region: str,
    part: Columns,
    e164: tuple[np.ndarray, np.ndarray] | None,
    base: tuple[np.ndarray, np.ndarray] | None,
    chosen: pd.DataFrame | None,
) -> Columns:
    """Decide every pair of one field; adds the decision columns to ``part`` (see the module docstring)."""
    n = len(part["crm_id"])
    kind = rule.compare  # type: ignore[attr-defined]
    crm_value, gen_value = part["crm_value"], part["genesys_value"]
    base_value = np.full(n, None, dtype=object)
    has_base = np.zeros(n, dtype=bool)
    if base is not None:
        has_base[base[0]] = True
        base_value[base[0]] = base[1]
    dec_at = np.full(n, -1, dtype=np.int64)
    dec_values = np.empty(0, dtype=object)
    if chosen is not None:
        dec_at = pd.Index(chosen["crm_id"], dtype=object).get_indexer(part["crm_id"])
        dec_values = _objects(chosen["value"].to_numpy())
    crm_c, gen_c, base_c, dec_c = key_codes(
        key_array(crm_value, kind, region, e164[0] if e164 else None),
        key_array(gen_value, kind, region, e164[1] if e164 else None),
        key_array(base_value[has_base], kind, region),
        key_array(dec_values, kind, region),
    )
    base_code = np.full(n, -1, dtype=np.int64)
    base_code[has_base] = base_c

    same = crm_c == gen_c
    crm_changed = has_base & (crm_c != base_code)
    gen_changed = has_base & (gen_c != base_code)
    baseline = ~has_base & ~same
    both = crm_changed & gen_changed
    changed_on = np.select([baseline, both, crm_changed, gen_changed], [4, 1, 2, 3], 0)
    conflict = both & ~same
    disputed = conflict | baseline  # settled by the field's conflict policy

    eff = effective_direction(rule.direction, mode)  # type: ignore[attr-defined]
    configured = rule.conflict  # type: ignore[attr-defined]
    held = disputed & (mode != "one_way") & (configured == "manual")
    plain_policy = "one_way" if mode == "one_way" else (configured if eff == "both" else "direction")

    # The same order of precedence for every row: equal -> held -> the field's direction -> the side that moved ->
    # the conflict policy (last_write_wins: newer modify stamp, ties to the CRM).
    if eff == "none":
        rest: np.ndarray | int = _NONE
    elif eff == "crm_to_genesys":
        rest = _CRM
    elif eff == "genesys_to_crm":
        rest = _GENESYS
    else:
        by_policy = {
            "crm_wins": _CRM,
            "genesys_wins": _GENESYS,
            "last_write_wins": np.where(part["crm_modified_at"] >= part["genesys_modified_at"], _CRM, _GENESYS),
        }.get(configured, _HELD)
        rest = np.where(changed_on == 2, _CRM, np.where(changed_on == 3, _GENESYS, by_policy))
    winner = np.where(same, _NONE, np.where(held, _HELD, rest)).astype(np.int8)

    take_gen = winner == _GENESYS
    new_value = np.where(take_gen, gen_value, crm_value)
    new_c = np.where(take_gen, gen_c, crm_c)
    if chosen is not None and mode != "one_way":
        has_decision = dec_at >= 0
        use = np.full(n, None, dtype=object)
        use[has_decision] = chosen["use"].to_numpy(dtype=object)[dec_at[has_decision]]
        decided = disputed & pd.notna(use)
        winner[decided] = _DECISION
        typed = decided & (use == "value")
        taken_gen = decided & (use == "genesys")
        taken_crm = decided & (use == "crm")
        rows = np.flatnonzero(typed)
        new_value[rows] = dec_values[dec_at[rows]]
        new_c[rows] = dec_c[dec_at[rows]]
        new_value = np.where(taken_gen, gen_value, np.where(taken_crm, crm_value, new_value))
        new_c = np.where(taken_gen, gen_c, np.where(taken_crm, crm_c, new_c))

    resolved = winner >= _CRM
    need_genesys = resolved & (eff in ("crm_to_genesys", "both")) & (new_c != gen_c)
    need_crm = resolved & (eff in ("genesys_to_crm", "both")) & (new_c != crm_c)
    action = np.select([winner == _HELD, need_genesys & need_crm, need_genesys, need_crm], [1, 2, 3, 4], 0)
    # Agreement (already equal, or resolved by this plan) is stored as the next base when it moves the base.
    agreed = same | resolved
    new_value[~agreed] = None
    return {
        **part,
        "base": base_value,
        "changed_on": CHANGED_LABELS[changed_on],
        "conflict": conflict,
        "policy": np.array([plain_policy, "manual"], dtype=object)[held.astype(np.int8)],
        "winner": WINNER_LABELS[winner],
        "action": ACTION_LABELS[action],
        "new_value": new_value,
        "base_update": agreed & (~has_base | (new_c != base_code)),
    }


def merge_columns(
    pairs: pd.DataFrame,
    crm: pd.DataFrame,
    genesys: pd.DataFrame,
    base: pd.DataFrame | None,
    decisions: pd.DataFrame | None,
    policy: object,
) -> list[Columns]:
    """``merge_fields`` as one set of columns per field, not yet a frame."""
    mode = getattr(policy, "mode", "one_way")
    region = getattr(policy, "default_region", "US")
    c = by_record_id(crm)
    g = by_record_id(genesys)
    ci, gi = pair_rows(pairs, c, g)
    parts = field_values(pairs, c, g, policy, ci, gi)
    crm_ids, gen_ids = parts[0]["crm_id"], parts[0]["genesys_id"]
    bases = _base_by_field(base, crm_ids, gen_ids) if base is not None and len(base) else {}
    chosen = _decisions_by_field(decisions) if decisions is not None and len(decisions) else {}
    out = []
    for rule, part in zip(policy.fields, parts, strict=True):  # type: ignore[attr-defined]
        e164 = None
        if rule.compare == "phone" and rule.name == "phone":
            e164 = (column_values(c, "phone_e164", ci), column_values(g, "phone_e164", gi))
        out.append(_merge_field(rule, mode, region, part, e164, bases.get(rule.name), chosen.get(rule.name)))
    return out


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
    return columns_to_frame(merge_columns(pairs, crm, genesys, base, decisions, policy), MERGE_COLUMNS)
