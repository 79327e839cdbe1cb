"""Local simulators of the outside services (Genesys Cloud and the CRMs), on 127.0.0.1 for tests and demo.

`with run_simulators(state_dir=None, faults=None) as sims:` starts every simulator on a free port and yields a
`RunningSimulators` with `sims.env` (the environment variables that point contact-sync at them) and one object per
service (`sims.salesforce`, `sims.genesys`, `sims.dynamics`, ...) carrying the same values as attributes plus helpers
for tests.

Every subpackage of this folder is one service: the `Simulator` subclass it exports whose `name` is the package's
name (`simulator_classes()`). A new simulator is a new subpackage; nothing here lists them.
"""

from __future__ import annotations

import importlib
import pkgutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contact_sync.simulators.base import Simulator
from contact_sync.simulators.faults import FaultRule
from contact_sync.simulators.server import ServedApp, make_local_tls

__all__ = ["FaultRule", "RunningSimulators", "Simulator", "run_simulators", "serve_simulator", "simulator_classes"]

FaultConfig = Mapping[str, Sequence[FaultRule | dict[str, Any]]]


@contextmanager
def serve_simulator(sim: Simulator, port: int = 0, tls_dir: Path | None = None) -> Iterator[Simulator]:
    """Serve one simulator on 127.0.0.1 (TLS when it needs it) until the block ends."""
    with ExitStack() as stack:
        tls = None
        if sim.needs_tls:
            if tls_dir is None:
                tls_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="contact-sync-tls-")))
            tls = make_local_tls(tls_dir)
        served = stack.enter_context(ServedApp(sim.app, port=port, tls=tls, name=f"{sim.name}-simulator"))
        sim.bind(served.url, str(tls.ca_bundle) if tls else None)
        stack.callback(sim.close)
        yield sim


def simulator_classes() -> dict[str, type[Simulator]]:
    """Every simulator of this package, by name (the name of its subpackage)."""
    found: dict[str, type[Simulator]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Simulator) and value.name == info.name:
                found[info.name] = value
    return found


@dataclass
class RunningSimulators:
    """The simulators of one `run_simulators` block: `sims.<name>` is the simulator of that name."""

    by_name: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        by_name = self.__dict__.get("by_name", {})
        if name in by_name:
            return by_name[name]
        raise AttributeError(f"no simulator named {name!r} (running: {', '.join(by_name)})")

    def all(self) -> list[Simulator]:
        return list(self.by_name.values())


@contextmanager
def run_simulators(
    state_dir: str | Path | None = None,
    faults: FaultConfig | None = None,
    *,
    fault_seed: int = 0,
    ports: Mapping[str, int] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[RunningSimulators]:
    """Start every simulator on a free port (or the given `ports`, by service name) and yield them.

    - `state_dir`: a folder whose SQLite files keep each service's data across restarts and processes; in memory
      when None.
    - `faults`: fault rules by service name, e.g. `{"genesys": [{"kind": "429", "path": "/scan/", "every": 3}]}`.
    - `options`: constructor options by service name, e.g. `{"genesys": {"rate_limit_per_minute": 60}}`.
    """
    classes = simulator_classes()
    root = Path(state_dir) if state_dir is not None else None
    ports = dict(ports or {})
    options = dict(options or {})
    faults = dict(faults or {})
    unknown = set(faults) | set(ports) | set(options)
    unknown -= set(classes)
    if unknown:
        raise ValueError(f"unknown simulator name(s): {', '.join(sorted(unknown))}")

    def state_for(name: str) -> Path | None:
        return root / name if root is not None else None

    with ExitStack() as stack:
        running = RunningSimulators(
            {
                name: cls(state_for(name), fault_seed=fault_seed, **options.get(name, {}))
                for name, cls in classes.items()
            }
        )
        for sim in running.all():
            if sim.name in faults:
                sim.set_faults(list(faults[sim.name]))
            tls_dir = root / "tls" if root is not None and sim.needs_tls else None
            stack.enter_context(serve_simulator(sim, port=ports.get(sim.name, 0), tls_dir=tls_dir))
            running.env.update(sim.env())
        yield running
