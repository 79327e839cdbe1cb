"""How field values are stored in the ledger: JSON text, so a base value, an audit old/new value or a conflict version
reads back with its type (a tag list stays a list, a lead score a number); an empty value is SQL NULL.

Also the small frame helpers the store uses to turn DataFrames into rows and back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from contact_sync.ledger.errors import LedgerError


def _plain(value: Any) -> Any:
    """`value` as something `json.dumps` takes: numpy and pandas scalars unwrapped, times as ISO 8601."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, np.ndarray | tuple | set | frozenset):
        return [_plain(v) for v in (sorted(value) if isinstance(value, set | frozenset) else value)]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def is_empty(value: Any) -> bool:
    """None, NaN, NaT and pd.NA are all "no value"."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def encode_value(value: Any) -> str | None:
    """The JSON text stored for `value`; None for an empty value."""
    if is_empty(value):
        return None
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    try:
        return json.dumps(_plain(value), ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise LedgerError(f"cannot store a value of type {type(value).__name__} in the ledger: {exc}") from None


def decode_value(text: str | None) -> Any:
    """The value `encode_value` stored as `text`."""
    if text is None:
        return None
    return json.loads(text)


def encode_column(values: Iterable[Any]) -> list[str | None]:
    """`encode_value` over a column, with a fast path for the common case of plain strings."""
    dumps = json.dumps
    return [dumps(v, ensure_ascii=False) if type(v) is str else encode_value(v) for v in values]


def decode_column(values: Iterable[str | None]) -> list[Any]:
    loads = json.loads
    return [None if v is None else loads(v) for v in values]


def require_columns(frame: pd.DataFrame, required: Sequence[str], what: str) -> None:
    """Refuse a frame that lacks a column the ledger needs, naming them."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise LedgerError(f"{what} frame lacks column(s) {', '.join(missing)}")


def require_values(frame: pd.DataFrame, column: str, allowed: Sequence[str], what: str) -> None:
    """Refuse a frame whose `column` holds a value outside `allowed`, naming the first few."""
    bad = frame.loc[~frame[column].isin(allowed), column]
    if len(bad):
        shown = ", ".join(repr(v) for v in pd.unique(bad)[:3])
        raise LedgerError(f"{what}: {column} must be one of {', '.join(allowed)}; got {shown}")


def require_present(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Refuse a frame with an empty cell in a column that must always hold a value."""
    for column in columns:
        if frame[column].isna().any():
            raise LedgerError(f"{what}: {column} is empty in {int(frame[column].isna().sum())} row(s)")


def text_column(series: pd.Series) -> list[str | None]:
    """A column of ids as plain str (None where empty), whatever dtype the caller's frame had."""
    values = series.tolist()
    if all(type(v) is str for v in values):
        return values
    return [None if is_empty(v) else str(v) for v in values]


def frame(rows: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
    """A DataFrame from result rows, with the given columns even when there are no rows."""
    return pd.DataFrame.from_records(list(rows), columns=list(columns))


def utc_column(series: pd.Series) -> pd.Series:
    """A timestamp column as pandas UTC datetimes (NaT where empty)."""
    return pd.to_datetime(series, utc=True, format="ISO8601")


def now_utc() -> datetime:
    return datetime.now(UTC)
