"""OAuth client-credentials tokens for the httpx connectors (Genesys, Dynamics): cached until shortly before they
expire, fetched again on demand (the `ResilientClient` asks for a fresh one once after a 401). Thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from contact_sync.connectors.http import (
    AuthError,
    CallCounter,
    Clock,
    Decision,
    RetryPolicy,
    SecretList,
    Sleep,
    call_with_retries,
    retry_after_seconds,
    service_message,
)
from contact_sync.settings import redact


class TokenCache:
    """A client-credentials token obtained by `post()` (the service's token request), counted as `endpoint`.

    Token requests are retried on transport errors, 429 and 5xx; any other refusal is an `AuthError` naming
    `service`. A response without `expires_in` is taken to live `default_lifetime` seconds.
    """

    def __init__(
        self,
        post: Callable[[], httpx.Response],
        *,
        service: str,
        endpoint: str,
        default_lifetime: float,
        counter: CallCounter,
        policy: RetryPolicy,
        secrets: SecretList = (),
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._post = post
        self._service = service
        self._endpoint = endpoint
        self._default_lifetime = default_lifetime
        self._counter = counter
        self._policy = policy
        self._secrets = list(secrets)
        self._clock = clock
        self._sleep = sleep
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.issued = 0

    def token(self, *, refresh: bool = False) -> str:
        with self._lock:
            if refresh or self._token is None or self._clock() >= self._expires_at:
                self._token, lifetime = self._fetch()
                # Renew a little before the service would refuse it: 10% of the lifetime, at most a minute.
                self._expires_at = self._clock() + lifetime - min(60.0, lifetime * 0.1)
                self.issued += 1
            return self._token

    def _fetch(self) -> tuple[str, float]:
        def attempt() -> httpx.Response:
            self._counter.count(self._endpoint)
            return self._post()

        def classify(response: httpx.Response | None, exc: BaseException | None) -> Decision:
            if exc is not None:
                if isinstance(exc, httpx.TransportError):
                    return Decision.retry(f"{type(exc).__name__}: {exc}")
                return Decision("raise", str(exc))
            assert response is not None
            if response.status_code < 300:
                return Decision.done()
            message = redact(service_message(response), self._secrets)
            if response.status_code == 429:
                return Decision.rate_limited(retry_after_seconds(response), f"429 {message}")
            if response.status_code >= 500:
                return Decision.retry(f"{response.status_code} {message}")
            return Decision.fail(
                AuthError(
                    f"{self._service} token request refused ({response.status_code}): {message}",
                    status=response.status_code,
                    endpoint=self._endpoint,
                )
            )

        response = call_with_retries(
            attempt, classify, policy=self._policy, sleep=self._sleep, what=self._endpoint, secrets=self._secrets
        )
        try:
            body = response.json()
            return str(body["access_token"]), float(body.get("expires_in") or self._default_lifetime)
        except (ValueError, KeyError, TypeError):
            raise AuthError(f"{self._service} token response has no access_token", endpoint=self._endpoint) from None

    def __repr__(self) -> str:
        return f"TokenCache(service={self._service!r}, issued={self.issued})"
