"""HubSpot contact rows (the connector's flat rows: properties plus `id`, `archived`, `archivedAt`) <-> the canonical
contact frame (on the shared readers of `sync.columns`).

HubSpot sends every property value as text (scores too) and ids as digit strings. ``modified_at`` is
``lastmodifieddate``, and ``archivedAt`` for an archived (deleted) row; a merged-away contact is a deleted row whose
``merged_into`` names the survivor. The account is the contact's primary company, ``associatedcompanyid``. A record's
snapshot stamp is its ``lastmodifieddate``, which the connector compares with the live one before writing. Writing,
an empty value is sent as ``""``: that is how HubSpot clears a property (null is ignored).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import pandas as pd

from contact_sync.sync.columns import (
    ConversionResult,
    Problems,
    as_frame,
    check_ids,
    check_names,
    crm_columns,
    drop_duplicate_ids,
    finish,
    flag_column,
    input_column,
    resolve_policy,
    stamp_frame,
    text_column,
    timestamp_column,
    write_value,
)
from contact_sync.sync.policy import SyncPolicy

HUBSPOT_ID: Final = r"[0-9]{1,20}"
"""A HubSpot record id: a number, sent as text."""
KIND: Final = "hubspot"


def records_to_canonical(
    records: Sequence[Mapping[str, Any]], policy: SyncPolicy
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(canonical, stamps, rejected) for HubSpot contact rows; stamps are lastmodifieddate (live rows only)."""
    converted = hubspot_to_canonical(list(records), policy)
    live = [r for r in records if not (isinstance(r, Mapping) and r.get("archived") is True)]
    return (
        converted.frame,
        stamp_frame(live, policy.link_field.get(KIND, "hs_object_id"), "lastmodifieddate"),
        converted.rejected,
    )


def hubspot_to_canonical(
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame, policy: SyncPolicy | None = None, validate: bool = True
) -> ConversionResult:
    """HubSpot contact rows -> canonical rows (and the rows rejected, with why)."""
    policy = resolve_policy(policy)
    raw, not_mapping = as_frame(rows)
    n = len(raw)
    strict = bool(n) and not not_mapping.all()
    problems = Problems(n)
    problems.reject(not_mapping, "not a JSON object")
    link = policy.link_field.get(KIND, "hs_object_id")
    fields = {rule.name: rule.crm_fields[KIND] for rule in policy.fields_for(KIND)}

    record_id = text_column(input_column(raw, link, "the CRM id" if strict else None), link, problems, numbers=False)
    missing_id = record_id.isna().to_numpy(dtype=bool) & ~not_mapping
    problems.reject(missing_id, f"{link} is missing")
    check_ids(record_id, link, HUBSPOT_ID, problems)
    is_deleted = flag_column(input_column(raw, "archived"), "archived", problems)
    deleted = is_deleted.to_numpy(dtype=bool)
    modified = timestamp_column(input_column(raw, "lastmodifieddate"), "lastmodifieddate", problems, required=False)
    archived_at = timestamp_column(input_column(raw, "archivedAt"), "archivedAt", problems, required=False)
    modified_at = archived_at.where(pd.Series(deleted) & archived_at.notna(), modified)
    no_stamp = modified_at.isna().to_numpy(dtype=bool)
    problems.reject(no_stamp & ~not_mapping, "lastmodifieddate is missing")
    merged_into = text_column(input_column(raw, "merged_into"), "merged_into", problems, numbers=False)
    check_ids(merged_into, "merged_into", HUBSPOT_ID, problems)
    columns = crm_columns(raw, fields, problems, deleted, policy, strict)
    if "account_id" in fields:
        check_ids(columns["account_id"], fields["account_id"], HUBSPOT_ID, problems)
    drop_duplicate_ids(record_id, modified_at, ~missing_id & ~no_stamp, problems, link)
    columns.update(
        system=pd.array([KIND] * n, dtype="string"),
        record_id=record_id,
        crm_id=record_id,
        created_at=timestamp_column(input_column(raw, "createdate"), "createdate", None, required=False),
        modified_at=modified_at,
        is_deleted=is_deleted,
        merged_into=merged_into,
    )
    return finish(KIND, columns, problems, validate=validate)


def canonical_to_hubspot(values: Mapping[str, Any], policy: SyncPolicy | None = None) -> dict[str, Any]:
    """Canonical field values -> HubSpot contact properties (only the given fields the policy maps); an empty value
    becomes "" (HubSpot's way to clear a property), numbers stay numbers."""
    policy = resolve_policy(policy)
    check_names(values)
    payload: dict[str, Any] = {}
    for rule in policy.fields_for(KIND):
        if rule.name in values:
            value = write_value(rule.name, values[rule.name])
            payload[rule.crm_fields[KIND]] = "" if value is None else value
    return payload
