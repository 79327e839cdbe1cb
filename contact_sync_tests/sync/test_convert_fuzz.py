"""Poison records (hypothesis): any JSON value in any field of a Salesforce, Dynamics or Genesys record, through the
pipeline's readers (canonical frame, snapshot stamps, rejected records) and the Genesys organization map.

Each example is a snapshot of clean records in which a few chosen records get one arbitrary JSON value (null, flags,
integers, floats with NaN and infinities, text up to 100,000 characters, lists and objects nested) at one field path,
the record itself replaced by a non-object included for Genesys. The readers must never raise; every clean record is
read exactly as it is read without the poisoned ones; every poisoned record is either read (its value was acceptable)
or listed as rejected with a reason, never dropped silently; and nothing but poisoned records is rejected.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from copy import deepcopy
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contact_sync.crms.dynamics.convert import records_to_canonical as dynamics_records_to_canonical
from contact_sync.crms.salesforce.convert import records_to_canonical as crm_to_canonical
from contact_sync.pipeline.genesys_adapter import genesys_to_canonical, organization_accounts
from contact_sync.sync.policy import load_policy
from contact_sync_tests.sync.test_convert import ORGS, SOURCE, dynamics_row, genesys_contact, sf_row

POLICY = load_policy()
CLEAN = 60
"""Records in each snapshot (enough for pandas to take its other code paths, such as caching in `to_datetime`);
the poisoned ones are chosen among them."""

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["", " ", "x" * 100_000, "not-a-date", "@@", "+", "2026-13-45T99:99:99Z", "true", "NaN"])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=8,
)

Path = tuple[str | int, ...]
"""Keys from a record down to one value (list positions as numbers); () is the record itself."""

SALESFORCE_PATHS: tuple[Path, ...] = (*((key,) for key in sf_row()), ())
DYNAMICS_PATHS: tuple[Path, ...] = (*((key,) for key in dynamics_row()), ("@odata.context",), ("id",), ())
GENESYS_PATHS: tuple[Path, ...] = (
    *((key,) for key in genesys_contact()),
    ("workPhone", "display"),
    ("workPhone", "e164"),
    ("externalOrganization", "id"),
    ("customFields", "leadScore"),
    ("customFields", "tags"),
    ("externalIds", 0),
    ("externalIds", 0, "value"),
    ("externalIds", 0, "externalSource"),
    ("externalIds", 0, "externalSource", "name"),
    (),
)

fuzz = settings(
    max_examples=40,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def poisoned(record: dict[str, Any], path: Path, value: Any) -> Any:
    """`record` with `value` at `path`."""
    if not path:
        return value
    out = deepcopy(record)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def poisons(paths: tuple[Path, ...]) -> st.SearchStrategy[dict[int, tuple[Path, Any]]]:
    """Record position -> (field path, JSON value) for one to three records of a snapshot."""
    return st.dictionaries(
        st.integers(min_value=0, max_value=CLEAN - 1),
        st.tuples(st.sampled_from(paths), JSON_VALUES),
        min_size=1,
        max_size=5,
    )


Reader = Callable[[list[Any]], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]


def check_only_poisoned_records_are_held(
    clean: list[dict[str, Any]], picks: dict[int, tuple[Path, Any]], read: Reader, id_key: str
) -> None:
    records = [poisoned(r, *picks[i]) if i in picks else r for i, r in enumerate(clean)]
    ids = [r[id_key] for r in clean]
    # A poisoned value equal to another record's id would make two copies of one record, a different case.
    for path, value in picks.values():
        if path == (id_key,) and (str(value) in ids or value in ids):
            return

    frame, stamps, rejected = read(records)
    alone, _, alone_rejected = read([r for i, r in enumerate(clean) if i not in picks])

    assert alone_rejected.empty
    clean_ids = [i for n, i in enumerate(ids) if n not in picks]
    kept_clean = frame[frame["record_id"].isin(clean_ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept_clean, alone.reset_index(drop=True))
    held = set(rejected["record_id"].dropna())
    assert not held & set(clean_ids), rejected
    assert rejected["reason"].str.len().gt(0).all()
    # Every poisoned record is read or held: none vanishes without a word.
    read_ids = set(frame["record_id"])
    unread = len(records) - len(frame)
    assert unread == len(picks) - len(read_ids - set(clean_ids))
    assert len(rejected) >= unread
    assert set(stamps["record_id"]) <= {i for i in ids} | {str(v) for _, v in picks.values()}
    assert frame["record_id"].is_unique


@fuzz
@given(picks=poisons(SALESFORCE_PATHS))
def test_any_json_in_any_salesforce_field_holds_only_that_record(picks: dict[int, tuple[Path, Any]]) -> None:
    clean = [sf_row(f"0030000000000{n:02d}AAA", Email=f"p{n}@example.com") for n in range(CLEAN)]
    check_only_poisoned_records_are_held(clean, picks, lambda rows: crm_to_canonical(rows, POLICY), "Id")


@fuzz
@given(picks=poisons(DYNAMICS_PATHS))
def test_any_json_in_any_dynamics_field_holds_only_that_record(picks: dict[int, tuple[Path, Any]]) -> None:
    clean = [
        dynamics_row(f"7d0c3c1e-0000-4000-8000-0000000000{n:02d}", emailaddress1=f"p{n}@example.com")
        for n in range(CLEAN)
    ]
    check_only_poisoned_records_are_held(
        clean, picks, lambda rows: dynamics_records_to_canonical(rows, POLICY), "contactid"
    )


@fuzz
@given(picks=poisons(GENESYS_PATHS))
def test_any_json_in_any_genesys_field_holds_only_that_record(picks: dict[int, tuple[Path, Any]]) -> None:
    clean = [
        genesys_contact(
            f"g-{n}",
            workEmail=f"p{n}@example.com",
            externalIds=[{"externalSource": dict(SOURCE), "value": f"0030000000000{n:02d}AAA"}],
        )
        for n in range(CLEAN)
    ]
    check_only_poisoned_records_are_held(
        clean, picks, lambda rows: genesys_to_canonical(rows, POLICY, "Salesforce", ORGS), "id"
    )


ORGANIZATION_PATHS: tuple[Path, ...] = (
    ("id",),
    ("name",),
    ("externalIds",),
    ("externalIds", 0),
    ("externalIds", 0, "value"),
    ("externalIds", 0, "externalSource"),
    (),
)


def organization(n: int) -> dict[str, Any]:
    return {
        "id": f"org-{n}",
        "name": f"Org {n}",
        "externalIds": [{"externalSource": dict(SOURCE), "value": f"0010000000000{n:02d}AAA"}],
    }


@fuzz
@given(picks=poisons(ORGANIZATION_PATHS))
def test_any_json_in_a_genesys_organization_leaves_the_other_organizations_mapped(
    picks: dict[int, tuple[Path, Any]],
) -> None:
    clean = [organization(n) for n in range(CLEAN)]
    records = [poisoned(r, *picks[i]) if i in picks else r for i, r in enumerate(clean)]

    mapped = organization_accounts(records, "Salesforce")

    expected = {f"org-{n}": f"0010000000000{n:02d}AAA" for n in range(CLEAN) if n not in picks}
    found: Mapping[str, str] = dict(zip(mapped["organization_id"], mapped["account_id"], strict=True))
    assert {k: v for k, v in found.items() if k in expected} == expected
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in found.items())
