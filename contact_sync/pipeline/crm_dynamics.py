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
from contact_sync.pipeline.crm import ConnectorAdapter
from contact_sync.pipeline.records import dynamics_records_to_canonical
from contact_sync.settings import DynamicsSettings
from contact_sync.sync.convert import canonical_to_dynamics
from contact_sync.sync.policy import SyncPolicy


class DynamicsAdapter(ConnectorAdapter):
    """The CRM port (`pipeline.crm.CrmAdapter`) on `DynamicsConnector`."""

    kind = "dynamics"

    @property
    def last_read_full(self) -> bool:  # type: ignore[override]
        """True when the last `read_changes` read every contact (first read, or the delta token had expired): a
        record the caller knew that is missing from it was deleted meanwhile, which no `$deletedEntity` row reports.
        The CRM mirror must then mark those records deleted, not only upsert what was read."""
        return self.connector.last_read_full

    def to_canonical(self, records: Sequence[Mapping[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(canonical, stamps, rejected): stamps are each live row's `@odata.etag` (deleted rows have none)."""
        return dynamics_records_to_canonical(records, self.policy)

    def to_api(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return canonical_to_dynamics(values, self.policy)


def build_dynamics_adapter(env: Mapping[str, str], policy: SyncPolicy) -> DynamicsAdapter:
    """The adapter from the environment (`DYNAMICS_*`, checked before any call): `CRM_ADAPTERS["dynamics"]`."""
    return DynamicsAdapter(DynamicsConnector(DynamicsSettings.from_env(env)), policy)
