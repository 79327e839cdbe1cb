"""Fixtures for the Dagster tests: the environment pointing the pipeline at running simulators and a scratch data
folder, and a helper that runs the real sync job in process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from contact_sync.connectors.genesys import GenesysConnector
from contact_sync.definitions import defs
from contact_sync.ledger import Ledger
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.settings import GenesysSettings
from contact_sync.simulators import RunningSimulators

PIPELINE_VARIABLES = (
    "CONTACT_SYNC_CRM",
    "CONTACT_SYNC_POLICY",
    "CONTACT_SYNC_MODE",
    "CONTACT_SYNC_COHORT",
    "CONTACT_SYNC_DATABASE_URL",
    "CONTACT_SYNC_ALERT_WEBHOOK",
    "CONTACT_SYNC_HEALTH_THRESHOLD",
)


@pytest.fixture
def sync_env(sims: RunningSimulators, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The process environment of a user pointing contact-sync at the simulators, with a fresh data folder (and so
    a fresh SQLite ledger and CRM mirror)."""
    for name in PIPELINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in sims.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CONTACT_SYNC_DATA_DIR", str(tmp_path / "data"))
    return {**sims.env, "CONTACT_SYNC_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def sync_ledger(sync_env: dict[str, str]) -> Iterator[Ledger]:
    """The ledger the pipeline uses in `sync_env`."""
    ledger = Ledger(PipelineSettings.from_env().database_url)
    Path(PipelineSettings.from_env().data_dir).mkdir(parents=True, exist_ok=True)
    ledger.migrate()
    try:
        yield ledger
    finally:
        ledger.dispose()


def run_job(
    instance: dg.DagsterInstance, mode: str = "one_way", cohort: str = "all", dry_run: bool = False
) -> tuple[dg.ExecuteInProcessResult, dict[str, Any] | None]:
    """Run the real sync job for a cohort; (result, run report or None when the report step did not run)."""
    if not instance.has_dynamic_partition("rollout_cohort", cohort):
        instance.add_dynamic_partitions("rollout_cohort", [cohort])
    result = defs.resolve_job_def(f"sync_{mode}").execute_in_process(
        instance=instance,
        partition_key=cohort,
        run_config={"resources": {"contact_sync": {"config": {"dry_run": dry_run}}}},
        raise_on_error=False,
    )
    try:
        report = result.output_for_node("sync_report")
    except Exception:  # a dry run reports in its own asset's materialization; a failed run has none
        found = result.asset_materializations_for_node("sync_report") if result.is_node_success("sync_report") else []
        report = found[-1].metadata["report"].value if found else None
    return result, report


PEOPLE = [
    {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com", "Phone": "(415) 555-0101"},
    {"FirstName": "Alan", "LastName": "Turing", "Email": "alan@example.com", "Phone": "415-555-0102"},
    {"FirstName": "Grace", "LastName": "Hopper", "Email": "grace@example.com", "Phone": "+1 415 555 0103"},
    {"FirstName": "Edsger", "LastName": "Dijkstra", "Email": "edsger@example.com", "Phone": "415.555.0104"},
]


def genesys_by_crm_id(sims: RunningSimulators) -> dict[str, dict[str, Any]]:
    """Every Genesys contact (read over the API), keyed by the CRM id in its externalIds."""
    with GenesysConnector(GenesysSettings.from_env(sims.env), rate_limit=False) as genesys:
        contacts = genesys.scan_contacts()
    out = {}
    for contact in contacts:
        for link in contact.get("externalIds") or []:
            if link["externalSource"].get("name") == "Salesforce":
                out[link["value"]] = contact
    return out
