"""Fixtures shared by the whole suite: running simulators, and a scratch database on the real PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from contact_sync.ledger import Ledger
from contact_sync.simulators import RunningSimulators, run_simulators

POSTGRES_ADMIN_URL = os.environ.get("CONTACT_SYNC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def sims() -> Iterator[RunningSimulators]:
    """Every simulator, empty, on free loopback ports, state in memory."""
    with run_simulators() as running:
        yield running


@pytest.fixture
def dagster_instance() -> Iterator[object]:
    """An ephemeral Dagster instance (SQLite storage in a temporary folder) with the "all" rollout cohort."""
    import dagster as dg

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("rollout_cohort", ["all"])
        yield instance


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
