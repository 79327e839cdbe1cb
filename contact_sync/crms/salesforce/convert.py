"""Salesforce Contact rows <-> the canonical contact frame (on the shared readers of `sync.columns`).

``modified_at`` is ``LastModifiedDate`` (user edits; what last-write-wins should compare) and falls back to
``SystemModstamp`` when the former is not selected or empty; a record's snapshot stamp (handed back to the connector,
which compares it with the live record before writing) is its ``SystemModstamp``. A record with an invalid email or a
non-numeric lead score is rejected (writing it to Genesys would fail or clear a value); emails are not validated on
deleted records, so a delete always gets through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from contact_sync.sync.columns import (
    ConversionError,
    ConversionResult,
    check_ids,
    check_names,
    crm_columns,
    finish_crm_rows,
    flag_column,
    input_column,
    read_crm_rows,
    resolve_policy,
    stamp_frame,
    text_column,
    timestamp_column,
    write_value,
)
from contact_sync.sync.policy import SyncPolicy
from contact_sync.sync.record_ids import SALESFORCE_ID


def records_to_canonical(
    records: Sequence[Mapping[str, Any]], policy: SyncPolicy
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(canonical, stamps, rejected) for Salesforce Contact rows; stamps are SystemModstamp."""
    converted = salesforce_to_canonical(list(records), policy)
    return (
        converted.frame,
        stamp_frame(records, policy.link_field.get("salesforce", "Id"), "SystemModstamp"),
        converted.rejected,
    )


def salesforce_to_canonical(
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame, policy: SyncPolicy | None = None, validate: bool = True
) -> ConversionResult:
    """Salesforce Contact rows (REST query records or Bulk API CSV rows) -> canonical frame.

    Reads the policy's Salesforce fields, plus ``CreatedDate``, ``LastModifiedDate`` / ``SystemModstamp``,
    ``IsDeleted`` and ``MasterRecordId`` when present.
    """
    policy = resolve_policy(policy)
    source = read_crm_rows(rows, policy, "salesforce", "Id")
    raw, problems = source.raw, source.problems
    record_id, missing_id = source.record_ids(pattern=SALESFORCE_ID if source.link == "Id" else None)
    if source.strict and "LastModifiedDate" not in raw.columns and "SystemModstamp" not in raw.columns:
        raise ConversionError("the input has neither LastModifiedDate nor SystemModstamp: select one of them")
    last_modified = timestamp_column(
        input_column(raw, "LastModifiedDate"), "LastModifiedDate", problems, required=False
    )
    modstamp = timestamp_column(input_column(raw, "SystemModstamp"), "SystemModstamp", problems, required=False)
    modified_at = last_modified.fillna(modstamp)
    no_stamp = modified_at.isna().to_numpy(dtype=bool)
    problems.reject(no_stamp & ~source.not_mapping, "LastModifiedDate and SystemModstamp are both missing")
    is_deleted = flag_column(input_column(raw, "IsDeleted"), "IsDeleted", problems)
    merged_into = text_column(input_column(raw, "MasterRecordId"), "MasterRecordId", problems, numbers=False)
    check_ids(merged_into, "MasterRecordId", SALESFORCE_ID, problems)
    return finish_crm_rows(
        source,
        crm_columns(raw, source.fields, problems, is_deleted.to_numpy(dtype=bool), policy, source.strict),
        record_id=record_id,
        usable=~missing_id & ~no_stamp,
        modified_at=modified_at,
        created_at=timestamp_column(input_column(raw, "CreatedDate"), "CreatedDate", None, required=False),
        is_deleted=is_deleted,
        merged_into=merged_into,
        account_pattern=SALESFORCE_ID,
        validate=validate,
    )


def canonical_to_salesforce(values: Mapping[str, Any], policy: SyncPolicy | None = None) -> dict[str, Any]:
    """Canonical field values -> Salesforce Contact fields (only the given fields that the policy maps)."""
    policy = resolve_policy(policy)
    check_names(values)
    payload: dict[str, Any] = {}
    for rule in policy.fields_for("salesforce"):
        if rule.name in values:
            payload[rule.crm_fields["salesforce"]] = write_value(rule.name, values[rule.name])
    return payload
