"""Fixtures shared by the whole suite: running simulators, and a scratch database on the real PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contact_sync.ledger import Ledger
from contact_sync.simulators import RunningSimulators, run_simulators

POSTGRES_ADMIN_URL = os.environ.get("CONTACT_SYNC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


SIMULATOR_OPTIONS: dict[str, dict[str, Any]] = {"genesys": {"export_delay_s": 0.05}}
"""For the test simulators: a Genesys export still starts RUNNING (the connector polls once) but costs a run 0.25 s,
not the simulator's default second; the polling itself is tested on the connector with a moved clock."""


@pytest.fixture
def sims() -> Iterator[RunningSimulators]:
    """Every simulator, empty, on free loopback ports, state in memory, with `SIMULATOR_OPTIONS`."""
    with run_simulators(options=SIMULATOR_OPTIONS) as running:
        yield running


@pytest.fixture
def dagster_instance() -> Iterator[object]:
    """An ephemeral Dagster instance (SQLite storage in a temporary folder) with the "all" rollout cohort."""
    import dagster as dg

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("rollout_cohort", ["all"])
        yield instance


CONTACT_SYNC_VARIABLES = (
    "CONTACT_SYNC_CRM",
    "CONTACT_SYNC_POLICY",
    "CONTACT_SYNC_MODE",
    "CONTACT_SYNC_COHORT",
    "CONTACT_SYNC_DATA_DIR",
    "CONTACT_SYNC_DATABASE_URL",
    "CONTACT_SYNC_ALERT_WEBHOOK",
    "CONTACT_SYNC_HEALTH_THRESHOLD",
    "CONTACT_SYNC_LOCK_WAIT_S",
    "CONTACT_SYNC_DEPLOYMENT",
    "DAGSTER_HOME",
)


def point_at_simulators(monkeypatch: pytest.MonkeyPatch, sims_env: dict[str, str], folder: Path) -> dict[str, str]:
    """Set the process environment of a user whose contact-sync talks to these simulators, with a fresh data folder
    (SQLite ledger, CRM mirror) and Dagster home under `folder`; returns the variables set."""
    for name in CONTACT_SYNC_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    (folder / "dagster_home").mkdir(parents=True, exist_ok=True)
    (folder / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**sims_env, "CONTACT_SYNC_DATA_DIR": str(folder / "data"), "DAGSTER_HOME": str(folder / "dagster_home")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def cli_env(sims: RunningSimulators, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a `contact-sync` user on empty simulators, a fresh data folder and a fresh Dagster home
    (set in this process for CliRunner; pass the returned variables to a subprocess)."""
    return point_at_simulators(monkeypatch, sims.env, tmp_path)


@pytest.fixture
def sims_state_dir(tmp_path: Path) -> Path:
    """A state folder for simulators that must survive a restart."""
    return tmp_path / "sim-state"


def _postgres_reachable() -> str | None:
    """None when the server answers, else the reason it does not."""
    try:
        import psycopg2

        psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=3).close()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return None


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the machine's PostgreSQL server. CI starts it; elsewhere the test skips saying why."""
    reason = _postgres_reachable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable in CI: {reason}")
        pytest.skip(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {reason}")
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A SQLAlchemy URL of a fresh, empty database on the real PostgreSQL server, dropped after the test."""
    import psycopg2

    name = f"contact_sync_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(postgres_server)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    base = postgres_server.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg2://', 1)}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty ledger database: a SQLite file, then a fresh database on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger' / 'ledger.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    """A migrated, empty ledger on SQLite and on PostgreSQL (the test runs once for each)."""
    store = Ledger(ledger_url)
    store.migrate()
    try:
        yield store
    finally:
        store.dispose()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`contact-sync demo --contacts 200` run once in a fresh folder: (the demo folder, what it printed). Shared by
    the demo's CLI test and the Dagster UI browser test, which looks at the same runs."""
    from click.testing import CliRunner

    from contact_sync.cli.demo import demo

    folder = tmp_path_factory.mktemp("demo") / "contact-sync-demo"
    result = CliRunner().invoke(demo, ["--dir", str(folder), "--contacts", "200"])
    assert result.exit_code == 0, result.output
    return folder, result.output
