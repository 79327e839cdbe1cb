"""The CRM port: one small interface the pipeline talks to, whatever the CRM is, and the registry that builds it.

`build_crm_adapter(kind, env, policy)` picks the adapter by `CONTACT_SYNC_CRM`. Adding a CRM is one entry in
`CRM_ADAPTERS` (a function from environment and policy to an adapter); Dynamics 365 arrives through this door.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import pandas as pd

from contact_sync.connectors.results import ReadResult, WriteReport
from contact_sync.connectors.salesforce import SalesforceConnector
from contact_sync.pipeline.records import crm_to_canonical
from contact_sync.settings import SalesforceSettings, SettingsError
from contact_sync.sync.convert import canonical_to_salesforce
from contact_sync.sync.policy import SyncPolicy


class CrmAdapter(Protocol):
    """What the pipeline needs from a CRM. Values in and out are canonical (see `sync.schema.CanonicalContact`)."""

    kind: str
    """The CRM type as the policy and the ledger name it: "salesforce", "dynamics"."""

    @property
    def external_source(self) -> str:
        """The Genesys external source name that holds this CRM's ids (from the policy)."""

    def read_changes(self, watermark: str | None) -> ReadResult:
        """Records changed since the watermark (all when None), deletes included, and the next watermark."""

    @property
    def last_read_full(self) -> bool:
        """True when the last `read_changes` re-read every record although a watermark was given (its change
        tracking had expired): records missing from that read were deleted in the meantime."""

    def to_canonical(self, records: Sequence[Mapping[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(canonical, stamps, rejected) for records `read_changes` returned."""

    def account_names(self, account_ids: Sequence[str]) -> dict[str, str]:
        """Account names by id (for the Genesys organizations created for them)."""

    def create(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> WriteReport:
        """Create records from (caller key, canonical values)."""

    def update(self, changes: Mapping[str, Mapping[str, Any]], stamps: Mapping[str, str]) -> WriteReport:
        """Update records (id -> canonical values), skipping those changed since their snapshot stamp."""

    def delete(self, ids: Sequence[str]) -> WriteReport:
        """Delete records."""

    def api_calls(self) -> dict[str, int]:
        """Calls made so far, per endpoint."""

    def close(self) -> None: ...


class ConnectorAdapter:
    """What every CRM port does the same way on its connector: reads, account names, writes converted by `to_api`,
    deletes, call counts. A CRM's adapter adds its `kind`, `to_canonical` and `to_api`."""

    kind: str = ""
    last_read_full: bool = False

    def __init__(self, connector: Any, policy: SyncPolicy) -> None:
        self.connector = connector
        self.policy = policy

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.connector!r})"

    @property
    def external_source(self) -> str:
        return self.policy.external_source[self.kind]

    def read_changes(self, watermark: str | None) -> ReadResult:
        return self.connector.read_contacts(watermark)

    def to_api(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Canonical field values in this CRM's write shape."""
        raise NotImplementedError

    def account_names(self, account_ids: Sequence[str]) -> dict[str, str]:
        return self.connector.read_accounts(account_ids) if account_ids else {}

    def create(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> WriteReport:
        return self.connector.create_contacts([(key, self.to_api(values)) for key, values in items])

    def update(self, changes: Mapping[str, Mapping[str, Any]], stamps: Mapping[str, str]) -> WriteReport:
        api = {crm_id: self.to_api(values) for crm_id, values in changes.items()}
        return self.connector.update_contacts({k: v for k, v in api.items() if v}, stamps)

    def delete(self, ids: Sequence[str]) -> WriteReport:
        return self.connector.delete_contacts(list(ids))

    def api_calls(self) -> dict[str, int]:
        return self.connector.api_calls

    def close(self) -> None:
        self.connector.close()


class SalesforceAdapter(ConnectorAdapter):
    """The CRM port on `SalesforceConnector`."""

    kind = "salesforce"
    last_read_full = False  # queryAll returns deleted rows itself, for as long as the recycle bin keeps them

    def to_canonical(self, records: Sequence[Mapping[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        return crm_to_canonical(records, self.policy)

    def to_api(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return canonical_to_salesforce(values, self.policy)


def _salesforce(env: Mapping[str, str], policy: SyncPolicy) -> CrmAdapter:
    return SalesforceAdapter(SalesforceConnector(SalesforceSettings.from_env(env)), policy)


def _dynamics(env: Mapping[str, str], policy: SyncPolicy) -> CrmAdapter:
    from contact_sync.pipeline.crm_dynamics import build_dynamics_adapter

    return build_dynamics_adapter(env, policy)


CRM_ADAPTERS: dict[str, Callable[[Mapping[str, str], SyncPolicy], CrmAdapter]] = {
    "salesforce": _salesforce,
    "dynamics": _dynamics,
}
"""CRM type -> builder from the environment and the policy."""

CRM_CREDENTIAL_VARIABLES: dict[str, tuple[str, ...]] = {
    "salesforce": ("SALESFORCE_INSTANCE_URL",),
    "dynamics": ("DYNAMICS_URL", "DYNAMICS_TENANT_ID"),
}
"""Variables whose presence means the user configured that CRM (otherwise the simulators are used)."""


def build_crm_adapter(kind: str, env: Mapping[str, str], policy: SyncPolicy) -> CrmAdapter:
    """The adapter for CRM type `kind`; an unknown type is refused with the known ones named."""
    builder = CRM_ADAPTERS.get(kind)
    if builder is None:
        raise SettingsError(f"CONTACT_SYNC_CRM must be one of {', '.join(CRM_ADAPTERS)}, got {kind!r}")
    return builder(env, policy)
