"""The Dynamics 365 plug-in: contacts through the Dataverse Web API (OData with change tracking, `$batch` writes with
`If-Match` ETags), the record shape in `convert`, settings from `DYNAMICS_*` variables."""

from __future__ import annotations

from contact_sync.crms.dynamics.connector import DynamicsConnector
from contact_sync.crms.dynamics.convert import canonical_to_dynamics, records_to_canonical
from contact_sync.crms.dynamics.seed import DynamicsSeat
from contact_sync.crms.dynamics.settings import CREDENTIAL_VARIABLES, DynamicsSettings
from contact_sync.crms.plugin import CrmPlugin

PLUGIN = CrmPlugin(
    kind="dynamics",
    label="Dynamics 365",
    asset_kind="dynamics",
    settings=DynamicsSettings,
    credential_variables=CREDENTIAL_VARIABLES,
    link_field="contactid",
    external_source="Dynamics 365",
    to_canonical=records_to_canonical,
    to_api=canonical_to_dynamics,
    connector=DynamicsConnector,
    simulator="dynamics",
    seat=DynamicsSeat,
)
