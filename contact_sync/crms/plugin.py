"""`CrmPlugin`: everything the product needs to know about one CRM, in one object each plug-in package exports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from contact_sync.crms.port import ConnectorAdapter, CrmAdapter, CrmConnector, ToApi, ToCanonical
from contact_sync.settings import Secret
from contact_sync.sync.policy import SyncPolicy


class CrmSettings(Protocol):
    """A CRM's settings: read from the environment (a one-line `SettingsError` naming a bad variable) with the
    secrets to redact from errors."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Any: ...

    @property
    def secrets(self) -> list[Secret | None]: ...


class CrmSeat(Protocol):
    """A user's seat at a CRM simulator, in the CRM's own field names: what the demo and the scenario tests do to a
    CRM (seed it, edit and delete records as a person in its app would, read a record back), the same way for every
    CRM. `load_accounts` / `load_contacts` take generated people (`simulators.seed.Dataset`, whose rows are
    Salesforce-shaped), so every CRM can be seeded with the same people, duplicates and companies."""

    stamp_resolution_s: float
    """The resolution of the record version a client sees: two edits whose order matters are this far apart."""

    def load_accounts(self, rows: list[dict[str, Any]]) -> list[str]: ...

    def load_contacts(self, rows: list[dict[str, Any]]) -> list[str]: ...

    def load_records(self, rows: list[dict[str, Any]]) -> list[str]:
        """Insert contacts given in the CRM's own field names; their ids in order."""
        ...

    def edit(self, crm_id: str, values: Mapping[str, Any]) -> None:
        """A user's edit in the CRM's app (its own field names; None clears a field)."""
        ...

    def delete(self, crm_id: str) -> None:
        """A user's delete in the CRM's app."""
        ...

    def record(self, crm_id: str) -> dict[str, Any] | None:
        """The contact as the CRM's API shows it, flat (field name -> value), or None when there is none."""
        ...

    def stamp(self, crm_id: str) -> str:
        """The record's version as the CRM keeps it (changes on every write)."""
        ...

    def count(self) -> int:
        """How many live contacts there are."""
        ...


@dataclass(frozen=True)
class CrmPlugin:
    """One CRM: names, settings, converters, connector and simulator."""

    kind: str
    """The CRM kind: CONTACT_SYNC_CRM's value and the policy's, ledger's and report's name for it."""
    label: str
    """How people call it: "Salesforce", "Dynamics 365"."""
    asset_kind: str
    """The Dagster kind tag of the assets that read or write it (the UI shows its icon)."""
    settings: type[CrmSettings]
    credential_variables: tuple[str, ...]
    """Variables whose presence means the user configured this CRM (otherwise the simulators are used)."""
    link_field: str
    """The CRM id field (the shipped policy's `link_field`)."""
    external_source: str
    """The Genesys external source name that holds its ids (the shipped policy's `external_source`)."""
    to_canonical: ToCanonical
    """The CRM's raw records -> (canonical, stamps, rejected) frames."""
    to_api: ToApi
    """Canonical values of one record -> the CRM's write shape."""
    connector: Callable[[Any], CrmConnector]
    """Settings -> a connector."""
    simulator: str
    """Its simulator's name in `simulators.run_simulators` (`sims.<name>`)."""
    seat: Callable[[Any], CrmSeat]
    """Simulator -> a seat that seeds it with generated people."""

    def build_adapter(self, env: Mapping[str, str], policy: SyncPolicy) -> CrmAdapter:
        """The CRM port from the environment (settings checked before any call)."""
        connector = self.connector(self.settings.from_env(env))
        return ConnectorAdapter(self.kind, connector, policy, self.to_canonical, self.to_api)

    def check_settings(self, env: Mapping[str, str]) -> None:
        """Raise `SettingsError` when this CRM's settings in `env` are missing or malformed."""
        self.settings.from_env(env)


class SimulatorSeat:
    """The seat of a simulator with the common helpers (`load_contacts`, `edit_contact(id, **fields)`,
    `delete_contact`, `contact`); a CRM whose generated rows need renaming overrides `load_contacts` (and
    `load_accounts`)."""

    stamp_field = "SystemModstamp"
    stamp_resolution_s = 0.05

    def __init__(self, simulator: Any) -> None:
        self.simulator = simulator

    def load_accounts(self, rows: list[dict[str, Any]]) -> list[str]:
        return list(self.simulator.load_accounts(rows))

    def load_contacts(self, rows: list[dict[str, Any]]) -> list[str]:
        return self.load_records(rows)

    def load_records(self, rows: list[dict[str, Any]]) -> list[str]:
        return list(self.simulator.load_contacts(rows))

    def edit(self, crm_id: str, values: Mapping[str, Any]) -> None:
        self.simulator.edit_contact(crm_id, **values)

    def delete(self, crm_id: str) -> None:
        self.simulator.delete_contact(crm_id)

    def record(self, crm_id: str) -> dict[str, Any] | None:
        found = self.simulator.contact(crm_id)
        return None if found is None else dict(found)

    def stamp(self, crm_id: str) -> str:
        found = self.record(crm_id)
        assert found is not None, crm_id
        return str(found[self.stamp_field])

    def count(self) -> int:
        return int(self.simulator.count())
