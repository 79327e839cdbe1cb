"""Getting a Salesforce session: an OAuth refresh token, OAuth client credentials, username/password/token (SOAP), or
a given session id.

Each way returns a `SalesforceLogin` (session id and instance URL). Logins go through the caller's
`requests.Session` (so the CA bundle and call counting apply) and through simple-salesforce's own SOAP login, pointed
at the configured instance rather than `login.salesforce.com`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import requests
from simple_salesforce.exceptions import SalesforceAuthenticationFailed
from simple_salesforce.login import SalesforceLogin as soap_login

from contact_sync.connectors.http import AuthError
from contact_sync.crms.salesforce.settings import SalesforceSettings
from contact_sync.settings import Secret, redact

AuthMethod = Literal["refresh_token", "client_credentials", "password", "session_id"]


@dataclass(frozen=True)
class SalesforceLogin:
    """A session: the id (a secret) and the instance URL to call with it."""

    session_id: Secret
    instance_url: str


def auth_method(settings: SalesforceSettings) -> AuthMethod:
    """How to log in again when a session expires: a refresh token first (set only to be used), then client
    credentials, then username/password.

    A given session id with none of them cannot be renewed; it is used as it is (`session_id`).
    """
    if settings.refresh_token and settings.client_id:
        return "refresh_token"
    if settings.client_id and settings.client_secret:
        return "client_credentials"
    if settings.username and settings.password:
        return "password"
    if settings.session_id:
        return "session_id"
    raise AuthError(
        "Salesforce settings hold no way to log in: give a client id and secret, a username and password, "
        "or a session id"
    )


def login(settings: SalesforceSettings, http: requests.Session, method: AuthMethod | None = None) -> SalesforceLogin:
    """Log in by `method` (default: the first one the settings allow) and return the new session."""
    method = method or auth_method(settings)
    try:
        if method == "refresh_token":
            return _refresh_token(settings, http)
        if method == "client_credentials":
            return _client_credentials(settings, http)
        if method == "password":
            return _password(settings, http)
        if settings.session_id is None:
            raise AuthError("no Salesforce session id is set")
        return SalesforceLogin(settings.session_id, settings.instance_url)
    except SalesforceAuthenticationFailed as exc:
        message = redact(str(exc), settings.secrets)
        raise AuthError(f"Salesforce login ({method}) failed: {message}") from None


def _client_credentials(settings: SalesforceSettings, http: requests.Session) -> SalesforceLogin:
    """POST {instance}/services/oauth2/token with grant_type=client_credentials and Basic auth of the client."""
    assert settings.client_id is not None and settings.client_secret is not None
    response = http.post(
        f"{settings.instance_url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(settings.client_id, settings.client_secret.reveal()),
        headers={"Accept": "application/json"},
    )
    return _token_login(response, settings, "client_credentials")


def _refresh_token(settings: SalesforceSettings, http: requests.Session) -> SalesforceLogin:
    """POST {instance}/services/oauth2/token with grant_type=refresh_token, the client id and (when set) secret in
    the form, as the OAuth refresh flow sends them."""
    assert settings.refresh_token is not None and settings.client_id is not None
    form = {
        "grant_type": "refresh_token",
        "refresh_token": settings.refresh_token.reveal(),
        "client_id": settings.client_id,
    }
    if settings.client_secret is not None:
        form["client_secret"] = settings.client_secret.reveal()
    response = http.post(
        f"{settings.instance_url}/services/oauth2/token", data=form, headers={"Accept": "application/json"}
    )
    return _token_login(response, settings, "refresh_token")


def _token_login(response: requests.Response, settings: SalesforceSettings, method: str) -> SalesforceLogin:
    """The session of a token endpoint's answer; `AuthError` naming the OAuth error (secrets redacted)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
        error = body.get("error", "") if isinstance(body, dict) else ""
        description = body.get("error_description", "") if isinstance(body, dict) else ""
        detail = redact(f"{error} {description}".strip() or response.text[:200], settings.secrets)
        raise AuthError(f"Salesforce login ({method}) failed: HTTP {response.status_code}: {detail}")
    instance_url = str(body.get("instance_url") or settings.instance_url).rstrip("/")
    return SalesforceLogin(Secret(str(body["access_token"])), instance_url)


def _password(settings: SalesforceSettings, http: requests.Session) -> SalesforceLogin:
    """simple-salesforce's SOAP login, sent to {instance}/services/Soap/u/{version} (its `scratch_url`)."""
    assert settings.username is not None and settings.password is not None
    token = settings.security_token.reveal() if settings.security_token else None
    session_id, sf_instance = soap_login(
        username=settings.username,
        password=settings.password.reveal(),
        security_token=token,
        sf_version=settings.api_version,
        session=http,
        scratch_url=settings.instance_url,
    )
    return SalesforceLogin(Secret(session_id), f"https://{sf_instance}")
