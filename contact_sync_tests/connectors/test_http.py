"""Unit tests of the shared HTTP behaviour: backoff maths, the rate limiter, call counting, retries and errors.

HTTP is served by `httpx.MockTransport` (an httpx feature, standing in for a server); nothing of ours is mocked.
Sleeping is injected, so nothing here waits for real.
"""

from __future__ import annotations

import logging
import random
import threading

import httpx
import pytest

from contact_sync.connectors.http import (
    AuthError,
    CallCounter,
    Decision,
    OutcomeUnknown,
    RateLimited,
    RateLimiter,
    RequestRejected,
    ResilientClient,
    RetriesExhausted,
    RetryPolicy,
    call_with_retries,
    route_template,
    service_message,
)
from contact_sync.settings import Secret


class FakeTime:
    """A clock whose sleep advances it, so limiter and backoff tests run instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


# --- backoff -------------------------------------------------------------------------------------------------------


def test_backoff_doubles_and_caps_without_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=False)
    assert [policy.delay_for(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_jitter_stays_between_half_and_full_delay_and_varies() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0, jitter=True)
    rng = random.Random(7)
    delays = [policy.delay_for(3, rng) for _ in range(200)]
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100


def test_backoff_rejects_attempt_zero_and_bad_policies() -> None:
    with pytest.raises(ValueError):
        RetryPolicy().delay_for(0)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


# --- rate limiter --------------------------------------------------------------------------------------------------


def _max_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_rate_limiter_never_exceeds_limit_in_any_minute_and_keeps_close_to_it() -> None:
    fake = FakeTime()
    limiter = RateLimiter(300, clock=fake.clock, sleep=fake.sleep)
    stamps = []
    for _ in range(1500):
        limiter.acquire()
        stamps.append(fake.clock())
    assert _max_in_any_window(stamps, 60.0) <= 300
    elapsed_minutes = (stamps[-1] - stamps[0]) / 60.0
    rate = (len(stamps) - 1) / elapsed_minutes
    assert 0.9 * 300 <= rate <= 300


def test_rate_limiter_is_thread_safe() -> None:
    fake = FakeTime()
    limiter = RateLimiter(120, clock=fake.clock, sleep=fake.sleep)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            w = limiter.acquire()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 200 calls reserved distinct slots: the waits (each from the clock at reservation time) add up to at least
    # 199 intervals of pacing in total across the run.
    assert len(waits) == 200
    assert limiter._next is not None
    assert limiter._next - 1000.0 >= 199 * limiter.interval


def test_rate_limiter_off_never_waits() -> None:
    fake = FakeTime()
    limiter = RateLimiter(None, clock=fake.clock, sleep=fake.sleep)
    assert sum(limiter.acquire() for _ in range(1000)) == 0
    assert fake.sleeps == []


def test_rate_limiter_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)


# --- counting ------------------------------------------------------------------------------------------------------


def test_route_template_replaces_ids_only() -> None:
    assert (
        route_template("post", "https://h/api/v2/externalcontacts/bulk/contacts/update?x=1")
        == "POST /api/v2/externalcontacts/bulk/contacts/update"
    )
    assert (
        route_template("GET", "/api/v2/externalcontacts/contacts/3f1e2d4c-1a2b-4c3d-9e8f-001122334455")
        == "GET /api/v2/externalcontacts/contacts/{id}"
    )
    assert route_template("GET", "/api/v2/externalcontacts/externalsources") == (
        "GET /api/v2/externalcontacts/externalsources"
    )
    assert route_template("PATCH", "/services/data/v59.0/sobjects/Contact/003Hs00000AbCdEIAX") == (
        "PATCH /services/data/v59.0/sobjects/Contact/{id}"
    )
    guid = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    assert route_template("PATCH", f"/api/data/v9.2/contacts({guid})") == "PATCH /api/data/v9.2/contacts({id})"
    assert route_template("GET", "/services/data/v59.0/queryAll/01gHs00000AbCdE-2000") == (
        "GET /services/data/v59.0/queryAll/{locator}"
    )


def test_call_counter_counts_per_endpoint() -> None:
    counter = CallCounter()
    counter.count_request("GET", "/a/contacts/1")
    counter.count_request("GET", "/a/contacts/2")
    counter.count_request("POST", "/a/bulk")
    assert counter.as_dict() == {"GET /a/contacts/{id}": 2, "POST /a/bulk": 1}
    assert counter.total == 3


# --- the generic loop ----------------------------------------------------------------------------------------------


def test_call_with_retries_retries_transient_then_returns() -> None:
    fake = FakeTime()
    outcomes = iter([ValueError("boom"), ValueError("boom"), "ok"])

    def fn() -> str:
        item = next(outcomes)
        if isinstance(item, Exception):
            raise item
        return item

    def classify(result: str | None, exc: BaseException | None) -> Decision:
        return Decision.retry(str(exc)) if exc else Decision.done()

    policy = RetryPolicy(base_delay=1.0, jitter=False)
    assert call_with_retries(fn, classify, policy=policy, sleep=fake.sleep) == "ok"
    assert fake.sleeps == [1.0, 2.0]


def test_call_with_retries_is_bounded_and_typed() -> None:
    fake = FakeTime()
    calls = []

    def fn() -> str:
        calls.append(1)
        raise ConnectionError("down")

    with pytest.raises(RetriesExhausted, match="gave up after 3 attempts"):
        call_with_retries(fn, lambda r, e: Decision.retry(str(e)), policy=RetryPolicy(max_attempts=3), sleep=fake.sleep)
    assert len(calls) == 3


def test_call_with_retries_never_repeats_a_success() -> None:
    calls = []

    def fn() -> int:
        calls.append(1)
        return len(calls)

    assert call_with_retries(fn, lambda r, e: Decision.done()) == 1
    assert len(calls) == 1


def test_call_with_retries_waits_retry_after_and_bounds_429s() -> None:
    fake = FakeTime()
    with pytest.raises(RateLimited):
        call_with_retries(
            lambda: "429",
            lambda r, e: Decision.rate_limited(7.0),
            policy=RetryPolicy(max_rate_limited=3),
            sleep=fake.sleep,
        )
    assert fake.sleeps == [7.0, 7.0, 7.0]


# --- httpx ---------------------------------------------------------------------------------------------------------


class Script:
    """A scripted server for MockTransport: answers in order, records what it was sent."""

    def __init__(self, answers: list[httpx.Response | Exception]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Tokens:
    def __init__(self) -> None:
        self.issued = 0

    def token(self, *, refresh: bool = False) -> str:
        if refresh or self.issued == 0:
            self.issued += 1
        return f"tok-{self.issued}"


def make_client(script: Script, **kwargs: object) -> tuple[ResilientClient, FakeTime]:
    fake = FakeTime()
    client = httpx.Client(base_url="http://svc", transport=httpx.MockTransport(script))
    policy = kwargs.pop("policy", RetryPolicy(max_attempts=4, base_delay=0.1, jitter=False))
    return ResilientClient(client, policy=policy, sleep=fake.sleep, **kwargs), fake  # type: ignore[arg-type]


def test_client_retries_5xx_and_transport_errors_then_succeeds() -> None:
    script = Script(
        [
            httpx.Response(500, json={"message": "oops"}),
            httpx.RemoteProtocolError("peer closed"),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json={"ok": True}),
        ]
    )
    client, fake = make_client(script)
    assert client.get("/x").json() == {"ok": True}
    assert len(script.requests) == 4
    assert fake.sleeps == [0.1, 0.2, 0.4]
    assert client.counter.as_dict() == {"GET /x": 4}


def test_client_gives_up_with_typed_error() -> None:
    script = Script([httpx.Response(503, json={"message": "busy"})] * 4)
    client, _ = make_client(script)
    with pytest.raises(RetriesExhausted, match="busy"):
        client.get("/x")
    assert len(script.requests) == 4


def test_client_waits_retry_after_on_429() -> None:
    script = Script(
        [httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "slow down"}), httpx.Response(200)]
    )
    client, fake = make_client(script)
    assert client.get("/x").status_code == 200
    assert fake.sleeps == [3.0]


def test_client_rejects_4xx_with_service_message_and_no_retry() -> None:
    script = Script([httpx.Response(400, json={"message": "workEmail is not a valid email", "code": "bad.request"})])
    client, _ = make_client(script)
    with pytest.raises(RequestRejected) as info:
        client.post("/x", json={})
    assert info.value.status == 400
    assert info.value.message == "workEmail is not a valid email"
    assert len(script.requests) == 1


def test_client_refreshes_token_once_on_401_then_gives_auth_error() -> None:
    tokens = Tokens()
    script = Script([httpx.Response(401), httpx.Response(200)])
    client, _ = make_client(script, tokens=tokens)
    assert client.get("/x").status_code == 200
    assert [r.headers["Authorization"] for r in script.requests] == ["Bearer tok-1", "Bearer tok-2"]

    script2 = Script([httpx.Response(401), httpx.Response(401, json={"message": "expired"})])
    client2, _ = make_client(script2, tokens=Tokens())
    with pytest.raises(AuthError):
        client2.get("/x")
    assert len(script2.requests) == 2


def test_non_idempotent_request_is_not_repeated_when_outcome_is_ambiguous() -> None:
    script = Script([httpx.ReadTimeout("timed out"), httpx.Response(200)])
    client, _ = make_client(script)
    with pytest.raises(OutcomeUnknown):
        client.post("/bulk/add", json={}, idempotent=False)
    assert len(script.requests) == 1

    # A refused connection or a 503 proves nothing was applied: those are retried even for creates.
    script2 = Script([httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(200)])
    client2, _ = make_client(script2)
    assert client2.post("/bulk/add", json={}, idempotent=False).status_code == 200
    assert len(script2.requests) == 3


def test_secrets_are_redacted_from_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("s3cr3t-value")
    script = Script(
        [
            httpx.Response(500, json={"message": "bad client secret s3cr3t-value"}),
            httpx.Response(400, json={"message": "echo s3cr3t-value"}),
        ]
    )
    client, _ = make_client(script, secrets=[secret])
    with caplog.at_level(logging.DEBUG), pytest.raises(RequestRejected) as info:
        client.get("/x")
    assert "s3cr3t-value" not in str(info.value)
    assert "**********" in str(info.value)
    assert "s3cr3t-value" not in caplog.text
    assert "s3cr3t-value" not in repr(client)


def test_service_message_reads_each_service_shape() -> None:
    assert service_message(httpx.Response(400, json={"message": "genesys"})) == "genesys"
    assert service_message(httpx.Response(400, json={"error": {"code": "x", "message": "dynamics"}})) == "dynamics"
    assert service_message(httpx.Response(400, json=[{"message": "sf", "errorCode": "E"}])) == "sf"
    assert service_message(httpx.Response(502, text="")) == "HTTP 502"
