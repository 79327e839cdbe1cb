"""HTTP behaviour every connector shares: client-side rate limiting, bounded retries with backoff, call counting,
typed errors whose text never carries a secret, and a resilient wrapper around one `httpx.Client`.

`call_with_retries(fn, classify)` is the generic loop (usable around any client, e.g. simple-salesforce);
`ResilientClient` applies it to httpx requests with the usual HTTP classification (2xx done, 429 wait `Retry-After`,
5xx/timeouts/dropped connections retried, 401 refresh the token once, other 4xx rejected with the service's message).
"""

from __future__ import annotations

import json
import logging
import random
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

import httpx

from contact_sync.settings import Secret, redact
from contact_sync.sync.record_ids import SALESFORCE_ID_RE

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], None]
Clock = Callable[[], float]
SecretList = Iterable[Secret | str | None]


# --- errors -----------------------------------------------------------------------------------------------------


class ConnectorError(Exception):
    """Base of every error a connector raises; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.endpoint = endpoint


class AuthError(ConnectorError):
    """The service refused our credentials (token request failed, or a fresh token was refused)."""


class RetriesExhausted(ConnectorError):
    """Transient failures (5xx, timeouts, dropped connections) went on past the retry policy's bound."""


ServiceUnavailable = RetriesExhausted


class RateLimited(RetriesExhausted):
    """The service kept answering 429 past the bound (or asked for a longer wait than we accept)."""


class RequestRejected(ConnectorError):
    """The service rejected the request (4xx other than 401/429); `message` is the service's own message."""

    def __init__(
        self, message: str, *, status: int | None = None, endpoint: str | None = None, body: Any = None
    ) -> None:
        super().__init__(message, status=status, endpoint=endpoint)
        self.body = body


class OutcomeUnknown(ConnectorError):
    """A non-idempotent request failed in a way that leaves unknown whether the service applied it
    (timeout after sending, connection dropped mid-response, 500): the caller must check before repeating it."""


# --- retry policy and rate limiter ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: exponential backoff from `base_delay`, capped at `max_delay`, with jitter.

    `max_attempts` bounds transient failures (5xx, timeouts, drops); `max_rate_limited` bounds 429 answers, each
    waited for its `Retry-After` (refused if longer than `max_retry_after`).
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: bool = True
    max_rate_limited: int = 10
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must be >= 0")

    def delay_for(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based): base * 2^(attempt-1), capped; with
        jitter a uniform value in [half, full] of that, so concurrent clients spread out but never retry at once."""
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        delay = min(self.max_delay, self.base_delay * (2 ** min(attempt - 1, 62)))
        if self.jitter and delay > 0:
            delay = delay / 2 + (rng or random).uniform(0, delay / 2)
        return delay


class RateLimiter:
    """Client-side limiter that keeps calls below `per_minute` in every 60-second window; `None` disables it.

    Calls are paced evenly (a token bucket holding one token), slightly under the limit (`headroom`), so a service
    counting calls in any sliding or fixed minute never sees more than the limit, and steady throughput stays close
    to it. Thread-safe: each caller reserves the next free slot under a lock and sleeps outside it.
    """

    def __init__(
        self,
        per_minute: int | None,
        *,
        window: float = 60.0,
        headroom: float = 0.02,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if per_minute is not None and per_minute < 1:
            raise ValueError("per_minute must be a positive number (or None for no limit)")
        self.per_minute = per_minute
        self.interval = 0.0 if per_minute is None else window / (per_minute * (1.0 - headroom))
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> float:
        """Block until a call may be made; returns the seconds waited."""
        if self.per_minute is None:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = now if self._next is None else max(now, self._next)
            self._next = slot + self.interval
            wait = slot - now
            self.waited += wait
        if wait > 0:
            self._sleep(wait)
        return wait

    def __repr__(self) -> str:
        return f"RateLimiter(per_minute={self.per_minute})"


# --- call counting ----------------------------------------------------------------------------------------------

_ID_SEGMENT = re.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # uuid
    r"|[a-zA-Z0-9]{15}|[a-zA-Z0-9]{18}"  # Salesforce ids
    r"|\d+)$"
)
# An OData key, `contacts(<guid>)`.
_ODATA_KEY = re.compile(r"\([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\)")
# A Salesforce query cursor's next page, `/services/data/vNN.N/queryAll/01g...-2000`.
_QUERY_LOCATOR = re.compile(r"(/services/data/v[\d.]+/(?:query|queryAll))/[^/]+$")


def tls_verify(ca_bundle: str | None) -> ssl.SSLContext | bool:
    """What httpx's `verify` takes: a context that trusts `ca_bundle` (a private CA, e.g. a simulator's), or the
    system's trust store."""
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True


def route_template(method: str, url: str | httpx.URL) -> str:
    """`METHOD /path` with ids replaced by `{id}` and the query dropped, e.g. `GET /api/v2/.../contacts/{id}`,
    `PATCH /api/data/v9.2/contacts({id})`, `GET /services/data/v59.0/queryAll/{locator}`."""
    path = _QUERY_LOCATOR.sub(r"\1/{locator}", _ODATA_KEY.sub("({id})", httpx.URL(str(url)).path))
    segments = []
    for segment in path.split("/"):
        # A 15/18-character Salesforce id always has a digit; plain words of that length (e.g. "externalsources")
        # must stay.
        is_id = bool(_ID_SEGMENT.match(segment)) and (
            not SALESFORCE_ID_RE.match(segment) or any(c.isdigit() for c in segment)
        )
        segments.append("{id}" if is_id else segment)
    return f"{method.upper()} {'/'.join(segments)}"


class CallCounter:
    """Counts every call made, per endpoint (`METHOD /route/{id}`), for the run report, and the notable answers in
    `events` ("429", "401", "error" for other failed statuses, exception names): how often the service pushed back.
    Thread-safe."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self._lock = threading.Lock()

    def note(self, event: str) -> None:
        with self._lock:
            self.events[event] += 1

    def count(self, endpoint: str, n: int = 1) -> None:
        with self._lock:
            self._counts[endpoint] += n

    def count_request(self, method: str, url: str | httpx.URL) -> str:
        endpoint = route_template(method, url)
        self.count(endpoint)
        return endpoint

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def get(self, endpoint: str) -> int:
        with self._lock:
            return self._counts.get(endpoint, 0)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))

    def __repr__(self) -> str:
        return f"CallCounter(total={self.total})"


# --- the generic retry loop -------------------------------------------------------------------------------------

Action = Literal["return", "retry", "wait", "again", "raise"]


@dataclass(frozen=True)
class Decision:
    """What `call_with_retries` does with one attempt's result or exception."""

    action: Action
    reason: str = ""
    wait: float | None = None
    error: ConnectorError | None = None

    @classmethod
    def done(cls) -> Decision:
        return cls("return")

    @classmethod
    def retry(cls, reason: str) -> Decision:
        """A transient failure: back off by the policy and try again (bounded by `max_attempts`)."""
        return cls("retry", reason)

    @classmethod
    def rate_limited(cls, seconds: float | None, reason: str = "rate limited") -> Decision:
        """The service said 429: wait `seconds` (or the policy's backoff when unknown) and try again."""
        return cls("wait", reason, wait=seconds)

    @classmethod
    def again(cls, reason: str) -> Decision:
        """Try again at once, uncounted (e.g. after refreshing a token); the classifier must bound this itself."""
        return cls("again", reason)

    @classmethod
    def fail(cls, error: ConnectorError) -> Decision:
        return cls("raise", str(error), error=error)


def call_with_retries(
    fn: Callable[[], T],
    classify: Callable[[T | None, BaseException | None], Decision],
    *,
    policy: RetryPolicy | None = None,
    limiter: RateLimiter | None = None,
    sleep: Sleep = time.sleep,
    rng: random.Random | None = None,
    what: str = "call",
    secrets: SecretList = (),
) -> T:
    """Call `fn` until `classify` says it is done, retrying transient failures with backoff and waiting out 429s.

    `classify(result, None)` or `classify(None, exception)` decides each attempt: `Decision.done()` returns the
    result at once (a success is never repeated); `retry` backs off by the policy; `rate_limited` waits the given
    seconds; `again` repeats at once (the classifier bounds it); `fail(error)` raises that error, and a bare
    `Decision("raise")` re-raises the attempt's own exception. Past the policy's bounds the last reason is raised as
    `RetriesExhausted` (or `RateLimited`). Messages are redacted of `secrets`. The limiter, if any, is acquired
    before every attempt.

    Salesforce-style use: `call_with_retries(lambda: sf.query(q), classify_salesforce, policy=..., limiter=...)`.
    """
    policy = policy or RetryPolicy()
    secrets = list(secrets)
    failures = 0
    limited = 0
    while True:
        if limiter is not None:
            limiter.acquire()
        result: T | None = None
        exc: BaseException | None = None
        try:
            result = fn()
        except Exception as caught:
            exc = caught
        decision = classify(result, exc)
        if decision.action == "return":
            if exc is not None:
                raise exc
            return result  # type: ignore[return-value]
        reason = redact(decision.reason, secrets)
        if decision.action == "raise":
            if decision.error is None:
                assert exc is not None
                raise exc
            raise decision.error from exc
        if decision.action == "again":
            log.info("%s: %s; trying again", what, reason)
            continue
        if decision.action == "wait":
            limited += 1
            wait = decision.wait if decision.wait is not None else policy.delay_for(limited, rng)
            if limited > policy.max_rate_limited:
                raise RateLimited(f"{what}: still rate limited after {limited} answers: {reason}", status=429) from exc
            if wait > policy.max_retry_after:
                raise RateLimited(
                    f"{what}: service asks to wait {wait:.0f}s, more than we accept: {reason}", status=429
                )
            log.info("%s rate limited; waiting %.1fs (%d)", what, wait, limited)
            sleep(wait)
            continue
        failures += 1
        if failures >= policy.max_attempts:
            raise RetriesExhausted(f"{what}: gave up after {failures} attempts: {reason}") from exc
        delay = policy.delay_for(failures, rng)
        log.info("%s failed (%s); retry %d in %.2fs", what, reason, failures, delay)
        sleep(delay)


# --- httpx ------------------------------------------------------------------------------------------------------


class TokenSource(Protocol):
    """Gives a bearer token; `refresh=True` forces a new one (after the service refused the cached one)."""

    def token(self, *, refresh: bool = False) -> str: ...


# Exceptions raised before a request can have reached the service: always safe to repeat.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def service_message(response: httpx.Response) -> str:
    """The service's own error message from a response body (Genesys, Dynamics and Salesforce shapes), else text."""
    try:
        body = response.json()
    except (json.JSONDecodeError, ValueError):
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return body["message"]
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(body.get("error_description"), str):
            return body["error_description"]
        if isinstance(error, str):
            return error
    if isinstance(body, list):
        messages = [str(item.get("message")) for item in body if isinstance(item, dict) and item.get("message")]
        if messages:
            return "; ".join(messages)
    text = response.text.strip()
    return text[:500] if text else f"HTTP {response.status_code}"


class Answer(Protocol):
    """An HTTP response of httpx or requests: all `retry_after_seconds` reads."""

    @property
    def headers(self) -> Mapping[str, str]: ...


def retry_after_seconds(response: Answer) -> float | None:
    """`Retry-After` in seconds (the services send whole seconds), or None when absent or not a number."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass
class ResilientClient:
    """One `httpx.Client` behind the shared behaviour: rate limit, retries, 401 token refresh, counting, typed errors.

    `request()` returns a 2xx response or raises a `ConnectorError`. `idempotent=False` (e.g. bulk creates) retries
    only failures that prove the request never arrived (connect errors, 429, 503); anything ambiguous raises
    `OutcomeUnknown` so the caller can check what was applied before repeating it.
    """

    client: httpx.Client
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    limiter: RateLimiter | None = None
    counter: CallCounter = field(default_factory=CallCounter)
    tokens: TokenSource | None = None
    secrets: list[Secret | str | None] = field(default_factory=list)
    sleep: Sleep = time.sleep
    rng: random.Random | None = None

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        content: bytes | None = None,
    ) -> httpx.Response:
        endpoint = route_template(method, url)
        refreshed = False
        force_refresh = False

        def attempt() -> httpx.Response:
            nonlocal force_refresh
            sent = dict(headers or {})
            if self.tokens is not None:
                sent["Authorization"] = f"Bearer {self.tokens.token(refresh=force_refresh)}"
                force_refresh = False
            self.counter.count(endpoint)
            return self.client.request(method, url, json=json, params=params, headers=sent, content=content)

        def classify(response: httpx.Response | None, exc: BaseException | None) -> Decision:
            nonlocal refreshed, force_refresh
            if exc is not None:
                if isinstance(exc, ConnectorError):
                    return Decision.fail(exc)
                self.counter.note(type(exc).__name__)
                if isinstance(exc, _NOT_SENT):
                    return Decision.retry(f"{type(exc).__name__}: {exc}")
                if isinstance(exc, httpx.TransportError):
                    if not idempotent:
                        return Decision.fail(
                            OutcomeUnknown(f"{endpoint}: {type(exc).__name__}: {exc}", endpoint=endpoint)
                        )
                    return Decision.retry(f"{type(exc).__name__}: {exc}")
                return Decision("raise", str(exc))
            assert response is not None
            status = response.status_code
            if status < 300:
                return Decision.done()
            self.counter.note(str(status) if status in (401, 429) else "error")
            message = redact(service_message(response), self.secrets)
            if status == 401 and self.tokens is not None and not refreshed:
                refreshed = True
                force_refresh = True
                return Decision.again("401: token refused, refreshing it")
            if status == 401:
                return Decision.fail(AuthError(f"{endpoint}: 401 {message}", status=401, endpoint=endpoint))
            if status == 429:
                return Decision.rate_limited(retry_after_seconds(response), f"429 {message}")
            if status == 503 or (status >= 500 and idempotent):
                return Decision.retry(f"{status} {message}")
            if status >= 500:
                return Decision.fail(
                    OutcomeUnknown(f"{endpoint}: {status} {message}", status=status, endpoint=endpoint)
                )
            body = _json_or_none(response)
            return Decision.fail(RequestRejected(message, status=status, endpoint=endpoint, body=body))

        return call_with_retries(
            attempt,
            classify,
            policy=self.policy,
            limiter=self.limiter,
            sleep=self.sleep,
            rng=self.rng,
            what=endpoint,
            secrets=self.secrets,
        )

    def post(self, url: str, *, json: Any = None, idempotent: bool = True) -> httpx.Response:
        return self.request("POST", url, json=json, idempotent=idempotent)

    def get(self, url: str, *, params: Mapping[str, Any] | None = None) -> httpx.Response:
        return self.request("GET", url, params=params)

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"ResilientClient(base_url={str(self.client.base_url)!r}, calls={self.counter.total})"


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, ValueError):
        return None
