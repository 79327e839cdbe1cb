"""The per-token request limit: a sliding 60-second window, answered with 429 and the seconds until a slot frees."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0


class RateLimiter:
    """Counts requests per token over the last minute; `None` or 0 requests per minute turns it off."""

    def __init__(self, per_minute: int | None, now: Callable[[], float]) -> None:
        self.per_minute = per_minute or None
        self.now = now
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def set_limit(self, per_minute: int | None) -> None:
        with self._lock:
            self.per_minute = per_minute or None
            self._seen.clear()

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()

    def admit(self, key: str) -> int | None:
        """Record a request; None when allowed, else the whole seconds to wait (`Retry-After`, at least 1)."""
        if self.per_minute is None:
            return None
        now = self.now()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            if seen and now < seen[-1]:
                seen.clear()  # a test moved the clock back: the old window means nothing now
            while seen and seen[0] <= now - WINDOW_S:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return max(1, math.ceil(seen[0] + WINDOW_S - now))
            seen.append(now)
            return None
