"""HubSpot settings: the API host and a private-app access token (or an OAuth app's refresh token), read from
`HUBSPOT_*` variables and checked before any call is made."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from contact_sync.settings import (
    Secret,
    SettingsError,
    env_value,
    file_value,
    https_url,
    positive_int,
    secret_value,
)

DEFAULT_HUBSPOT_API_URL = "https://api.hubapi.com"
DEFAULT_RATE_LIMIT_PER_10S = 100
"""HubSpot's published limit for private apps on Professional accounts (Enterprise: 190) per rolling 10 seconds."""
DEFAULT_SEARCH_RATE_LIMIT_PER_S = 4
"""Search has its own, lower limit (5 requests per second per account); one under it leaves room for other apps."""
CREDENTIAL_VARIABLES = ("HUBSPOT_ACCESS_TOKEN", "HUBSPOT_REFRESH_TOKEN")
"""Variables whose presence means the user configured HubSpot (otherwise the simulators are used)."""


@dataclass(frozen=True)
class HubSpotSettings:
    """How to reach HubSpot: a private app's token, or an OAuth app (client id, secret and refresh token)."""

    api_url: str = DEFAULT_HUBSPOT_API_URL
    access_token: Secret | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    refresh_token: Secret | None = None
    ca_bundle: str | None = None
    rate_limit_per_10s: int = DEFAULT_RATE_LIMIT_PER_10S
    search_rate_limit_per_s: int = DEFAULT_SEARCH_RATE_LIMIT_PER_S

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HubSpotSettings:
        env = os.environ if env is None else env
        settings = cls(
            api_url=https_url(env, "HUBSPOT_API_URL", DEFAULT_HUBSPOT_API_URL),
            access_token=secret_value(env, "HUBSPOT_ACCESS_TOKEN"),
            client_id=env_value(env, "HUBSPOT_CLIENT_ID"),
            client_secret=secret_value(env, "HUBSPOT_CLIENT_SECRET"),
            refresh_token=secret_value(env, "HUBSPOT_REFRESH_TOKEN"),
            ca_bundle=file_value(env, "HUBSPOT_CA_BUNDLE"),
            rate_limit_per_10s=positive_int(env, "HUBSPOT_RATE_LIMIT_PER_10S", DEFAULT_RATE_LIMIT_PER_10S),
            search_rate_limit_per_s=positive_int(
                env, "HUBSPOT_SEARCH_RATE_LIMIT_PER_S", DEFAULT_SEARCH_RATE_LIMIT_PER_S
            ),
        )
        if settings.refresh_token is not None and not (settings.client_id and settings.client_secret):
            raise SettingsError("HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET must be set with HUBSPOT_REFRESH_TOKEN")
        if settings.access_token is None and settings.refresh_token is None:
            raise SettingsError("HUBSPOT_ACCESS_TOKEN (a private app's token) or HUBSPOT_REFRESH_TOKEN must be set")
        return settings

    @property
    def uses_oauth(self) -> bool:
        """True when tokens come from the OAuth refresh grant (a refresh token is set) rather than a private app."""
        return self.refresh_token is not None

    @property
    def secrets(self) -> list[Secret | None]:
        return [self.access_token, self.client_secret, self.refresh_token]
