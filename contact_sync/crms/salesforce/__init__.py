"""The Salesforce plug-in: Contacts through simple-salesforce (REST queries, sObject Collections, Bulk API 2.0 for
large reads), the record shape in `convert`, settings from `SALESFORCE_*` variables."""

from __future__ import annotations

from contact_sync.crms.plugin import CrmPlugin, SimulatorSeat
from contact_sync.crms.salesforce.connector import SalesforceConnector
from contact_sync.crms.salesforce.convert import canonical_to_salesforce, records_to_canonical
from contact_sync.crms.salesforce.settings import CREDENTIAL_VARIABLES, SalesforceSettings

PLUGIN = CrmPlugin(
    kind="salesforce",
    label="Salesforce",
    asset_kind="salesforce",
    settings=SalesforceSettings,
    credential_variables=CREDENTIAL_VARIABLES,
    link_field="Id",
    external_source="Salesforce",
    to_canonical=records_to_canonical,
    to_api=canonical_to_salesforce,
    connector=SalesforceConnector,
    simulator="salesforce",
    seat=SimulatorSeat,
)
