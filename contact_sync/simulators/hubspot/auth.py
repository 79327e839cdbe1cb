"""HubSpot authentication: a private-app access token, and OAuth access tokens from `POST /oauth/v1/token`.

Both are sent as `Authorization: Bearer <token>`. The private-app token never expires (HubSpot's do not; rotate it by
constructing the simulator with another). OAuth access tokens live `token_lifetime_s` (1800 s, HubSpot's 30 minutes)
on the simulator clock and are kept in the store, so a restarted simulator on the same state folder still accepts
them. The refresh token is long-lived and the same one comes back on every refresh, as HubSpot does.

Token errors on `/oauth/v1/token` use HubSpot's OAuth shape, `{status: "BAD_REFRESH_TOKEN", message, correlationId}`.
A missing or unknown Bearer token on the API gets 401 INVALID_AUTHENTICATION; an expired OAuth token gets 401
EXPIRED_AUTHENTICATION ("The OAuth token used to make this call expired N minute(s) ago.").
"""

from __future__ import annotations

import hmac
import math
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from contact_sync.simulators.credentials import bearer_token
from contact_sync.simulators.hubspot.errors import expired_authentication, invalid_authentication
from contact_sync.simulators.hubspot.schema import iso_ms
from contact_sync.simulators.hubspot.store import Store

PRIVATE_APP = "private-app"


class OAuthError(Exception):
    """A refused token request: HTTP status and HubSpot's OAuth error status/message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self, correlation_id: str) -> dict[str, Any]:
        return {"status": self.code, "message": self.message, "correlationId": correlation_id}


class Auth:
    """Issues and checks the tokens of one HubSpot account (one private app, one OAuth app)."""

    def __init__(
        self,
        store: Store,
        *,
        private_token: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        auth_code: str,
        lifetime_s: int,
        now: Callable[[], float],
    ) -> None:
        self.store = store
        self.private_token = private_token
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.auth_code = auth_code
        self.lifetime_s = lifetime_s
        self.now = now

    def __repr__(self) -> str:
        return f"Auth(client_id={self.client_id!r}, client_secret='***')"

    def grant(self, form: dict[str, str]) -> dict[str, Any]:
        """The token response of a `refresh_token` or `authorization_code` grant, or an `OAuthError`."""
        grant = form.get("grant_type", "")
        if grant not in ("refresh_token", "authorization_code"):
            raise OAuthError(400, "BAD_GRANT_TYPE", f"grant_type must be authorization_code or refresh_token: {grant}")
        if not hmac.compare_digest(form.get("client_id", ""), self.client_id):
            raise OAuthError(400, "BAD_CLIENT_ID", "missing or unknown client id")
        if not hmac.compare_digest(form.get("client_secret", ""), self.client_secret):
            raise OAuthError(400, "BAD_CLIENT_SECRET", "missing or invalid client secret")
        if grant == "refresh_token":
            if not hmac.compare_digest(form.get("refresh_token", ""), self.refresh_token):
                raise OAuthError(400, "BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        else:
            if not form.get("redirect_uri"):
                raise OAuthError(400, "BAD_REDIRECT_URI", "missing redirect_uri")
            if not hmac.compare_digest(form.get("code", ""), self.auth_code):
                raise OAuthError(400, "BAD_AUTH_CODE", "missing or unknown auth code")
        return self.issue()

    def issue(self) -> dict[str, Any]:
        """A new OAuth access token (as a grant would return it)."""
        token = "CO" + secrets.token_urlsafe(48)
        self.store.add_token(token, self.client_id, self.now() + self.lifetime_s)
        return {
            "access_token": token,
            "refresh_token": self.refresh_token,
            "expires_in": self.lifetime_s,
            "token_type": "bearer",
        }

    def check(self, authorization: str | None) -> str:
        """The Bearer token of a valid call (the rate-limit key); a 401 `ApiError` when missing, unknown or expired."""
        token = bearer_token(authorization)
        if not token:
            raise invalid_authentication()
        if hmac.compare_digest(token, self.private_token):
            return PRIVATE_APP
        found = self.store.token(token)
        if found is None:
            raise invalid_authentication()
        now = self.now()
        expires = found[1]
        if expires <= now:
            raise expired_authentication(math.floor((now - expires) / 60), iso_ms(datetime.fromtimestamp(expires, UTC)))
        return token

    def expire_all(self) -> None:
        """Every OAuth access token issued so far expires now (the private-app token stays valid)."""
        now = self.now()
        with self.store.transaction() as db:
            db.execute("UPDATE oauth_tokens SET expires = min(expires, ?)", (now,))
