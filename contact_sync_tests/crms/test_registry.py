"""The CRM registry: every kind resolves to a plug-in whose adapter is built from the environment, and every list
of CRM kinds in the product comes from it."""

import pytest

from contact_sync.crms import CRM_KINDS, build_crm_adapter, crm_plugin, crm_plugins
from contact_sync.crms.port import ConnectorAdapter, CrmConnector
from contact_sync.ledger import tables
from contact_sync.settings import SettingsError
from contact_sync.simulators import RunningSimulators
from contact_sync.sync import schema
from contact_sync.sync.policy import load_policy


def test_salesforce_is_built_from_the_environment(sims: RunningSimulators) -> None:
    adapter = build_crm_adapter("salesforce", sims.env, load_policy())
    try:
        assert isinstance(adapter, ConnectorAdapter) and adapter.external_source == "Salesforce"
        assert isinstance(adapter.connector, CrmConnector)
        assert adapter.read_changes(None).records == []
    finally:
        adapter.close()


def test_dynamics_is_one_registry_entry_and_unknown_crms_are_refused(sims: RunningSimulators) -> None:
    adapter = build_crm_adapter("dynamics", sims.env, load_policy())
    try:
        assert adapter.kind == "dynamics" and adapter.external_source == "Dynamics 365"
    finally:
        adapter.close()
    with pytest.raises(SettingsError, match="DYNAMICS"):
        build_crm_adapter("dynamics", {}, load_policy())
    with pytest.raises(SettingsError, match=f"must be one of {', '.join(CRM_KINDS)}, got 'zoho'"):
        build_crm_adapter("zoho", {}, load_policy())


def test_every_list_of_crm_kinds_is_the_registry() -> None:
    plugins = crm_plugins()
    assert [p.kind for p in plugins] == list(CRM_KINDS)
    assert schema.CRM_SYSTEMS == CRM_KINDS and (*CRM_KINDS, "genesys") == schema.SYSTEMS
    assert tables.CRM_SYSTEMS == CRM_KINDS
    policy = load_policy()
    for plugin in plugins:
        assert crm_plugin(plugin.kind) is plugin
        # The shipped policy agrees with each plug-in's defaults, and its simulator runs under the plug-in's name.
        assert policy.link_field[plugin.kind] == plugin.link_field
        assert policy.external_source[plugin.kind] == plugin.external_source
        assert all(v.startswith(f"{plugin.kind.upper()}_") for v in plugin.credential_variables)


def test_every_plugin_has_a_running_simulator(sims: RunningSimulators) -> None:
    for plugin in crm_plugins():
        sim = getattr(sims, plugin.simulator)
        # A plug-in may accept one of several credentials (HubSpot: a private-app token or an OAuth refresh token).
        assert sim.url and any(v in sims.env for v in plugin.credential_variables)
