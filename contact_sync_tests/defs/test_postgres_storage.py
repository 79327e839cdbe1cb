"""Dagster run storage on the machine's PostgreSQL server (dagster-postgres): a sync run is executed and stored."""

import dagster as dg
import pytest

from contact_sync.ledger import Ledger
from contact_sync.simulators import RunningSimulators
from contact_sync_tests.defs.conftest import run_job


@pytest.mark.postgres
def test_sync_run_history_is_stored_in_postgres(
    sims: RunningSimulators, sync_env: dict[str, str], sync_ledger: Ledger, postgres_url: str
) -> None:
    url = postgres_url  # postgresql+psycopg2://: SQLAlchemy 2.1 picks psycopg 3 (not installed) for postgresql://
    sims.salesforce.load_contacts([{"LastName": "Codd", "Email": "ted@example.com"}])
    with dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": url}}}) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result, report = run_job(instance)
        assert result.success and report is not None and report["created"]["genesys"] == 1
        [stored] = instance.get_runs()
        assert stored.run_id == result.run_id and stored.tags["dagster/partition"] == "all"
        materialized = instance.fetch_materializations(dg.AssetKey("sync_report"), limit=5).records
        assert len(materialized) == 1
    assert sims.genesys.count() == 1
