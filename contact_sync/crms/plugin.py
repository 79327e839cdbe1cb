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
    """Loads generated people (`simulators.seed.Dataset`, whose rows are Salesforce-shaped) into a CRM simulator, so
    every CRM can be seeded with the same people, duplicates and companies."""

    def load_accounts(self, rows: list[dict[str, Any]]) -> list[str]: ...

    def load_contacts(self, rows: list[dict[str, Any]]) -> list[str]: ...


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


def simulator_seat(simulator: Any) -> CrmSeat:
    """The seat of a simulator whose helpers take the generated rows as they are (Salesforce's)."""
    return simulator  # type: ignore[no-any-return]
