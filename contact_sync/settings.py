"""Settings for the outside systems and the ledger, read from the environment and checked before any call is made.

Each settings class has `from_env(env)`; a missing or malformed variable raises `SettingsError` with a one-line
message naming it. Secrets are held in `Secret`, whose repr and str never show the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

GENESYS_REGIONS: dict[str, str] = {
    "us_east_1": "https://api.mypurecloud.com",
    "eu_west_1": "https://api.mypurecloud.ie",
    "eu_central_1": "https://api.mypurecloud.de",
    "ap_southeast_2": "https://api.mypurecloud.com.au",
    "ap_northeast_1": "https://api.mypurecloud.jp",
    "us_west_2": "https://api.usw2.pure.cloud",
    "ca_central_1": "https://api.cac1.pure.cloud",
    "eu_west_2": "https://api.euw2.pure.cloud",
    "ap_south_1": "https://api.aps1.pure.cloud",
    "ap_northeast_2": "https://api.apne2.pure.cloud",
    "sa_east_1": "https://api.sae1.pure.cloud",
    "me_central_1": "https://api.mec1.pure.cloud",
}


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it in one line."""


class Secret:
    """A secret value: `reveal()` gives it; repr, str and format never do."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def redact(text: str, secrets: list[Secret | str | None]) -> str:
    """`text` with every non-empty secret value replaced by `**********`."""
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            text = text.replace(value, "**********")
    return text


def env_value(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def require_value(env: Mapping[str, str], name: str) -> str:
    value = env_value(env, name)
    if value is None:
        raise SettingsError(f"{name} is not set")
    return value


def url_value(env: Mapping[str, str], name: str, value: str | None = None) -> str:
    value = value if value is not None else require_value(env, name)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an http(s) URL, got {redact_url(value)!r}")
    return value.rstrip("/")


def https_url(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    """An https URL (the service speaks TLS only): `default` when unset and given, else required."""
    value = url_value(env, name, env_value(env, name) or default)
    if not value.startswith("https://"):
        raise SettingsError(f"{name} must be an https URL, got {redact_url(value)!r}")
    return value


def file_value(env: Mapping[str, str], name: str) -> str | None:
    """A path that must name an existing file (e.g. a CA bundle), or None when unset."""
    value = env_value(env, name)
    if value is not None and not Path(value).is_file():
        raise SettingsError(f"{name} names no file: {value!r}")
    return value


def positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number of at least 1, `default` when unset."""
    raw = env_value(env, name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name} must be a positive whole number, got {raw!r}")
    return int(raw)


def secret_value(env: Mapping[str, str], name: str) -> Secret | None:
    value = env_value(env, name)
    return Secret(value) if value is not None else None


@dataclass(frozen=True)
class GenesysSettings:
    """How to reach Genesys Cloud: the API host, its login host, and an OAuth client (client credentials)."""

    api_url: str
    login_url: str
    client_id: str
    client_secret: Secret
    rate_limit_per_minute: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GenesysSettings:
        env = os.environ if env is None else env
        api_url_raw = env_value(env, "GENESYS_API_URL")
        region = env_value(env, "GENESYS_REGION")
        if api_url_raw is None and region is None:
            raise SettingsError("GENESYS_API_URL (or GENESYS_REGION, e.g. us_east_1) is not set")
        if api_url_raw is None:
            assert region is not None
            if region not in GENESYS_REGIONS:
                raise SettingsError(f"GENESYS_REGION {region!r} is not one of {', '.join(sorted(GENESYS_REGIONS))}")
            api_url_raw = GENESYS_REGIONS[region]
        api_url = url_value(env, "GENESYS_API_URL", api_url_raw)
        login_raw = env_value(env, "GENESYS_LOGIN_URL")
        login_url = url_value(env, "GENESYS_LOGIN_URL", login_raw) if login_raw else login_url_for(api_url)
        client_secret = secret_value(env, "GENESYS_CLIENT_SECRET")
        if client_secret is None:
            raise SettingsError("GENESYS_CLIENT_SECRET is not set")
        rate_limit = positive_int(env, "GENESYS_RATE_LIMIT_PER_MINUTE", 300)
        return cls(
            api_url=api_url,
            login_url=login_url,
            client_id=require_value(env, "GENESYS_CLIENT_ID"),
            client_secret=client_secret,
            rate_limit_per_minute=rate_limit,
        )

    @property
    def secrets(self) -> list[Secret | None]:
        return [self.client_secret]


def login_url_for(api_url: str) -> str:
    """The login host the Genesys SDK derives: `api.` -> `login.`; a host without `api.` stays as it is."""
    parts = urlsplit(api_url)
    host = parts.netloc
    if host.startswith("api."):
        host = "login." + host[len("api.") :]
    return f"{parts.scheme}://{host}"


@dataclass(frozen=True)
class LedgerSettings:
    """Where the sync ledger lives: any SQLAlchemy URL; a SQLite file under the data folder by default."""

    database_url: str = field(default="")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, default_dir: Path | None = None) -> LedgerSettings:
        env = os.environ if env is None else env
        url = env_value(env, "CONTACT_SYNC_DATABASE_URL")
        if url is None:
            folder = default_dir or Path(".contact_sync")
            return cls(database_url=f"sqlite:///{folder / 'ledger.sqlite'}")
        if "://" not in url:
            raise SettingsError(
                f"CONTACT_SYNC_DATABASE_URL must be a SQLAlchemy URL (postgresql://...), got {redact_url(url)!r}"
            )
        return cls(database_url=url)

    def __repr__(self) -> str:
        return f"LedgerSettings(database_url={redact_url(self.database_url)!r})"

    __str__ = __repr__


def redact_url(url: str) -> str:
    """`url` with the password in its user info (`user:password@host`) replaced by `***`."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    return f"{scheme}{sep}{netloc}{slash}{path}"
