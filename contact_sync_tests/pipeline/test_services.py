"""Services from the environment, and the built-in simulators when no credentials are set."""

import logging
from pathlib import Path

import pytest

from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.services import open_services
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
