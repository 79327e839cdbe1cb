"""Salesforce settings: how to reach the org (an OAuth refresh token, OAuth client credentials,
username/password/token, or a session id), read from `SALESFORCE_*` variables and checked before any call is
made."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from contact_sync.settings import Secret, SettingsError, env_value, file_value, https_url, secret_value

DEFAULT_SALESFORCE_API_VERSION = "59.0"
DEFAULT_BULK_WRITE_THRESHOLD = 10_000
CREDENTIAL_VARIABLES = ("SALESFORCE_INSTANCE_URL",)
"""Variables whose presence means the user configured Salesforce (otherwise the simulators are used)."""


@dataclass(frozen=True)
class SalesforceSettings:
    """How to reach Salesforce: an OAuth refresh token, OAuth client credentials, username/password/token, or a given
    session id."""

    instance_url: str
    client_id: str | None = None
    client_secret: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    security_token: Secret | None = None
    session_id: Secret | None = None
    refresh_token: Secret | None = None
    """SALESFORCE_REFRESH_TOKEN: a connected app's refresh token (with SALESFORCE_CLIENT_ID, and the secret if the app
    requires it for refresh), the way most ETL tools log in."""
    ca_bundle: str | None = None
    api_version: str = DEFAULT_SALESFORCE_API_VERSION
    bulk_write_threshold: int = DEFAULT_BULK_WRITE_THRESHOLD
    """SALESFORCE_BULK_WRITE_THRESHOLD: creates or updates of this many contacts or more in one call go through one
    Bulk API 2.0 ingest job instead of sObject Collections (200 a call); 0 turns the Bulk path off."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SalesforceSettings:
        env = os.environ if env is None else env
        instance_url = https_url(env, "SALESFORCE_INSTANCE_URL")
        api_version = env_value(env, "SALESFORCE_API_VERSION") or DEFAULT_SALESFORCE_API_VERSION
        try:
            major = float(api_version)
        except ValueError:
            raise SettingsError(f"SALESFORCE_API_VERSION must look like 59.0, got {api_version!r}") from None
        if not 20.0 <= major < 100.0 or "." not in api_version:
            raise SettingsError(f"SALESFORCE_API_VERSION must look like 59.0, got {api_version!r}")
        ca_bundle = file_value(env, "SALESFORCE_CA_BUNDLE")
        threshold_text = env_value(env, "SALESFORCE_BULK_WRITE_THRESHOLD")
        threshold = DEFAULT_BULK_WRITE_THRESHOLD
        if threshold_text is not None:
            if not threshold_text.isdigit():
                raise SettingsError(
                    f"SALESFORCE_BULK_WRITE_THRESHOLD must be a whole number of records (0: never), got "
                    f"{threshold_text!r}"
                )
            threshold = int(threshold_text)
        settings = cls(
            instance_url=instance_url,
            client_id=env_value(env, "SALESFORCE_CLIENT_ID"),
            client_secret=secret_value(env, "SALESFORCE_CLIENT_SECRET"),
            username=env_value(env, "SALESFORCE_USERNAME"),
            password=secret_value(env, "SALESFORCE_PASSWORD"),
            security_token=secret_value(env, "SALESFORCE_SECURITY_TOKEN"),
            session_id=secret_value(env, "SALESFORCE_SESSION_ID"),
            refresh_token=secret_value(env, "SALESFORCE_REFRESH_TOKEN"),
            ca_bundle=ca_bundle,
            api_version=api_version,
            bulk_write_threshold=threshold,
        )
        if settings.refresh_token and not settings.client_id:
            raise SettingsError(
                "SALESFORCE_CLIENT_ID is not set (SALESFORCE_REFRESH_TOKEN is: a refresh names its app)"
            )
        if not (
            settings.session_id
            or settings.refresh_token
            or (settings.client_id and settings.client_secret)
            or settings.username
        ):
            raise SettingsError(
                "SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET (or SALESFORCE_USERNAME and SALESFORCE_PASSWORD, "
                "or SALESFORCE_SESSION_ID) must be set"
            )
        if settings.username and not settings.password and not settings.session_id and not settings.client_secret:
            raise SettingsError("SALESFORCE_PASSWORD is not set (SALESFORCE_USERNAME is)")
        return settings

    @property
    def secrets(self) -> list[Secret | None]:
        return [self.client_secret, self.password, self.security_token, self.session_id, self.refresh_token]
