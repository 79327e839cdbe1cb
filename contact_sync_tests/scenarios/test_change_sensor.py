"""The change-triggered sensor, for each CRM, evaluated on the scenario's instance against the simulators: it waits for
the first sync, then requests a run after an edit on either side and not otherwise, costs a few calls a tick, and
never requests one while a sync of the pair is in progress (the change is requested on the next tick instead)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import dagster as dg
import pytest

from contact_sync.crms import crm_plugin
from contact_sync.definitions import defs
from contact_sync.defs.sync.sensors import sync_on_change
from contact_sync.pipeline.change_probe import PROBE_SERVICES
from contact_sync.pipeline.locks import claim_run_lock, pair_name, release_run_lock
from contact_sync_tests.scenarios.conftest import Scenario, people

REPO = defs.get_repository_def()


@pytest.fixture(autouse=True)
def fresh_probe_connections(scenario: Scenario) -> Iterator[None]:
    """Each test's probes open their own connections (to its simulators), closed after it; Genesys exports done at
    once, so a probe never waits for its first status poll (the polling is tested on the connector)."""
    PROBE_SERVICES.close()
    exports = scenario.sims.genesys.exports
    delay, exports.delay_s = exports.delay_s, 0.0
    yield
    exports.delay_s = delay
    PROBE_SERVICES.close()


def tick(scenario: Scenario) -> dg.RunRequest | dg.SkipReason:
    result = sync_on_change(dg.build_sensor_context(repository_def=REPO, instance=scenario.instance))
    assert isinstance(result, dg.RunRequest | dg.SkipReason), result
    return result


def requested(result: dg.RunRequest | dg.SkipReason) -> str:
    """The reasons a tick requested a run for (fails the test when it skipped)."""
    assert isinstance(result, dg.RunRequest), f"no run requested: {result.skip_message}"  # type: ignore[union-attr]
    assert result.partition_key == "all" and result.job_name == "sync_one_way"
    return result.tags["contact_sync/change"]


def skipped(result: dg.RunRequest | dg.SkipReason) -> str:
    assert isinstance(result, dg.SkipReason), f"a run was requested: {result}"
    return result.skip_message or ""


def test_the_sensor_runs_a_sync_after_an_edit_on_either_side_and_not_otherwise(scenario: Scenario) -> None:
    crm, gen = scenario.crm, scenario.sims.genesys
    label = crm_plugin(crm.kind).label
    assert "no sync has completed" in skipped(tick(scenario))
    ada, _ = scenario.load_crm(people(2))
    scenario.sync()
    # The run's own Genesys creates came after the Genesys read it stored: one follow-up run, which has nothing to do.
    assert "Genesys contacts changed" in requested(tick(scenario))
    follow_up = scenario.sync()
    assert follow_up.report["created"] == {"genesys": 0, "crm": 0}
    assert follow_up.report["updated"] == {"genesys": 0, "crm": 0}

    skipped(tick(scenario))  # the first probe logs in to both sides
    quiet = skipped(tick(scenario))
    assert "no change since the last sync" in quiet
    # Warm: one call to the CRM and, in Genesys, an export of at most one contact (done at once here).
    assert f"2 API calls ({crm.kind} 1, genesys 1)" in quiet and "2.7 per idle minute at one probe every 45 s" in quiet

    crm.edit(ada, first_name="Augusta")
    assert f"{label} contacts changed" in requested(tick(scenario))
    scenario.sync()
    assert scenario.genesys_by_crm_id()[ada]["firstName"] == "Augusta"
    requested(tick(scenario))  # the run's own write to Genesys
    scenario.sync()
    skipped(tick(scenario))

    gen.edit_contact(scenario.genesys_by_crm_id()[ada]["id"], {"title": "Countess"})
    assert "Genesys contacts changed" in requested(tick(scenario))

    # While a sync of the pair runs (launched in Dagster, or from the CLI holding the lock) the change waits.
    run = dg.DagsterRun(job_name="sync_one_way", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED)
    scenario.instance.add_run(run)
    try:
        assert f"sync run {run.run_id} (sync_one_way) is STARTED" in skipped(tick(scenario))
    finally:
        scenario.instance.delete_run(run.run_id)
    with scenario.ledger() as ledger:
        claim_run_lock(ledger, pair_name(), "cli-run", lambda _: False, wait_s=0)
        try:
            assert "run cli-run" in skipped(tick(scenario))
        finally:
            release_run_lock(ledger, pair_name(), "cli-run")
    assert "Genesys contacts changed" in requested(tick(scenario))
