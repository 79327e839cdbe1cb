"""The Pandera models accept well-formed canonical and rejected frames and refuse malformed ones."""

from __future__ import annotations

import inspect

import pandas as pd
import pandera.pandas as pa
import pytest

from contact_sync.sync.schema import (
    CANONICAL_COLUMNS,
    CanonicalContact,
    RejectedRecord,
    empty_canonical,
    empty_rejected,
)


def _frame(**overrides: list[object]) -> pd.DataFrame:
    data: dict[str, object] = {
        "system": ["salesforce", "genesys"],
        "record_id": ["003000000000001AAA", "9f1c2d3e-0000-4000-8000-000000000001"],
        "crm_id": ["003000000000001AAA", None],
        "first_name": ["Zoë", "李"],
        "last_name": ["Ångström", None],
        "email": ["Zoe@Example.com", None],
        "phone": ["(317) 555-7000", None],
        "phone_e164": ["+13175557000", None],
        "account_id": ["001000000000001AAA", None],
        "lead_score": [42.0, None],
        "tags": ["gold;vip", None],
        "created_at": ["2026-01-01T00:00:00Z", None],
        "modified_at": ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"],
        "is_deleted": [False, False],
        "merged_into": [None, None],
    }
    data.update(overrides)
    frame = pd.DataFrame(data)
    for column in frame.columns:
        if column in ("created_at", "modified_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        elif column == "lead_score":
            frame[column] = frame[column].astype("float64")
        elif column != "is_deleted":
            frame[column] = frame[column].astype("string")
    return frame


def test_valid_frame_passes_and_empty_frames_are_typed() -> None:
    CanonicalContact.validate(_frame())
    assert tuple(CanonicalContact.validate(empty_canonical()).columns) == CANONICAL_COLUMNS
    RejectedRecord.validate(empty_rejected())
    RejectedRecord.validate(empty_rejected().drop(columns="crm_id"))


def test_every_column_has_a_docstring() -> None:
    text = inspect.getsource(CanonicalContact)
    for column in CANONICAL_COLUMNS:
        after = text.split(f"    {column}: ", 1)[1].splitlines()
        assert after[1].strip().startswith('"""'), column


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"system": ["salesforce", "zoho"]}, "isin"),
        ({"record_id": ["a", None]}, "null"),
        ({"record_id": ["same", "same"], "system": ["genesys", "genesys"]}, "not unique"),
        ({"phone_e164": ["13175557000", None]}, "str_startswith"),
        ({"modified_at": ["2026-01-02T00:00:00Z", None]}, "null"),
    ],
)
def test_malformed_frames_are_refused(overrides: dict[str, list[object]], problem: str) -> None:
    with pytest.raises(pa.errors.SchemaError, match=problem):
        CanonicalContact.validate(_frame(**overrides))


def test_naive_timestamps_and_extra_columns_are_refused() -> None:
    naive = _frame()
    naive["modified_at"] = naive["modified_at"].dt.tz_localize(None)
    with pytest.raises(pa.errors.SchemaError):
        CanonicalContact.validate(naive)
    with pytest.raises((pa.errors.SchemaError, pa.errors.SchemaErrors), match="'extra' not in"):
        CanonicalContact.validate(_frame().assign(extra=1))
