"""Dynamics 365 (Dataverse) settings: the org URL and an app registration (OAuth client credentials), read from
`DYNAMICS_*` variables and checked before any call is made."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from contact_sync.settings import (
    Secret,
    SettingsError,
    env_value,
    file_value,
    require_value,
    secret_value,
    url_value,
)

CREDENTIAL_VARIABLES = ("DYNAMICS_URL", "DYNAMICS_TENANT_ID")
"""Variables whose presence means the user configured Dynamics 365 (otherwise the simulators are used)."""

DEFAULT_DYNAMICS_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"


@dataclass(frozen=True)
class DynamicsSettings:
    """How to reach Dynamics 365 (Dataverse): the org URL and an app registration (OAuth client credentials)."""

    url: str
    tenant_id: str
    client_id: str
    client_secret: Secret
    token_url: str
    scope: str
    ca_bundle: str | None = None  # a private CA to trust (the simulator's); the system's trust store otherwise

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DynamicsSettings:
        env = os.environ if env is None else env
        url = url_value(env, "DYNAMICS_URL")
        tenant_id = require_value(env, "DYNAMICS_TENANT_ID")
        if "/" in tenant_id or any(c.isspace() for c in tenant_id):
            raise SettingsError(f"DYNAMICS_TENANT_ID must be a tenant id or domain, got {tenant_id!r}")
        client_id = require_value(env, "DYNAMICS_CLIENT_ID")
        client_secret = secret_value(env, "DYNAMICS_CLIENT_SECRET")
        if client_secret is None:
            raise SettingsError("DYNAMICS_CLIENT_SECRET is not set")
        token_raw = env_value(env, "DYNAMICS_TOKEN_URL")
        token_url = url_value(
            env, "DYNAMICS_TOKEN_URL", token_raw or DEFAULT_DYNAMICS_TOKEN_URL.format(tenant=tenant_id)
        )
        scope = env_value(env, "DYNAMICS_SCOPE") or f"{url}/.default"
        if any(c.isspace() for c in scope):
            raise SettingsError(
                f"DYNAMICS_SCOPE must be one scope like https://org.crm.dynamics.com/.default, got {scope!r}"
            )
        return cls(
            url=url,
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=client_secret,
            token_url=token_url,
            scope=scope,
            ca_bundle=file_value(env, "DYNAMICS_CA_BUNDLE"),
        )

    @property
    def secrets(self) -> list[Secret | None]:
        return [self.client_secret]
