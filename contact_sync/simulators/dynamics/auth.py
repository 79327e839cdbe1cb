"""The Microsoft identity platform's client-credentials flow, as the simulator serves it on its own host.

`POST /{tenant}/oauth2/v2.0/token` with a form body (`grant_type=client_credentials`, `client_id`, `client_secret` or
HTTP Basic, `scope={org url}/.default`) returns `{token_type, expires_in, ext_expires_in, access_token}`. Refusals use
the identity platform's shape (`error`, `error_description` starting with an AADSTS code, `error_codes`, `timestamp`,
`trace_id`, `correlation_id`, `error_uri`) and its statuses: 400 for a bad request, tenant, client id or scope,
401 for a missing or wrong secret. Tokens live in the store, so they survive a restart on a state folder.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from contact_sync.simulators.credentials import basic_credentials, bearer_token
from contact_sync.simulators.dynamics.errors import unauthorized
from contact_sync.simulators.dynamics.store import Store


class OAuthError(Exception):
    """A refused token request: status and the identity platform's error body."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        self.status = status
        self.body: dict[str, Any] = {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace_id} "
            f"Correlation ID: {correlation_id} Timestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        }


def _missing(name: str) -> OAuthError:
    return OAuthError(
        400, "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'."
    )


class TokenIssuer:
    """Issues and checks the Bearer tokens of one app registration in one tenant."""

    def __init__(
        self,
        store: Store,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        lifetime_s: int,
        now: Callable[[], float],
    ) -> None:
        self.store = store
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.lifetime_s = lifetime_s
        self.now = now

    def __repr__(self) -> str:
        return f"TokenIssuer(tenant_id={self.tenant_id!r}, client_id={self.client_id!r}, client_secret='***')"

    def issue(
        self, tenant: str, form: dict[str, str], authorization: str | None, resources: set[str]
    ) -> dict[str, Any]:
        """The token response, or an `OAuthError`. `resources`: the org URLs a `{url}/.default` scope may name."""
        if tenant.lower() != self.tenant_id.lower():
            raise OAuthError(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
                "into the correct cloud.",
            )
        grant = form.get("grant_type")
        if not grant:
            raise _missing("grant_type")
        if grant != "client_credentials":
            raise OAuthError(
                400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'."
            )
        # Client credentials in Basic are form-encoded first (RFC 6749, section 2.3.1).
        basic = basic_credentials(authorization)
        basic = (unquote(basic[0]), unquote(basic[1])) if basic else None
        client_id = form.get("client_id") or (basic[0] if basic else None)
        secret = form.get("client_secret") or (basic[1] if basic else None)
        if not client_id:
            raise _missing("client_id")
        if not hmac.compare_digest(client_id.lower(), self.client_id.lower()):
            raise OAuthError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can "
                "happen if the application has not been installed by the administrator of the tenant.",
            )
        if not secret:
            raise OAuthError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )
        if not hmac.compare_digest(secret.encode(), self.client_secret.encode()):
            raise OAuthError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{self.client_id}'.",
            )
        scope = form.get("scope")
        if not scope:
            raise OAuthError(
                400,
                "invalid_request",
                90014,
                "The required field 'scope' is missing from the credential. Ensure that you have all the necessary "
                "parameters for the login request.",
            )
        if not scope.endswith("/.default") or " " in scope.strip():
            raise OAuthError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
                "with /.default suffixed to the resource identifier (application ID URI).",
            )
        resource = scope[: -len("/.default")].rstrip("/").lower()
        if resource not in {r.rstrip("/").lower() for r in resources}:
            raise OAuthError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named {tenant}. This can "
                "happen if the application has not been installed by the administrator of the tenant.",
            )
        token = secrets.token_urlsafe(48)
        self.store.add_token(token, self.client_id, self.now() + self.lifetime_s)
        return {
            "token_type": "Bearer",
            "expires_in": self.lifetime_s,
            "ext_expires_in": self.lifetime_s,
            "access_token": token,
        }

    def check(self, authorization: str | None) -> str:
        """The client id behind a valid Bearer token; a 401 `ApiError` when missing, unknown or expired."""
        token = bearer_token(authorization)
        found = None if token is None else self.store.token(token)
        if found is None:
            raise unauthorized()
        client_id, expires = found
        if expires <= self.now():
            raise unauthorized(expired=True)
        return client_id

    def expire_all(self) -> None:
        self.store.expire_tokens()
