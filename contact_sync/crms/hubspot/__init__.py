"""The HubSpot plug-in: contacts through the CRM v3 objects API (list, search on `lastmodifieddate` past its
10,000-result cap, batch writes), the record shape in `convert`, settings from `HUBSPOT_*` variables."""

from __future__ import annotations

from contact_sync.crms.hubspot.connector import HubSpotConnector
from contact_sync.crms.hubspot.convert import canonical_to_hubspot, records_to_canonical
from contact_sync.crms.hubspot.seed import HubSpotSeat
from contact_sync.crms.hubspot.settings import CREDENTIAL_VARIABLES, HubSpotSettings
from contact_sync.crms.plugin import CrmPlugin

PLUGIN = CrmPlugin(
    kind="hubspot",
    label="HubSpot",
    asset_kind="hubspot",
    settings=HubSpotSettings,
    credential_variables=CREDENTIAL_VARIABLES,
    link_field="hs_object_id",
    external_source="HubSpot",
    to_canonical=records_to_canonical,
    to_api=canonical_to_hubspot,
    connector=HubSpotConnector,
    simulator="hubspot",
    seat=HubSpotSeat,
)
