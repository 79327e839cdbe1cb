"""Fault injection for the simulators: rules that make a service answer with the failures a real sync meets.

A rule names what to fail (`kind`), which calls it applies to (a regex on the path, optionally a method) and how
often (every matching call, every Nth, with a probability, and/or at most `count` times). Decisions come from a seeded
random generator and per-rule counters, so a test that sets the same rules and makes the same calls sees the same
faults.

`corrupt` answers normally: the service's own JSON answer goes out with one value replaced in
every object of it that carries the rule's `match` key/values (e.g. `{"Id": "003..."}`), at the keys `at` leads to
from that object. It is how a test makes a service send the odd record a real org holds (a number where text was
promised, an object, a huge string) through the real wire format, and it applies together with any other rule.

`failed` answers normally too: an asynchronous job the matching call starts (a Genesys contact export) ends FAILED.
The service asks `FaultInjector.fails_job` when it creates the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import random
import re
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["429", "500", "503", "slow", "drop", "lost", "expired_token", "corrupt", "failed"]
FAULT_KINDS: tuple[str, ...] = ("429", "500", "503", "slow", "drop", "lost", "expired_token", "corrupt", "failed")
_ANSWERING: tuple[str, ...] = ("corrupt", "failed")
"""Kinds that let the call through to the service (the middleware picks none of them)."""


@dataclass(frozen=True)
class FaultRule:
    """One fault: what to answer, for which calls, and how often.

    - `path`: a regular expression searched in the request path (`re.search`), e.g. `/scan/contacts`.
    - `method`: only this HTTP method (upper case) when set.
    - `every`: fire on every Nth matching call (1st, N+1th, ... counted from 1: calls N, 2N, 3N fire).
    - `probability`: fire with this probability (seeded).
    - `count`: fire at most this many times in all; with neither `every` nor `probability`, fire on the first
      `count` matching calls.
    - `retry_after`: seconds in the `Retry-After` header of a 429 (and 503).
    - `delay`: seconds a `slow` response waits before it is answered normally.
    - `skip`: let the first `skip` matching calls through before the rule starts counting.
    - `match`, `at`, `value` (`corrupt` only): objects of the answer carrying every `match` key/value get `value`
      at the keys (and list positions) `at`; with an empty `at` the object itself is replaced.
    """

    kind: FaultKind
    path: str = ""
    method: str | None = None
    every: int | None = None
    probability: float | None = None
    count: int | None = None
    retry_after: int = 1
    delay: float = 5.0
    skip: int = 0
    match: dict[str, Any] | None = None
    at: tuple[str | int, ...] = ()
    value: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", tuple(self.at))
        if self.kind == "corrupt" and not self.match:
            raise ValueError("a corrupt rule needs `match`: the key/values of the objects it corrupts")
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if self.every is not None and self.every < 1:
            raise ValueError("every must be >= 1")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if self.count is not None and self.count < 0:
            raise ValueError("count must be >= 0")
        try:
            re.compile(self.path)
        except re.error as exc:
            raise ValueError(f"path {self.path!r} is not a valid regular expression: {exc}") from exc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        """Build a rule from plain data (JSON/YAML config), rejecting unknown keys by name."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault rule key(s): {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass
class FiredFault:
    """A record of one fault that fired, for tests to assert on."""

    kind: str
    method: str
    path: str


@dataclass
class _RuleState:
    rule: FaultRule
    matched: int = 0
    fired: int = 0


@dataclass
class FaultInjector:
    """Holds the rules of one simulator and decides, call by call, whether a fault fires."""

    seed: int = 0
    _states: list[_RuleState] = field(default_factory=list)
    fired: list[FiredFault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def set_rules(self, rules: Iterable[FaultRule | dict[str, Any]], seed: int | None = None) -> None:
        """Replace every rule (and reset counters, the record of fired faults and, if given, the seed)."""
        parsed = [r if isinstance(r, FaultRule) else FaultRule.from_dict(r) for r in rules]
        with self._lock:
            if seed is not None:
                self.seed = seed
            self._random = random.Random(self.seed)
            self._states = [_RuleState(r) for r in parsed]
            self.fired = []

    def add(self, rule: FaultRule | dict[str, Any]) -> None:
        parsed = rule if isinstance(rule, FaultRule) else FaultRule.from_dict(rule)
        with self._lock:
            self._states.append(_RuleState(parsed))

    def clear(self) -> None:
        self.set_rules([])

    @property
    def rules(self) -> list[FaultRule]:
        return [s.rule for s in self._states]

    def pick(self, method: str, path: str) -> FaultRule | None:
        """The failure that fires for this call, if any (the first rule in order that does; `corrupt` and `failed`
        rules aside)."""
        with self._lock:
            for state in self._states:
                if state.rule.kind not in _ANSWERING and self._fires(state, method, path):
                    return state.rule
        return None

    def corruptions(self, method: str, path: str) -> list[FaultRule]:
        """Every `corrupt` rule that fires for this call."""
        with self._lock:
            return [s.rule for s in self._states if s.rule.kind == "corrupt" and self._fires(s, method, path)]

    def fails_job(self, method: str, path: str) -> bool:
        """Whether a `failed` rule fires for this call: the job it starts is to end FAILED."""
        with self._lock:
            # Every `failed` rule is asked (a list, not a short-circuit), so each counts the call as `pick` does.
            return any([s.rule.kind == "failed" and self._fires(s, method, path) for s in self._states])

    def _fires(self, state: _RuleState, method: str, path: str) -> bool:
        rule = state.rule
        if rule.method and rule.method.upper() != method.upper():
            return False
        if rule.path and not re.search(rule.path, path):
            return False
        state.matched += 1
        if state.matched <= rule.skip:
            return False
        if rule.count is not None and state.fired >= rule.count:
            return False
        nth = state.matched - rule.skip
        if rule.every is not None and nth % rule.every != 0:
            return False
        if rule.probability is not None and self._random.random() >= rule.probability:
            return False
        state.fired += 1
        self.fired.append(FiredFault(rule.kind, method, path))
        return True


def corrupt(document: Any, rules: list[FaultRule]) -> Any:
    """`document` (parsed JSON) with every rule's value put into the objects it matches."""
    if isinstance(document, list):
        return [corrupt(item, rules) for item in document]
    if not isinstance(document, dict):
        return document
    out = {key: corrupt(item, rules) for key, item in document.items()}
    for rule in rules:
        if all(key in document and document[key] == want for key, want in (rule.match or {}).items()):
            out = _put(out, rule.at, rule.value)
    return out


def _put(node: Any, at: tuple[str | int, ...], value: Any) -> Any:
    if not at:
        return value
    head, rest = at[0], at[1:]
    if isinstance(node, dict) and isinstance(head, str) and (head in node or not rest):
        return {**node, head: _put(node.get(head), rest, value)}
    if isinstance(node, list) and isinstance(head, int) and -len(node) <= head < len(node):
        copy = list(node)
        copy[head] = _put(copy[head], rest, value)
        return copy
    return node  # no such place (only a last key is added where missing)


# A renderer turns a fault into the service's own error response: (kind, rule) -> (status, headers, body bytes).
FaultRenderer = Callable[[str, FaultRule], tuple[int, dict[str, str], bytes]]

ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


class FaultMiddleware:
    """ASGI middleware that consults a `FaultInjector` before the app sees a request.

    `drop` starts a response that promises a body and then aborts the connection half-way, which is what a client sees
    when a load balancer or the network drops it; the service never sees the call. `lost` is the same for the client,
    but the service has applied the call first. `slow` waits `delay` seconds and then lets the call through.
    Everything else is rendered by the service's own `renderer`, in that service's error format.
    """

    def __init__(self, app: ASGIApp, injector: FaultInjector, renderer: FaultRenderer) -> None:
        self.app = app
        self.injector = injector
        self.renderer = renderer

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = self.injector.pick(scope["method"], scope["path"])
        if rule is None:
            corruptions = self.injector.corruptions(scope["method"], scope["path"])
            await self.app(scope, receive, _corrupting(send, corruptions) if corruptions else send)
            return
        if rule.kind == "slow":
            await asyncio.sleep(rule.delay)
            await self.app(scope, receive, send)
            return
        if rule.kind == "lost":
            # The service applies the request; only its answer is lost on the way back (the case a client cannot
            # tell from "never applied", and must check before repeating).
            async def discard(message: dict) -> None:
                return None

            await self.app(scope, receive, discard)
        if rule.kind in ("drop", "lost"):
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"partial": ', "more_body": True})
            raise ConnectionAbortedError("fault injection: connection dropped")
        status, headers, body = self.renderer(rule.kind, rule)
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        raw_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


def _corrupted_body(body: bytes, rules: list[FaultRule]) -> bytes:
    """A JSON answer, or a file of JSON lines (gzipped or not: an export's), with the rules applied to each object;
    anything else (a CSV result, an empty answer) as it was."""
    with contextlib.suppress(ValueError):
        return json.dumps(corrupt(json.loads(body), rules)).encode()
    zipped = body[:2] == b"\x1f\x8b"
    try:
        lines = (gzip.decompress(body) if zipped else body).splitlines()
        text = b"".join(json.dumps(corrupt(json.loads(line), rules)).encode() + b"\n" for line in lines if line.strip())
    except (ValueError, OSError, EOFError):
        return body
    return gzip.compress(text) if zipped else text


def _corrupting(send: Callable, rules: list[FaultRule]) -> Callable:
    """A `send` that holds the answer back, corrupts its JSON body and sends it with the new length."""
    start: dict = {}
    chunks: list[bytes] = []

    async def corrupting_send(message: dict) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = _corrupted_body(b"".join(chunks), rules)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return corrupting_send
