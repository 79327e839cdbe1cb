"""OAuth client credentials as Genesys Cloud does it: `POST /oauth/token` with Basic auth, then Bearer tokens.

Token errors on `/oauth/token` use the OAuth shape (`{error, description, error_description}`); a bad or expired
Bearer token on the API gets a 401 ErrorBody. Tokens are kept in the store so they survive a restart on a state folder.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Any

from contact_sync.simulators.credentials import basic_credentials, bearer_token
from contact_sync.simulators.genesys.errors import bad_token
from contact_sync.simulators.genesys.store import Store


class OAuthError(Exception):
    """A refused token request: status and the OAuth error body."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "description": description, "error_description": description}


class TokenIssuer:
    """Issues and checks the Bearer tokens of one OAuth client."""

    def __init__(self, store: Store, client_id: str, client_secret: str, lifetime_s: int, now: Callable[[], float]):
        self.store = store
        self.client_id = client_id
        self.client_secret = client_secret
        self.lifetime_s = lifetime_s
        self.now = now

    def __repr__(self) -> str:
        return f"TokenIssuer(client_id={self.client_id!r}, client_secret='***')"

    def issue(self, authorization: str | None, form: dict[str, str]) -> dict[str, Any]:
        """The token response for a client-credentials request, or an `OAuthError`."""
        creds = basic_credentials(authorization)
        if creds is None:
            raise OAuthError(401, "invalid_client", "client authentication (HTTP Basic) is required")
        client_id, secret = creds
        if not hmac.compare_digest(client_id, self.client_id):
            raise OAuthError(401, "invalid_client", "client not found")
        if not hmac.compare_digest(secret, self.client_secret):
            raise OAuthError(401, "invalid_client", "authentication failed")
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError(400, "invalid_request", "grant_type is required")
        if grant != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", f"unsupported grant type: {grant}")
        token = secrets.token_urlsafe(48)
        self.store.add_token(token, self.client_id, self.now() + self.lifetime_s)
        return {"access_token": token, "token_type": "bearer", "expires_in": self.lifetime_s}

    def check(self, authorization: str | None) -> str:
        """The Bearer token of a valid call; a 401 `ApiError` when missing, unknown or expired."""
        token = bearer_token(authorization)
        found = None if token is None else self.store.token(token)
        if token is None or found is None or found[1] <= self.now():
            raise bad_token()
        return token

    def expire_all(self) -> None:
        self.store.expire_tokens()
