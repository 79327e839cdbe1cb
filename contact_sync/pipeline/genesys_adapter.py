"""Genesys behind one adapter: its contacts as canonical frames (with each record's modify stamp exactly as the
service spells it, handed back to the connector, which compares it with the live record before writing), CRM accounts
as Genesys external organizations (read, and missing ones created under the CRM's external source), and every write
shape: field-path updates, whole create bodies, the `externalIds` link. The snapshot, the run's writes and rollback
all go through it, so a payload is shaped one way whoever sends it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from contact_sync.connectors.genesys import GenesysConnector
from contact_sync.crms.port import CrmAdapter
from contact_sync.sync import convert
from contact_sync.sync.columns import stamp_frame
from contact_sync.sync.policy import SyncPolicy

_PHONES = ("workPhone", "cellPhone", "homePhone", "otherPhone")
ORGANIZATION_COLUMNS = ("organization_id", "account_id")


def genesys_to_canonical(
    contacts: Sequence[Mapping[str, Any]],
    policy: SyncPolicy,
    source_name: str,
    organization_accounts: Mapping[str, str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(canonical, stamps, rejected) for Genesys ExternalContacts; stamps are modifyDate."""
    converted = convert.genesys_to_canonical(list(contacts), source_name, organization_accounts, policy)
    return converted.frame, stamp_frame(contacts, "id", "modifyDate"), converted.rejected


def organization_table(organizations: list[Any], source_name: str) -> pd.DataFrame:
    """organization_id, account_id of every organization with a readable id; account_id is the CRM account it is
    linked to under `source_name`, NA when it is linked to none (or its links cannot be read)."""
    wanted = source_name.lower()
    rows: list[tuple[str, str | None]] = []
    for org in organizations:
        org_id = org.get("id") if isinstance(org, dict) else None
        if not isinstance(org_id, str) or not org_id:
            continue
        links = org.get("externalIds")
        account: str | None = None
        for link in links if isinstance(links, list) else []:
            source = link.get("externalSource") if isinstance(link, dict) else None
            name = source.get("name") if isinstance(source, dict) else None
            value = link.get("value") if isinstance(link, dict) else None
            if isinstance(name, str) and name.lower() == wanted and isinstance(value, str) and value:
                account = value
                break
        rows.append((org_id, account))
    if not rows:
        return pd.DataFrame({name: pd.Series([], dtype="string") for name in ORGANIZATION_COLUMNS})
    return pd.DataFrame(rows, columns=list(ORGANIZATION_COLUMNS)).astype("string")


def linked_organizations(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of an `organization_table` linked to a CRM account."""
    return table[table["account_id"].notna()].reset_index(drop=True)


def organization_accounts(organizations: list[Any], source_name: str) -> pd.DataFrame:
    """organization_id, account_id for the organizations linked to a CRM account under `source_name`.

    An organization whose id, external ids or source cannot be read is left out: its contacts then read with no
    account and a warning (see `sync.convert`), and every other organization still maps."""
    return linked_organizations(organization_table(organizations, source_name))


@dataclass
class GenesysAdapter:
    """Genesys write shapes for one run's policy and CRM; the external source is looked up (or made) once."""

    genesys: GenesysConnector
    crm: CrmAdapter
    policy: SyncPolicy
    _source: Mapping[str, str] | None = field(default=None, init=False, repr=False)

    @property
    def source(self) -> Mapping[str, str]:
        """The CRM's external source in Genesys ({"id": ...}), created on first use."""
        if self._source is None:
            self._source = self.genesys.ensure_external_source(self.crm.external_source)
        return self._source

    def organizations(self, account_ids: Iterable[str], known: pd.DataFrame | None = None) -> dict[str, str]:
        """CRM account id -> Genesys organization id for these accounts, creating the missing organizations (named
        after the CRM's account). `known` is a snapshot's organization table (account_id, organization_id); without
        one, Genesys's organizations are scanned."""
        wanted = sorted({str(a) for a in account_ids if a is not None and not pd.isna(a)})
        if not wanted:
            return {}
        if known is None:
            known = organization_accounts(self.genesys.scan_organizations(), self.crm.external_source)
        found = dict(zip(known["account_id"], known["organization_id"], strict=True))
        missing = [a for a in wanted if a not in found]
        if missing:
            names = self.crm.account_names(missing)
            found.update(self.genesys.ensure_organizations({a: names.get(a, a) for a in missing}, self.source))
        return {a: found[a] for a in wanted if a in found}

    def update_paths(self, values: Mapping[str, Any], organizations: Mapping[str, str]) -> dict[str, Any]:
        """Field paths for `GenesysConnector.update_contacts` from canonical values (custom fields one by one, so
        unmanaged ones survive); an account without an organization clears the contact's organization."""
        body = convert.canonical_to_genesys({k: v for k, v in values.items() if k != "account_id"}, self.policy)
        changes: dict[str, Any] = {}
        for key, value in body.items():
            if isinstance(value, dict) and key not in _PHONES:
                for inner, inner_value in value.items():
                    changes[f"{key}.{inner}"] = inner_value
            else:
                changes[key] = value
        if "account_id" in values:
            account = values["account_id"]
            changes[self._account_path] = {"id": organizations[account]} if account in organizations else None
        return changes

    def link_paths(self, crm_id: str) -> dict[str, Any]:
        """The update that makes a contact carry its CRM id in `externalIds`."""
        return {"externalIds": {"externalSource": {"id": self.source["id"]}, "value": crm_id}}

    def create_body(self, values: Mapping[str, Any], organizations: Mapping[str, str], crm_id: str) -> dict[str, Any]:
        """A whole new ExternalContact carrying its CRM id in `externalIds` (empty values left out)."""
        body = convert.canonical_to_genesys(
            {k: v for k, v in values.items() if k != "account_id"}, self.policy, self.source, crm_id
        )
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
            body[self._account_path] = {"id": organizations[account]}
        return body

    @property
    def _account_path(self) -> str:
        try:
            return self.policy.field("account_id").genesys_path or "externalOrganization"
        except KeyError:
            return "externalOrganization"
