"""The CRM port's registry."""

import pytest

from contact_sync.pipeline.crm import CRM_ADAPTERS, SalesforceAdapter, build_crm_adapter
from contact_sync.settings import SettingsError
from contact_sync.simulators import RunningSimulators
from contact_sync.sync.policy import load_policy


def test_salesforce_is_built_from_the_environment(sims: RunningSimulators) -> None:
    adapter = build_crm_adapter("salesforce", sims.env, load_policy())
    try:
        assert isinstance(adapter, SalesforceAdapter) and adapter.external_source == "Salesforce"
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
    with pytest.raises(SettingsError, match="must be one of salesforce, dynamics"):
        build_crm_adapter("hubspot", {}, load_policy())
    assert set(CRM_ADAPTERS) == {"salesforce", "dynamics"}
