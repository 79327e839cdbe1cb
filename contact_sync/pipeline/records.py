"""Raw API records <-> canonical frames for the pipeline, on the sync layer's converters (`sync.convert`).

Adds what only the pipeline needs: each record's modify stamp exactly as the service spells it (handed back to the
connectors, which compare it with the live record before writing), and Genesys payloads in the two shapes the
connector takes: field paths for updates (custom fields one by one, so unmanaged ones survive) and whole bodies for
creates (with the organization id and the CRM link).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import pandas as pd

from contact_sync.sync import convert
from contact_sync.sync.policy import SyncPolicy

STAMP_COLUMNS: Final = ("record_id", "stamp")
"""A snapshot's modify stamps as the service spells them (Salesforce SystemModstamp, Genesys modifyDate)."""


def stamp_frame(records: Sequence[Mapping[str, Any]], id_key: str, stamp_key: str) -> pd.DataFrame:
    """record_id, stamp of each record that has both as text (the last copy of an id wins); a record whose id or
    stamp is anything else is one the converters reject, so it has no stamp to hand back."""
    pairs = [(r.get(id_key), r.get(stamp_key)) for r in records if isinstance(r, Mapping)]
    frame = pd.DataFrame(
        [(i, s) for i, s in pairs if isinstance(i, str) and isinstance(s, str) and i and s],
        columns=list(STAMP_COLUMNS),
        dtype="string",
    )
    return frame.drop_duplicates("record_id", keep="last").reset_index(drop=True)


def crm_to_canonical(
    records: Sequence[Mapping[str, Any]], policy: SyncPolicy
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(canonical, stamps, rejected) for Salesforce Contact rows; stamps are SystemModstamp."""
    converted = convert.salesforce_to_canonical(list(records), policy)
    return (
        converted.frame,
        stamp_frame(records, policy.link_field.get("salesforce", "Id"), "SystemModstamp"),
        converted.rejected,
    )


def dynamics_records_to_canonical(
    records: Sequence[Mapping[str, Any]], policy: SyncPolicy
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(canonical, stamps, rejected) for Dynamics contact rows; stamps are each live row's `@odata.etag` (deleted rows
    have none)."""
    converted = convert.dynamics_to_canonical(list(records), policy)
    return (
        converted.frame,
        stamp_frame(records, policy.link_field.get("dynamics", "contactid"), "@odata.etag"),
        converted.rejected,
    )


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
