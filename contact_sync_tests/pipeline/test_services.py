"""Services from the environment, and the built-in simulators when no credentials are set."""

import logging
from pathlib import Path

import pytest

from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.services import check_configuration, open_services, uses_simulators
from contact_sync.settings import SettingsError


def test_without_credentials_the_simulators_run_with_state_in_the_data_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"CONTACT_SYNC_DATA_DIR": str(tmp_path / "data")}
    caplog.set_level(logging.WARNING)
    with open_services(env=env) as services:
        assert services.simulated
        created = services.crm.create([("k", {"last_name": "Persisted", "email": "p@example.com"})])
        assert created.counts() == {"created": 1}
    assert "BUILT-IN SIMULATORS" in caplog.text
    assert (tmp_path / "data" / "simulators").is_dir()
    with open_services(env=env) as services:  # a later run sees the same data
        records = services.crm.read_changes(None).records
        assert [r["LastName"] for r in records] == ["Persisted"]


def test_settings_refuse_bad_values_clearly(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="CONTACT_SYNC_MODE"):
        PipelineSettings.from_env({"CONTACT_SYNC_MODE": "sideways"})
    with pytest.raises(SettingsError, match="CONTACT_SYNC_POLICY"):
        PipelineSettings.from_env({"CONTACT_SYNC_POLICY": str(tmp_path / "missing.yaml")})
    with pytest.raises(SettingsError, match="CONTACT_SYNC_ALERT_WEBHOOK"):
        PipelineSettings.from_env({"CONTACT_SYNC_ALERT_WEBHOOK": "not-a-url"})
    settings = PipelineSettings.from_env({"CONTACT_SYNC_ALERT_WEBHOOK": "https://hooks.example.com/T/B/secret"})
    assert "secret" not in repr(settings)
    assert settings.database_url.endswith(".contact_sync/ledger.sqlite") and settings.cohort == "all"


def test_the_live_deployment_refuses_missing_credentials_instead_of_using_the_simulators(tmp_path: Path) -> None:
    env = {"CONTACT_SYNC_DATA_DIR": str(tmp_path / "data"), "CONTACT_SYNC_DEPLOYMENT": "live"}
    with pytest.raises(SettingsError, match="SALESFORCE_INSTANCE_URL is not set"):
        check_configuration(env)
    with pytest.raises(SettingsError, match="SALESFORCE_INSTANCE_URL is not set"), open_services(env=env):
        pass
    assert not (tmp_path / "data" / "simulators").exists()
    with pytest.raises(SettingsError, match="CONTACT_SYNC_DEPLOYMENT must be one of auto, simulated, live"):
        PipelineSettings.from_env({"CONTACT_SYNC_DEPLOYMENT": "prod"})


def test_the_simulated_deployment_ignores_real_credentials(tmp_path: Path) -> None:
    env = {
        "CONTACT_SYNC_DATA_DIR": str(tmp_path / "data"),
        "CONTACT_SYNC_DEPLOYMENT": "simulated",
        "SALESFORCE_INSTANCE_URL": "https://real-org.example.com",
        "SALESFORCE_PASSWORD": "never-sent",
        "GENESYS_REGION": "us_east_1",
    }
    assert not uses_simulators(PipelineSettings.from_env({**env, "CONTACT_SYNC_DEPLOYMENT": "auto"}), env)
    with open_services(env=env) as services:
        assert services.simulated
        assert services.crm.create([("k", {"last_name": "Sim"})]).counts() == {"created": 1}
        assert "127.0.0.1" in services.genesys.settings.api_url
