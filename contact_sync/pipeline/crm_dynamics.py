"""The CRM port on the Dynamics 365 connector: what `CONTACT_SYNC_CRM=dynamics` builds (see `pipeline.crm`).

Records become canonical frames through `sync.convert.dynamics_to_canonical`; the snapshot stamp of a record is its
`@odata.etag`, which `update` hands back to the connector as `If-Match`, so an edit made since the snapshot is never
overwritten. Canonical values become Web API columns through `sync.convert.canonical_to_dynamics` (the account as a
`parentcustomerid_account@odata.bind`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from contact_sync.connectors.dynamics import DynamicsConnector
from contact_sync.connectors.results import ReadResult, WriteReport
from contact_sync.settings import DynamicsSettings
from contact_sync.sync.convert import canonical_to_dynamics, dynamics_to_canonical
from contact_sync.sync.policy import SyncPolicy

STAMP_COLUMNS = ("record_id", "stamp")


class DynamicsAdapter:
    """The CRM port (`pipeline.crm.CrmAdapter`) on `DynamicsConnector`."""

    kind = "dynamics"

    def __init__(self, connector: DynamicsConnector, policy: SyncPolicy) -> None:
        self.connector = connector
        self.policy = policy

    def __repr__(self) -> str:
        return f"DynamicsAdapter({self.connector!r})"

    @property
    def external_source(self) -> str:
        return self.policy.external_source[self.kind]

    def read_changes(self, watermark: str | None) -> ReadResult:
        return self.connector.read_contacts(watermark)

    @property
    def last_read_full(self) -> bool:
        """True when the last `read_changes` read every contact (first read, or the delta token had expired): a
        record the caller knew that is missing from it was deleted meanwhile, which no `$deletedEntity` row reports.
        The CRM mirror must then mark those records deleted, not only upsert what was read."""
        return self.connector.last_read_full

    def to_canonical(self, records: Sequence[Mapping[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(canonical, stamps, rejected): stamps are each live row's `@odata.etag` (deleted rows have none)."""
        converted = dynamics_to_canonical(list(records), self.policy)
        ids = [r.get("contactid") for r in records]
        etags = [r.get("@odata.etag") for r in records]
        stamps = pd.DataFrame({"record_id": ids, "stamp": etags}, columns=list(STAMP_COLUMNS), dtype="string")
        stamps = stamps[stamps["record_id"].notna() & stamps["stamp"].notna()]
        stamps = stamps.drop_duplicates("record_id", keep="last").reset_index(drop=True)
        return converted.frame, stamps, converted.rejected

    def account_names(self, account_ids: Sequence[str]) -> dict[str, str]:
        return self.connector.read_accounts(account_ids) if account_ids else {}

    def create(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> WriteReport:
        return self.connector.create_contacts([(key, canonical_to_dynamics(v, self.policy)) for key, v in items])

    def update(self, changes: Mapping[str, Mapping[str, Any]], stamps: Mapping[str, str]) -> WriteReport:
        columns = {crm_id: canonical_to_dynamics(values, self.policy) for crm_id, values in changes.items()}
        return self.connector.update_contacts({k: v for k, v in columns.items() if v}, stamps)

    def delete(self, ids: Sequence[str]) -> WriteReport:
        return self.connector.delete_contacts(list(ids))

    def api_calls(self) -> dict[str, int]:
        return self.connector.api_calls

    def close(self) -> None:
        self.connector.close()


def build_dynamics_adapter(env: Mapping[str, str], policy: SyncPolicy) -> DynamicsAdapter:
    """The adapter from the environment (`DYNAMICS_*`, checked before any call): `CRM_ADAPTERS["dynamics"]`."""
    return DynamicsAdapter(DynamicsConnector(DynamicsSettings.from_env(env)), policy)
