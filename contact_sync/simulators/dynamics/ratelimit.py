"""Service protection limits: a sliding window of requests per user, answered with 429 and `Retry-After` seconds.

Dataverse counts requests per user per web server over a sliding 300-second window (default 6000). The simulator
counts per OAuth client (its only kind of user) and has one web server.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    """At most `limit` requests per key in any `window_s` seconds; `limit=None` turns it off."""

    def __init__(self, limit: int | None, window_s: float, now: Callable[[], float]) -> None:
        self.limit = limit or None
        self.window_s = window_s
        self.now = now
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.refused = 0  # requests answered 429 so far (tests read it)

    def configure(self, limit: int | None, window_s: float | None = None) -> None:
        """Change the limit (and window); clears the history."""
        with self._lock:
            self.limit = limit or None
            if window_s is not None:
                self.window_s = window_s
            self._seen.clear()
            self.refused = 0

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()
            self.refused = 0

    def admit(self, key: str) -> int | None:
        """Record a request; None when allowed, else the whole seconds until a slot frees (at least 1)."""
        if self.limit is None:
            return None
        now = self.now()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - self.window_s:
                seen.popleft()
            if len(seen) >= self.limit:
                self.refused += 1
                return max(1, math.ceil(seen[0] + self.window_s - now))
            seen.append(now)
            return None
