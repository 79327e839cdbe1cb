"""Dynamics 365 contact rows (Web API ``value`` items, delta ``$deletedEntity`` items included) <-> the canonical
contact frame (on the shared readers of `sync.columns`).

Rows with ``statecode`` 1 (inactive) count as deleted, like ``$deletedEntity`` rows of a delta feed; those carry no
timestamp, so they are stamped with ``observed_at`` (default: now). Lookup columns are read as ``_<field>_value``
and written as ``<field>_account@odata.bind``. A record's snapshot stamp is its ``@odata.etag``, which the connector
sends back as ``If-Match``, so an edit made since the snapshot is never overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import pandas as pd

from contact_sync.sync.columns import (
    ConversionResult,
    check_names,
    crm_columns,
    finish_crm_rows,
    input_column,
    read_crm_rows,
    resolve_policy,
    shorten,
    stamp_frame,
    timestamp_column,
    write_value,
)
from contact_sync.sync.policy import SyncPolicy
from contact_sync.sync.record_ids import DYNAMICS_ID

_DELETED_ENTITY: Final = "$deletedEntity"


def records_to_canonical(
    records: Sequence[Mapping[str, Any]], policy: SyncPolicy
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(canonical, stamps, rejected) for Dynamics contact rows; stamps are each live row's `@odata.etag` (deleted
    rows have none)."""
    converted = dynamics_to_canonical(list(records), policy)
    return (
        converted.frame,
        stamp_frame(records, policy.link_field.get("dynamics", "contactid"), "@odata.etag"),
        converted.rejected,
    )


def dynamics_to_canonical(
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
    policy: SyncPolicy | None = None,
    observed_at: datetime | None = None,
    validate: bool = True,
) -> ConversionResult:
    """Dynamics 365 contact rows (Web API ``value`` items, delta ``$deletedEntity`` items included) -> canonical frame.

    Lookup fields are read as ``_<field>_value`` (``parentcustomerid`` -> ``_parentcustomerid_value``).
    """
    policy = resolve_policy(policy)
    source = read_crm_rows(rows, policy, "dynamics", "contactid")
    raw, problems, link, n = source.raw, source.problems, source.link, source.n
    if "account_id" in source.fields:
        source.fields["account_id"] = f"_{source.fields['account_id']}_value"

    context = input_column(raw, "@odata.context").astype(object)
    deleted_entity = context.map(lambda v: isinstance(v, str) and v.endswith(_DELETED_ENTITY)).to_numpy(dtype=bool)
    ids = input_column(raw, link).astype(object)
    if deleted_entity.any():
        ids = ids.where(~deleted_entity, input_column(raw, "id").astype(object))
    record_id, missing_id = source.record_ids(ids, DYNAMICS_ID if link == "contactid" else None)

    stamp = pd.Timestamp(observed_at or datetime.now(UTC))
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    modified_raw = input_column(raw, "modifiedon").astype(object).where(~deleted_entity, None)
    modified_at = timestamp_column(modified_raw, "modifiedon", problems, required=False)
    modified_at = modified_at.where(~deleted_entity, stamp)
    no_stamp = modified_at.isna().to_numpy(dtype=bool)
    problems.reject(no_stamp & ~source.not_mapping, "modifiedon is missing")

    state = input_column(raw, "statecode").astype(object)
    state_number = pd.to_numeric(state.where(~state.map(lambda v: isinstance(v, bool | str)), None), errors="coerce")
    bad_state = state.notna().to_numpy(dtype=bool) & ~state_number.isin([0, 1]).to_numpy(dtype=bool) & ~deleted_entity
    problems.reject(bad_state, [f"statecode is not 0 or 1: {shorten(v)}" for v in state[bad_state].tolist()])
    is_deleted = pd.Series(deleted_entity | (state_number == 1).to_numpy(dtype=bool))

    if deleted_entity.all():  # a delta page of deletes only carries no content columns
        source.fields = {}
    return finish_crm_rows(
        source,
        crm_columns(raw, source.fields, problems, is_deleted.to_numpy(dtype=bool), policy, source.strict),
        record_id=record_id,
        usable=~missing_id & ~no_stamp,
        modified_at=modified_at,
        created_at=timestamp_column(input_column(raw, "createdon"), "createdon", None, required=False),
        is_deleted=is_deleted,
        merged_into=pd.array([pd.NA] * n, dtype="string"),
        account_pattern=DYNAMICS_ID,
        validate=validate,
    )


def canonical_to_dynamics(values: Mapping[str, Any], policy: SyncPolicy | None = None) -> dict[str, Any]:
    """Canonical field values -> Dynamics contact columns. The account is a lookup: it is written as
    ``<field>_account@odata.bind: /accounts(<id>)`` (None clears it)."""
    policy = resolve_policy(policy)
    check_names(values)
    payload: dict[str, Any] = {}
    for rule in policy.fields_for("dynamics"):
        if rule.name not in values:
            continue
        column = rule.crm_fields["dynamics"]
        value = write_value(rule.name, values[rule.name])
        if rule.name == "account_id":
            payload[f"{column}_account@odata.bind"] = None if value is None else f"/accounts({value})"
        else:
            payload[column] = value
    return payload
