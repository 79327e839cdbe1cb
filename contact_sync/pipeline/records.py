"""Genesys records <-> canonical frames for the pipeline, on the sync layer's converter (`sync.convert`).

Adds what only the pipeline needs: each record's modify stamp exactly as the service spells it (handed back to the
connector, which compares it with the live record before writing), and Genesys payloads in the two shapes the
connector takes: field paths for updates (custom fields one by one, so unmanaged ones survive) and whole bodies for
creates (with the organization id and the CRM link).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from contact_sync.sync import convert
from contact_sync.sync.columns import stamp_frame
from contact_sync.sync.policy import SyncPolicy


def genesys_to_canonical(
    contacts: Sequence[Mapping[str, Any]],
    policy: SyncPolicy,
    source_name: str,
    organization_accounts: Mapping[str, str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(canonical, stamps, rejected) for Genesys ExternalContacts; stamps are modifyDate."""
    converted = convert.genesys_to_canonical(list(contacts), source_name, organization_accounts, policy)
    return converted.frame, stamp_frame(contacts, "id", "modifyDate"), converted.rejected


def _account_path(policy: SyncPolicy) -> str | None:
    try:
        return policy.field("account_id").genesys_path
    except KeyError:
        return None


def canonical_to_genesys(
    values: Mapping[str, Any], policy: SyncPolicy, organizations: Mapping[str, str]
) -> dict[str, Any]:
    """Field paths for `GenesysConnector.update_contacts` from canonical values; `organizations` maps CRM account
    ids to Genesys organization ids (an account without one clears the organization)."""
    body = convert.canonical_to_genesys({k: v for k, v in values.items() if k != "account_id"}, policy)
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if isinstance(value, dict) and key not in ("workPhone", "cellPhone", "homePhone", "otherPhone"):
            for inner, inner_value in value.items():
                changes[f"{key}.{inner}"] = inner_value
        else:
            changes[key] = value
    if "account_id" in values:
        path = _account_path(policy) or "externalOrganization"
        account = values["account_id"]
        changes[path] = {"id": organizations[account]} if account in organizations else None
    return changes


def genesys_create_body(
    values: Mapping[str, Any],
    policy: SyncPolicy,
    organizations: Mapping[str, str],
    source: Mapping[str, str],
    crm_id: str,
) -> dict[str, Any]:
    """A whole new ExternalContact carrying its CRM id in `externalIds` (empty values left out)."""
    body = convert.canonical_to_genesys({k: v for k, v in values.items() if k != "account_id"}, policy, source, crm_id)
    body = {k: v for k, v in body.items() if v is not None}
    for key, value in list(body.items()):
        if isinstance(value, dict) and key != "externalIds":
            kept = {k: v for k, v in value.items() if v is not None}
            if kept:
                body[key] = kept
            else:
                del body[key]
    account = values.get("account_id")
    if account is not None and account in organizations:
        body[_account_path(policy) or "externalOrganization"] = {"id": organizations[account]}
    return body
