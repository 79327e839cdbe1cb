"""HubSpot's API limits on the simulator clock: a rolling 10-second window per token, a separate per-second limit on
search (per account), and a daily allocation (per account, reset at midnight UTC).

A call over a limit is answered 429 naming the policy: `TEN_SECONDLY_ROLLING`, `SECONDLY` (search) or `DAILY`.
Non-search answers carry `X-HubSpot-RateLimit-Max`, `-Remaining`, `-Interval-Milliseconds` (the 10-second window)
and `-Daily`, `-Daily-Remaining`; search answers carry none, as HubSpot documents. Search calls count against the
search limit and the daily allocation, not against the 10-second window.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, date, datetime

from contact_sync.simulators.hubspot.errors import rate_limited

WINDOW_S = 10.0
SEARCH_WINDOW_S = 1.0


class RateLimiter:
    """Counts requests; `None` or 0 for a limit turns it off."""

    def __init__(
        self, per_10s: int | None, search_per_s: int | None, daily: int | None, now: Callable[[], float]
    ) -> None:
        self.per_10s = per_10s or None
        self.search_per_s = search_per_s or None
        self.daily = daily or None
        self.now = now
        self._windows: dict[str, deque[float]] = {}
        self._search: deque[float] = deque()
        self._day: date | None = None
        self.daily_used = 0
        self._lock = threading.Lock()

    def set_limits(self, **limits: int | None) -> None:
        """Change `per_10s`, `search_per_s` and/or `daily`; clears the current windows (not the daily count)."""
        with self._lock:
            for name, value in limits.items():
                if name not in ("per_10s", "search_per_s", "daily"):
                    raise ValueError(f"unknown rate limit {name!r}")
                setattr(self, name, value or None)
            self._windows.clear()
            self._search.clear()

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self._search.clear()
            self._day = None
            self.daily_used = 0

    def admit(self, key: str, search: bool) -> dict[str, str]:
        """Record one call of token `key`: the rate-limit headers of its answer, or a 429 `ApiError`."""
        now = self.now()
        with self._lock:
            today = datetime.fromtimestamp(now, UTC).date()
            if today != self._day:
                self._day, self.daily_used = today, 0
            window = self._windows.setdefault(key, deque())
            _slide(window, now, WINDOW_S)
            _slide(self._search, now, SEARCH_WINDOW_S)
            if self.daily is not None and self.daily_used >= self.daily:
                raise rate_limited("DAILY", {} if search else self._headers(window))
            if search:
                if self.search_per_s is not None and len(self._search) >= self.search_per_s:
                    raise rate_limited("SECONDLY")
                self._search.append(now)
                self.daily_used += 1
                return {}
            if self.per_10s is not None and len(window) >= self.per_10s:
                raise rate_limited("TEN_SECONDLY_ROLLING", self._headers(window))
            window.append(now)
            self.daily_used += 1
            return self._headers(window)

    def _headers(self, window: deque[float]) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.daily is not None:
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, self.daily - self.daily_used))
        if self.per_10s is not None:
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(int(WINDOW_S * 1000))
            headers["X-HubSpot-RateLimit-Max"] = str(self.per_10s)
            headers["X-HubSpot-RateLimit-Remaining"] = str(max(0, self.per_10s - len(window)))
        return headers


def _slide(window: deque[float], now: float, length: float) -> None:
    if window and now < window[-1]:
        window.clear()  # a test moved the clock back: the old window means nothing now
    while window and window[0] <= now - length:
        window.popleft()
