"""Tests of `DynamicsSettings.from_env`: required variables, URL checks, derived token URL and scope, redaction."""

from __future__ import annotations

import pytest

from contact_sync.crms.dynamics.settings import DynamicsSettings
from contact_sync.settings import SettingsError

ENV = {
    "DYNAMICS_URL": "https://contoso.crm.dynamics.com/",
    "DYNAMICS_TENANT_ID": "5f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
    "DYNAMICS_CLIENT_ID": "7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d",
    "DYNAMICS_CLIENT_SECRET": "s3cret-value-Xy",
}


def test_defaults_derive_the_microsoft_token_url_and_the_org_scope() -> None:
    settings = DynamicsSettings.from_env(ENV)
    assert settings.url == "https://contoso.crm.dynamics.com"
    assert settings.token_url == (
        "https://login.microsoftonline.com/5f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f/oauth2/v2.0/token"
    )
    assert settings.scope == "https://contoso.crm.dynamics.com/.default"
    assert settings.client_secret.reveal() == "s3cret-value-Xy"


def test_token_url_and_scope_can_be_overridden() -> None:
    env = {**ENV, "DYNAMICS_TOKEN_URL": "http://127.0.0.1:9/t/oauth2/v2.0/token", "DYNAMICS_SCOPE": "api://x/.default"}
    settings = DynamicsSettings.from_env(env)
    assert settings.token_url == "http://127.0.0.1:9/t/oauth2/v2.0/token"
    assert settings.scope == "api://x/.default"


@pytest.mark.parametrize("name", ["DYNAMICS_URL", "DYNAMICS_TENANT_ID", "DYNAMICS_CLIENT_ID", "DYNAMICS_CLIENT_SECRET"])
def test_a_missing_variable_is_a_one_line_error_naming_it(name: str) -> None:
    env = {k: v for k, v in ENV.items() if k != name}
    with pytest.raises(SettingsError) as info:
        DynamicsSettings.from_env(env)
    assert str(info.value) == f"{name} is not set"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DYNAMICS_URL", "contoso.crm.dynamics.com"),
        ("DYNAMICS_URL", "ftp://contoso"),
        ("DYNAMICS_TOKEN_URL", "login.microsoftonline.com/x"),
        ("DYNAMICS_TENANT_ID", "a/b"),
        ("DYNAMICS_SCOPE", "https://a/.default https://b/.default"),
    ],
)
def test_a_malformed_variable_is_a_one_line_error_naming_it(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        DynamicsSettings.from_env({**ENV, name: value})
    message = str(info.value)
    assert message.startswith(name) and "\n" not in message


def test_blank_values_count_as_missing() -> None:
    with pytest.raises(SettingsError, match="DYNAMICS_CLIENT_SECRET is not set"):
        DynamicsSettings.from_env({**ENV, "DYNAMICS_CLIENT_SECRET": "   "})


def test_the_secret_never_shows_in_repr_or_str() -> None:
    settings = DynamicsSettings.from_env(ENV)
    assert "s3cret-value-Xy" not in repr(settings)
    assert "s3cret-value-Xy" not in str(settings)
    assert settings.secrets == [settings.client_secret]


def test_a_url_with_a_password_is_redacted_in_the_error() -> None:
    with pytest.raises(SettingsError) as info:
        DynamicsSettings.from_env({**ENV, "DYNAMICS_URL": "ftp://user:pw-123@contoso"})
    assert "pw-123" not in str(info.value)
