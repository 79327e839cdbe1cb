"""The `trace_contact` job: the history `contact-sync trace` prints, as markdown in the run of the real job."""

from __future__ import annotations

import dagster as dg

from contact_sync.definitions import defs
from contact_sync.ledger import Ledger
from contact_sync.pipeline.trace import contact_trace
from contact_sync.simulators import RunningSimulators
from contact_sync_tests.defs.conftest import PEOPLE, genesys_by_crm_id, run_job


def trace_run(instance: dg.DagsterInstance, query: str) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def("trace_contact").execute_in_process(
        instance=instance,
        run_config={"ops": {"trace_one_contact": {"config": {"query": query}}}},
        raise_on_error=False,
    )


def test_a_trace_run_shows_where_each_value_went(
    sims: RunningSimulators, sync_env: dict[str, str], sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    [crm_id] = sims.salesforce.load_contacts([PEOPLE[0]])
    assert run_job(dagster_instance)[0].success
    genesys_id = genesys_by_crm_id(sims)[crm_id]["id"]
    sims.salesforce.edit_contact(crm_id, Phone="415-555-0199")
    assert run_job(dagster_instance)[0].success

    for query in (crm_id, genesys_id, "ADA@example.com"):
        result = trace_run(dagster_instance, query)
        assert result.success
        [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
        metadata = output.event_specific_data.metadata  # type: ignore[union-attr]
        markdown = metadata["trace"].value
        assert f"Changes of {query}" in markdown and f"`{crm_id}` <-> Genesys `{genesys_id}`" in markdown
        assert "415-555-0199" in markdown or "+14155550199" in markdown  # the edit, written to Genesys
        expected = contact_trace(sync_ledger, query)
        assert expected is not None and metadata["changes"].value == len(expected["changes"]) > 0
        assert all(change["run_id"] in markdown for change in expected["changes"])
    assert len(sync_ledger.recent_runs()) == 2  # a trace is no sync run


def test_a_trace_of_an_unknown_contact_fails_saying_so(
    sync_env: dict[str, str], sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    result = trace_run(dagster_instance, "nobody@example.com")
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert "no contact 'nobody@example.com' in the ledger" in str(failure.step_failure_data.error.message)
