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
    source = read_crm_rows(rows, policy, KIND, "hs_object_id")
    raw, problems = source.raw, source.problems
    record_id, missing_id = source.record_ids(pattern=HUBSPOT_ID)
    is_deleted = flag_column(input_column(raw, "archived"), "archived", problems)
    deleted = is_deleted.to_numpy(dtype=bool)
    modified = timestamp_column(input_column(raw, "lastmodifieddate"), "lastmodifieddate", problems, required=False)
    archived_at = timestamp_column(input_column(raw, "archivedAt"), "archivedAt", problems, required=False)
    modified_at = archived_at.where(pd.Series(deleted) & archived_at.notna(), modified)
    no_stamp = modified_at.isna().to_numpy(dtype=bool)
    problems.reject(no_stamp & ~source.not_mapping, "lastmodifieddate is missing")
    merged_into = text_column(input_column(raw, "merged_into"), "merged_into", problems, numbers=False)
    check_ids(merged_into, "merged_into", HUBSPOT_ID, problems)
    return finish_crm_rows(
        source,
        crm_columns(raw, source.fields, problems, deleted, policy, source.strict),
        record_id=record_id,
        usable=~missing_id & ~no_stamp,
        modified_at=modified_at,
        created_at=timestamp_column(input_column(raw, "createdate"), "createdate", None, required=False),
        is_deleted=is_deleted,
        merged_into=merged_into,
        account_pattern=HUBSPOT_ID,
        validate=validate,
    )


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
