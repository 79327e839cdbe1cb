"""Settings from the environment: every missing or malformed variable is a one-line error naming it, Genesys regions
map to the real hosts, the login host is derived from the API host, and no secret shows in a repr or str."""

from __future__ import annotations

from pathlib import Path

import pytest

from contact_sync.crms.salesforce.settings import SalesforceSettings
from contact_sync.settings import (
    GenesysSettings,
    LedgerSettings,
    Secret,
    SettingsError,
    login_url_for,
    redact,
    redact_url,
)

SF_SECRETS = {
    "SALESFORCE_CLIENT_SECRET": "sf-client-secret-123",
    "SALESFORCE_PASSWORD": "sf-password-456",
    "SALESFORCE_SECURITY_TOKEN": "sf-token-789",
    "SALESFORCE_SESSION_ID": "00Dsession!AQ0abc",
}


def sf_env(**overrides: str | None) -> dict[str, str]:
    env = {
        "SALESFORCE_INSTANCE_URL": "https://example.my.salesforce.com",
        "SALESFORCE_CLIENT_ID": "3MVG9client",
        "SALESFORCE_CLIENT_SECRET": SF_SECRETS["SALESFORCE_CLIENT_SECRET"],
    }
    env.update({k: v for k, v in overrides.items() if v is not None})
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
    return env


def gc_env(**overrides: str | None) -> dict[str, str]:
    env = {
        "GENESYS_REGION": "us_east_1",
        "GENESYS_CLIENT_ID": "gc-client-id",
        "GENESYS_CLIENT_SECRET": "gc-client-secret-xyz",
    }
    env.update({k: v for k, v in overrides.items() if v is not None})
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
    return env


def assert_one_line_error(build: object, env: dict[str, str], names: str) -> str:
    with pytest.raises(SettingsError) as caught:
        build(env)  # type: ignore[operator]
    message = str(caught.value)
    assert names in message
    assert "\n" not in message
    return message


# Salesforce ------------------------------------------------------------------------------------------------------


def test_salesforce_client_credentials() -> None:
    settings = SalesforceSettings.from_env(sf_env(SALESFORCE_INSTANCE_URL="https://example.my.salesforce.com/"))
    assert settings.instance_url == "https://example.my.salesforce.com"
    assert settings.client_id == "3MVG9client"
    assert settings.client_secret is not None
    assert settings.client_secret.reveal() == SF_SECRETS["SALESFORCE_CLIENT_SECRET"]
    assert settings.api_version == "59.0"
    assert settings.ca_bundle is None


def test_salesforce_username_password_token_and_session() -> None:
    env = sf_env(
        SALESFORCE_CLIENT_ID=None,
        SALESFORCE_CLIENT_SECRET=None,
        SALESFORCE_USERNAME="integration@example.com",
        SALESFORCE_PASSWORD=SF_SECRETS["SALESFORCE_PASSWORD"],
        SALESFORCE_SECURITY_TOKEN=SF_SECRETS["SALESFORCE_SECURITY_TOKEN"],
        SALESFORCE_API_VERSION="61.0",
    )
    settings = SalesforceSettings.from_env(env)
    assert settings.username == "integration@example.com"
    assert settings.password is not None and settings.password.reveal() == SF_SECRETS["SALESFORCE_PASSWORD"]
    assert settings.api_version == "61.0"
    assert settings.bulk_write_threshold == 10_000
    assert SalesforceSettings.from_env({**env, "SALESFORCE_BULK_WRITE_THRESHOLD": "0"}).bulk_write_threshold == 0
    session = SalesforceSettings.from_env(
        sf_env(SALESFORCE_CLIENT_ID=None, SALESFORCE_CLIENT_SECRET=None, SALESFORCE_SESSION_ID="00Dsession!AQ0abc")
    )
    assert session.session_id is not None and session.session_id.reveal() == "00Dsession!AQ0abc"
    refresh = SalesforceSettings.from_env(sf_env(SALESFORCE_CLIENT_SECRET=None, SALESFORCE_REFRESH_TOKEN="5Aep861r"))
    assert refresh.refresh_token is not None and refresh.refresh_token in refresh.secrets


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"SALESFORCE_INSTANCE_URL": None}, "SALESFORCE_INSTANCE_URL is not set"),
        ({"SALESFORCE_INSTANCE_URL": "   "}, "SALESFORCE_INSTANCE_URL is not set"),
        ({"SALESFORCE_INSTANCE_URL": "example.my.salesforce.com"}, "SALESFORCE_INSTANCE_URL must be an http(s) URL"),
        ({"SALESFORCE_INSTANCE_URL": "http://example.my.salesforce.com"}, "SALESFORCE_INSTANCE_URL must be an https"),
        ({"SALESFORCE_API_VERSION": "v59"}, "SALESFORCE_API_VERSION"),
        ({"SALESFORCE_API_VERSION": "59"}, "SALESFORCE_API_VERSION"),
        ({"SALESFORCE_API_VERSION": "5.0"}, "SALESFORCE_API_VERSION"),
        ({"SALESFORCE_CA_BUNDLE": "/no/such/ca-bundle.pem"}, "SALESFORCE_CA_BUNDLE"),
        ({"SALESFORCE_BULK_WRITE_THRESHOLD": "ten thousand"}, "SALESFORCE_BULK_WRITE_THRESHOLD must be a whole"),
        ({"SALESFORCE_CLIENT_ID": None, "SALESFORCE_CLIENT_SECRET": None}, "SALESFORCE_CLIENT_ID"),
        ({"SALESFORCE_CLIENT_SECRET": None}, "SALESFORCE_CLIENT_SECRET"),
        ({"SALESFORCE_CLIENT_ID": None, "SALESFORCE_REFRESH_TOKEN": "5Aep861r"}, "SALESFORCE_CLIENT_ID is not set"),
        (
            {"SALESFORCE_CLIENT_ID": None, "SALESFORCE_CLIENT_SECRET": None, "SALESFORCE_USERNAME": "u@example.com"},
            "SALESFORCE_PASSWORD is not set",
        ),
    ],
)
def test_salesforce_missing_or_malformed_setting_names_it(overrides: dict[str, str | None], names: str) -> None:
    assert_one_line_error(SalesforceSettings.from_env, sf_env(**overrides), names)


def test_salesforce_ca_bundle_must_exist(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert SalesforceSettings.from_env(sf_env(SALESFORCE_CA_BUNDLE=str(bundle))).ca_bundle == str(bundle)


def test_salesforce_secrets_never_in_repr_or_str() -> None:
    env = sf_env(SALESFORCE_USERNAME="u@example.com", **SF_SECRETS)
    settings = SalesforceSettings.from_env(env)
    for text in (repr(settings), str(settings), f"{settings}", repr(settings.secrets)):
        for secret in SF_SECRETS.values():
            assert secret not in text
    assert "u@example.com" in repr(settings)  # not a secret: still visible for debugging


def test_a_url_error_does_not_echo_a_password() -> None:
    message = assert_one_line_error(
        SalesforceSettings.from_env,
        sf_env(SALESFORCE_INSTANCE_URL="http://admin:hunter2pw@example.my.salesforce.com"),
        "SALESFORCE_INSTANCE_URL",
    )
    assert "hunter2pw" not in message


# Genesys ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "api", "login"),
    [
        ("us_east_1", "https://api.mypurecloud.com", "https://login.mypurecloud.com"),
        ("eu_west_1", "https://api.mypurecloud.ie", "https://login.mypurecloud.ie"),
        ("eu_central_1", "https://api.mypurecloud.de", "https://login.mypurecloud.de"),
        ("ap_southeast_2", "https://api.mypurecloud.com.au", "https://login.mypurecloud.com.au"),
        ("ap_northeast_1", "https://api.mypurecloud.jp", "https://login.mypurecloud.jp"),
        ("us_west_2", "https://api.usw2.pure.cloud", "https://login.usw2.pure.cloud"),
        ("ca_central_1", "https://api.cac1.pure.cloud", "https://login.cac1.pure.cloud"),
        ("eu_west_2", "https://api.euw2.pure.cloud", "https://login.euw2.pure.cloud"),
        ("ap_south_1", "https://api.aps1.pure.cloud", "https://login.aps1.pure.cloud"),
        ("ap_northeast_2", "https://api.apne2.pure.cloud", "https://login.apne2.pure.cloud"),
        ("sa_east_1", "https://api.sae1.pure.cloud", "https://login.sae1.pure.cloud"),
        ("me_central_1", "https://api.mec1.pure.cloud", "https://login.mec1.pure.cloud"),
    ],
)
def test_genesys_region_maps_to_the_real_hosts(region: str, api: str, login: str) -> None:
    settings = GenesysSettings.from_env(gc_env(GENESYS_REGION=region))
    assert (settings.api_url, settings.login_url) == (api, login)


def test_genesys_api_url_wins_over_region_and_login_is_derived() -> None:
    settings = GenesysSettings.from_env(gc_env(GENESYS_API_URL="https://api.mypurecloud.de/"))
    assert settings.api_url == "https://api.mypurecloud.de"
    assert settings.login_url == "https://login.mypurecloud.de"
    local = GenesysSettings.from_env(gc_env(GENESYS_REGION=None, GENESYS_API_URL="http://127.0.0.1:18080"))
    assert local.login_url == "http://127.0.0.1:18080"  # no `api.` prefix: the same host serves login
    explicit = GenesysSettings.from_env(
        gc_env(GENESYS_API_URL="http://127.0.0.1:18080", GENESYS_LOGIN_URL="http://127.0.0.1:18081/")
    )
    assert explicit.login_url == "http://127.0.0.1:18081"
    assert login_url_for("https://api.usw2.pure.cloud") == "https://login.usw2.pure.cloud"
    assert settings.rate_limit_per_minute == 300
    assert GenesysSettings.from_env(gc_env(GENESYS_RATE_LIMIT_PER_MINUTE="120")).rate_limit_per_minute == 120


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"GENESYS_REGION": None}, "GENESYS_API_URL (or GENESYS_REGION"),
        ({"GENESYS_REGION": "mars_north_1"}, "GENESYS_REGION 'mars_north_1' is not one of"),
        ({"GENESYS_API_URL": "api.mypurecloud.com"}, "GENESYS_API_URL must be an http(s) URL"),
        ({"GENESYS_API_URL": "ftp://api.mypurecloud.com"}, "GENESYS_API_URL must be an http(s) URL"),
        ({"GENESYS_LOGIN_URL": "login.mypurecloud.com"}, "GENESYS_LOGIN_URL must be an http(s) URL"),
        ({"GENESYS_CLIENT_ID": None}, "GENESYS_CLIENT_ID is not set"),
        ({"GENESYS_CLIENT_SECRET": None}, "GENESYS_CLIENT_SECRET is not set"),
        ({"GENESYS_CLIENT_SECRET": "  "}, "GENESYS_CLIENT_SECRET is not set"),
        ({"GENESYS_RATE_LIMIT_PER_MINUTE": "fast"}, "GENESYS_RATE_LIMIT_PER_MINUTE"),
        ({"GENESYS_RATE_LIMIT_PER_MINUTE": "0"}, "GENESYS_RATE_LIMIT_PER_MINUTE"),
        ({"GENESYS_RATE_LIMIT_PER_MINUTE": "-5"}, "GENESYS_RATE_LIMIT_PER_MINUTE"),
    ],
)
def test_genesys_missing_or_malformed_setting_names_it(overrides: dict[str, str | None], names: str) -> None:
    assert_one_line_error(GenesysSettings.from_env, gc_env(**overrides), names)


def test_genesys_secret_never_in_repr_or_str() -> None:
    settings = GenesysSettings.from_env(gc_env())
    for text in (repr(settings), str(settings), f"{settings!s}", repr(settings.secrets)):
        assert "gc-client-secret-xyz" not in text
    assert "gc-client-id" in repr(settings)


# Ledger ----------------------------------------------------------------------------------------------------------


def test_ledger_defaults_to_a_sqlite_file(tmp_path: Path) -> None:
    assert LedgerSettings.from_env({}, default_dir=tmp_path).database_url == f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert LedgerSettings.from_env({}).database_url == "sqlite:///.contact_sync/ledger.sqlite"
    url = "postgresql+psycopg2://sync@db.internal:5432/ledger"
    assert LedgerSettings.from_env({"CONTACT_SYNC_DATABASE_URL": url}).database_url == url


def test_ledger_url_malformed_names_it_without_the_password() -> None:
    message = assert_one_line_error(
        LedgerSettings.from_env,
        {"CONTACT_SYNC_DATABASE_URL": "sync:LedgerPw42@db.internal/ledger"},
        "CONTACT_SYNC_DATABASE_URL",
    )
    assert "LedgerPw42" not in message


def test_ledger_password_never_in_repr_or_str() -> None:
    settings = LedgerSettings.from_env({"CONTACT_SYNC_DATABASE_URL": "postgresql://sync:LedgerPw42@db.internal/ledger"})
    assert settings.database_url.endswith("sync:LedgerPw42@db.internal/ledger")  # the real value is kept for use
    for text in (repr(settings), str(settings), f"{settings}"):
        assert "LedgerPw42" not in text
        assert "postgresql://sync:***@db.internal/ledger" in text


# Secret and redaction --------------------------------------------------------------------------------------------


def test_secret_hides_its_value_everywhere_but_reveal() -> None:
    secret = Secret("s3cr3t-value")
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", format(secret), repr([secret])):
        assert "s3cr3t-value" not in text
    assert secret.reveal() == "s3cr3t-value"
    assert secret == Secret("s3cr3t-value") and secret != Secret("other")
    assert not Secret("")


def test_redact_helpers() -> None:
    text = "POST token=abc123 with key xyz789 failed"
    assert redact(text, [Secret("abc123"), "xyz789", None, ""]) == "POST token=********** with key ********** failed"
    assert redact_url("postgresql://u:p%40ss@h:5432/db?x=1") == "postgresql://u:***@h:5432/db?x=1"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact_url("sqlite:///data/ledger.sqlite") == "sqlite:///data/ledger.sqlite"
