"""The CRM port: what the pipeline needs from any CRM (`CrmAdapter`), what a CRM's connector must offer
(`CrmConnector`), and `ConnectorAdapter`, which turns the one into the other given the plug-in's converters.

Values in and out of an adapter are canonical (see `sync.schema.CanonicalContact`); a connector speaks the CRM's own
record shape. The pipeline only ever sees `CrmAdapter`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from contact_sync.connectors.results import ReadResult, WriteReport
from contact_sync.sync.policy import SyncPolicy

CanonicalFrames = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
"""(canonical, stamps, rejected) for a batch of CRM records: see `sync.columns.stamp_frame` for stamps."""


@runtime_checkable
class CrmConnector(Protocol):
    """A CRM's API client, in the CRM's own record shape. Every write takes a batch and answers one outcome per
    record (`WriteReport`); nothing raises for one bad record."""

    def read_contacts(self, watermark: str | None) -> ReadResult:
        """Contacts changed since the watermark (all when None), deletes included, and the next watermark."""
        ...

    def has_changes(self, watermark: str | None) -> bool:
        """Whether any contact changed after the watermark a completed read returned, in one or two cheap calls
        (True when there is no watermark). A probe: it reads no records and moves no watermark."""
        ...

    def read_accounts(self, ids: Sequence[str]) -> dict[str, str]:
        """Account (company) names by id."""
        ...

    def create_contacts(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> WriteReport:
        """Create contacts from (caller key, record fields); outcomes carry the caller key and the new id."""
        ...

    def update_contacts(self, changes: Mapping[str, Mapping[str, Any]], stamps: Mapping[str, str]) -> WriteReport:
        """Update contacts by id, skipping (`changed_since_read`) those whose live stamp differs from `stamps`."""
        ...

    def delete_contacts(self, ids: Sequence[str]) -> WriteReport:
        """Delete contacts by id."""
        ...

    @property
    def api_calls(self) -> dict[str, int]:
        """Calls made so far, per endpoint."""
        ...

    @property
    def last_read_full(self) -> bool:
        """True when the last `read_contacts` re-read every record although a watermark was given."""
        ...

    @property
    def write_batch_size(self) -> int | None:
        """How many records a create or update call should be handed at once when the connector has a bulk path
        that pays off only from that size (None: the pipeline's own batch size is right)."""
        ...

    def close(self) -> None: ...


class CrmAdapter(Protocol):
    """What the pipeline needs from a CRM, in canonical values."""

    kind: str
    """The CRM type as the policy and the ledger name it: "salesforce", "dynamics", ..."""

    @property
    def external_source(self) -> str:
        """The Genesys external source name that holds this CRM's ids (from the policy)."""
        ...

    def read_changes(self, watermark: str | None) -> ReadResult:
        """Records changed since the watermark (all when None), deletes included, and the next watermark."""
        ...

    def has_changes(self, watermark: str | None) -> bool:
        """Whether anything changed after the watermark `read_changes` returned (see `CrmConnector.has_changes`)."""
        ...

    @property
    def last_read_full(self) -> bool:
        """True when the last `read_changes` re-read every record although a watermark was given (its change
        tracking had expired): records missing from that read were deleted in the meantime."""
        ...

    @property
    def write_batch_size(self) -> int | None:
        """Records per create or update call the CRM prefers (see `CrmConnector.write_batch_size`)."""
        ...

    def to_canonical(self, records: Sequence[Mapping[str, Any]]) -> CanonicalFrames:
        """(canonical, stamps, rejected) for records `read_changes` returned."""
        ...

    def account_names(self, account_ids: Sequence[str]) -> dict[str, str]:
        """Account names by id (for the Genesys organizations created for them)."""
        ...

    def create(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> WriteReport:
        """Create records from (caller key, canonical values)."""
        ...

    def update(self, changes: Mapping[str, Mapping[str, Any]], stamps: Mapping[str, str]) -> WriteReport:
        """Update records (id -> canonical values), skipping those changed since their snapshot stamp."""
        ...

    def delete(self, ids: Sequence[str]) -> WriteReport:
        """Delete records."""
        ...

    def api_calls(self) -> dict[str, int]:
        """Calls made so far, per endpoint."""
        ...

    def close(self) -> None: ...


ToCanonical = Callable[[Sequence[Mapping[str, Any]], SyncPolicy], CanonicalFrames]
ToApi = Callable[[Mapping[str, Any], SyncPolicy], dict[str, Any]]


class ConnectorAdapter:
    """`CrmAdapter` on a `CrmConnector` and a plug-in's two converters: reads, account names, writes converted by
    `to_api`, deletes and call counts all pass straight through."""

    def __init__(
        self, kind: str, connector: CrmConnector, policy: SyncPolicy, to_canonical: ToCanonical, to_api: ToApi
    ) -> None:
        self.kind = kind
        self.connector = connector
        self.policy = policy
        self._to_canonical = to_canonical
        self._to_api = to_api

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kind!r}, {self.connector!r})"

    @property
    def external_source(self) -> str:
        return self.policy.external_source[self.kind]

    @property
    def last_read_full(self) -> bool:
        return self.connector.last_read_full

    @property
    def write_batch_size(self) -> int | None:
        return self.connector.write_batch_size

    def read_changes(self, watermark: str | None) -> ReadResult:
        return self.connector.read_contacts(watermark)

    def has_changes(self, watermark: str | None) -> bool:
        return self.connector.has_changes(watermark)

    def to_canonical(self, records: Sequence[Mapping[str, Any]]) -> CanonicalFrames:
        return self._to_canonical(records, self.policy)

    def to_api(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Canonical field values in this CRM's write shape."""
        return self._to_api(values, self.policy)

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
