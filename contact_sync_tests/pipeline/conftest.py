"""Services opened on running simulators with a fresh data folder (SQLite ledger, CRM mirror)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.services import Services, open_services
from contact_sync.simulators import RunningSimulators


@pytest.fixture
def services(sims: RunningSimulators, tmp_path: Path) -> Iterator[Services]:
    env = {**sims.env, "CONTACT_SYNC_DATA_DIR": str(tmp_path / "data")}
    with open_services(PipelineSettings.from_env(env), env) as opened:
        yield opened


@pytest.fixture
def quick_exports(sims: RunningSimulators) -> Iterator[None]:
    """Genesys exports that finish at once (the polling itself is tested on the connector)."""
    delay = sims.genesys.exports.delay_s
    sims.genesys.exports.delay_s = 0.0
    yield
    sims.genesys.exports.delay_s = delay
