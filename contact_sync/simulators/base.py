"""What every simulator has in common: a name, an ASGI app behind fault injection, credentials, and its URL once served.

A simulator stands for one outside service. It never imports the product's sync logic or connectors: the product
reaches it only over HTTP, like the real service. `run_simulators` (in this package's `__init__`) serves each one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from contact_sync.simulators.faults import FaultInjector, FaultRule


class Simulator:
    """Base of the Salesforce, Genesys and Dynamics simulators.

    Subclasses set `name` and `needs_tls`, build `self.app` (already wrapped in `FaultMiddleware` around
    `self.faults`), implement `env()`, and may override `bind()` to learn their own URL (e.g. for `instance_url`).
    """

    name: ClassVar[str] = "simulator"
    needs_tls: ClassVar[bool] = False

    def __init__(self, state_dir: Path | None = None, fault_seed: int = 0) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else None
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        self.faults = FaultInjector(seed=fault_seed)
        self.url: str = ""
        self.ca_bundle: str | None = None
        self.app: Any = None
        self._clock: Callable[[], datetime] | None = None

    def bind(self, url: str, ca_bundle: str | None = None) -> None:
        """Called once the app is served: the base URL clients use (and the CA bundle that trusts it, for TLS)."""
        self.url = url
        self.ca_bundle = ca_bundle

    def now(self) -> datetime:
        """The simulator's time: the test clock's when one is set, else real UTC now."""
        return self._clock() if self._clock is not None else datetime.now(UTC)

    def timestamp(self) -> float:
        return self.now().timestamp()

    def set_clock(self, clock: Callable[[], datetime] | None) -> None:
        """Read time from `clock` (timezone-aware datetimes) for tokens, limits and dates; None: real UTC now."""
        self._clock = clock

    def set_faults(self, rules: list[FaultRule | dict[str, Any]], seed: int | None = None) -> None:
        """Replace this simulator's fault rules (resets counters and the record of fired faults)."""
        self.faults.set_rules(rules, seed=seed)

    def env(self) -> dict[str, str]:
        """The environment variables that point contact-sync at this simulator."""
        raise NotImplementedError

    def close(self) -> None:
        """Release state (database connections); the default has nothing to release."""
