"""Raw API records <-> canonical frames, driven by the policy's field mapping.

Stand-in for the sync layer's converters (issue 3 item 1), which had not landed when the pipeline was written: a CRM
row or Genesys ExternalContact becomes one `CanonicalContact` row; canonical values become each API's write shape.
Column-wise (one DataFrame per read), never a loop over pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from contact_sync.sync.normalize import normalize_phone, normalize_tags, tags_text
from contact_sync.sync.policy import SyncPolicy
from contact_sync.sync.schema import CANONICAL_COLUMNS, empty_canonical, empty_rejected

STAMP_COLUMNS = ("record_id", "stamp")
"""A snapshot's modify stamps as the service spells them (Salesforce SystemModstamp, Genesys modifyDate): writers
hand them back to the connectors, which compare them with the live record before writing."""

PHONE_PATHS = frozenset({"workPhone", "cellPhone", "homePhone", "otherPhone"})


def _text(values: pd.Series) -> pd.Series:
    out = values.astype(object).where(values.notna(), None)
    out = out.map(lambda v: v.strip() if isinstance(v, str) else (None if v is None else str(v)))
    return out.where(out.astype(bool), None).astype("string")


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601").astype("datetime64[ns, UTC]")


def _finish(frame: pd.DataFrame, region: str) -> pd.DataFrame:
    frame["phone_e164"] = frame["phone_e164"].fillna(normalize_phone(frame["phone"], region)).astype("string")
    frame["tags"] = normalize_tags(frame["tags"].astype(object)).astype("string")
    frame["lead_score"] = pd.to_numeric(frame["lead_score"], errors="coerce").astype("float64")
    frame["is_deleted"] = frame["is_deleted"].fillna(False).astype(bool)
    return frame[list(CANONICAL_COLUMNS)].reset_index(drop=True)


def _column(raw: pd.DataFrame, name: str | None) -> pd.Series:
    if name is None or name not in raw.columns:
        return pd.Series([None] * len(raw), index=raw.index, dtype=object)
    return raw[name]


def crm_to_canonical(
    records: Sequence[Mapping[str, Any]], policy: SyncPolicy, crm_type: str = "salesforce"
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(canonical, stamps, rejected) for Salesforce Contact rows (REST shape without `attributes`)."""
    if not records:
        return empty_canonical(), pd.DataFrame(columns=list(STAMP_COLUMNS), dtype="string"), empty_rejected()
    raw = pd.DataFrame.from_records(list(records))
    ids = _text(_column(raw, policy.link_field.get(crm_type, "Id")))
    bad = ids.isna()
    rejected = empty_rejected()
    if bad.any():
        rejected = pd.DataFrame(
            {"system": crm_type, "record_id": None, "reason": "record has no Id", "crm_id": None}, index=raw.index[bad]
        ).astype("string")
        raw, ids = raw[~bad], ids[~bad]
    out = pd.DataFrame({"system": pd.Series(crm_type, index=raw.index, dtype="string"), "record_id": ids})
    out["crm_id"] = ids
    for rule in policy.fields:
        out[rule.name] = _column(raw, rule.crm_field(crm_type))
    for name in ("first_name", "last_name", "email", "phone", "account_id", "tags", "lead_score"):
        if name not in out.columns:
            out[name] = None
    for name in ("first_name", "last_name", "email", "phone", "account_id"):
        out[name] = _text(out[name])
    out["phone_e164"] = pd.Series(pd.NA, index=raw.index, dtype="string")
    out["created_at"] = _utc(_column(raw, "CreatedDate"))
    stamp = _column(raw, "SystemModstamp")
    out["modified_at"] = _utc(_column(raw, "LastModifiedDate").fillna(stamp))
    out["modified_at"] = out["modified_at"].fillna(_utc(stamp))
    out["is_deleted"] = _column(raw, "IsDeleted").map(lambda v: v is True or str(v).lower() == "true")
    out["merged_into"] = _text(_column(raw, "MasterRecordId"))
    out["is_deleted"] = out["is_deleted"] | out["merged_into"].notna().to_numpy()
    stamps = pd.DataFrame({"record_id": ids, "stamp": _text(stamp)})
    return _finish(out, policy.default_region), stamps.reset_index(drop=True), rejected.reset_index(drop=True)


def _path(contacts: list[dict[str, Any]], path: str) -> list[Any]:
    parts = path.split(".")
    values = []
    for contact in contacts:
        node: Any = contact
        for part in parts:
            node = node.get(part) if isinstance(node, dict) else None
        values.append(node)
    return values


def genesys_to_canonical(
    contacts: Sequence[Mapping[str, Any]],
    policy: SyncPolicy,
    source_name: str,
    organization_accounts: Mapping[str, str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(canonical, stamps, rejected) for Genesys ExternalContacts. `source_name` is the external source holding the
    CRM id; `organization_accounts` maps Genesys organization ids to CRM account ids."""
    if not contacts:
        return empty_canonical(), pd.DataFrame(columns=list(STAMP_COLUMNS), dtype="string"), empty_rejected()
    items = [dict(c) for c in contacts]
    wanted = source_name.lower()
    crm_ids = []
    for contact in items:
        value = None
        for link in contact.get("externalIds") or []:
            source = link.get("externalSource") or {} if isinstance(link, dict) else {}
            if str(source.get("name", "")).lower() == wanted and link.get("value"):
                value = str(link["value"])
                break
        crm_ids.append(value)
    out = pd.DataFrame({"system": "genesys", "record_id": [c.get("id") for c in items], "crm_id": crm_ids})
    phone_e164: pd.Series = pd.Series(pd.NA, index=out.index, dtype="string")
    for rule in policy.fields:
        values = _path(items, rule.genesys_path)
        if rule.genesys_path in PHONE_PATHS:
            out[rule.name] = [v.get("display") if isinstance(v, dict) else v for v in values]
            if rule.name == "phone":
                phone_e164 = pd.Series([v.get("e164") if isinstance(v, dict) else None for v in values], dtype="string")
        elif rule.genesys_path == "externalOrganization":
            org_ids = [v.get("id") if isinstance(v, dict) else None for v in values]
            out[rule.name] = [organization_accounts.get(o) if o else None for o in org_ids]
        else:
            out[rule.name] = values
    for name in ("first_name", "last_name", "email", "phone", "account_id", "tags", "lead_score"):
        if name not in out.columns:
            out[name] = None
    for name in ("system", "record_id", "crm_id", "first_name", "last_name", "email", "phone", "account_id"):
        out[name] = _text(out[name])
    out["phone_e164"] = phone_e164.where(phone_e164.str.startswith("+", na=False), pd.NA)
    out["created_at"] = _utc(pd.Series([c.get("createDate") for c in items], dtype=object))
    modify = pd.Series([c.get("modifyDate") for c in items], dtype=object)
    out["modified_at"] = _utc(modify)
    out["is_deleted"] = False
    out["merged_into"] = pd.Series(pd.NA, index=out.index, dtype="string")
    bad = out["record_id"].isna() | out["modified_at"].isna()
    rejected = empty_rejected()
    if bad.any():
        rejected = pd.DataFrame(
            {
                "system": "genesys",
                "record_id": out.loc[bad, "record_id"],
                "reason": "contact has no id or no readable modifyDate",
                "crm_id": out.loc[bad, "crm_id"],
            }
        ).astype("string")
        out, modify = out[~bad], modify[~bad]
    stamps = pd.DataFrame({"record_id": out["record_id"], "stamp": modify.astype("string")})
    return _finish(out, policy.default_region), stamps.reset_index(drop=True), rejected.reset_index(drop=True)


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def canonical_to_crm(values: Mapping[str, Any], policy: SyncPolicy, crm_type: str = "salesforce") -> dict[str, Any]:
    """CRM API fields for canonical field values (fields the CRM type does not map are left out)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        rule = policy.field(name)
        api = rule.crm_field(crm_type)
        if api is None:
            continue
        value = _plain(value)
        out[api] = tags_text(value) if name == "tags" and value is not None else value
    return out


def canonical_to_genesys(
    values: Mapping[str, Any], policy: SyncPolicy, organizations: Mapping[str, str]
) -> dict[str, Any]:
    """Genesys field paths (as `GenesysConnector.update_contacts` takes them) for canonical field values;
    `organizations` maps CRM account ids to Genesys organization ids."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        rule = policy.field(name)
        value = _plain(value)
        if rule.genesys_path == "externalOrganization":
            out[rule.genesys_path] = {"id": organizations[value]} if value in organizations else None
        elif name == "tags":
            out[rule.genesys_path] = tags_text(value) if value is not None else None
        else:
            out[rule.genesys_path] = value
    return out


def genesys_create_body(changes: Mapping[str, Any]) -> dict[str, Any]:
    """A whole new ExternalContact from field paths (phones as `{display}`, dotted paths nested, None left out)."""
    body: dict[str, Any] = {}
    for path, value in changes.items():
        if value is None:
            continue
        if path in PHONE_PATHS:
            value = {"display": value} if isinstance(value, str) else value
        node = body
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return body
