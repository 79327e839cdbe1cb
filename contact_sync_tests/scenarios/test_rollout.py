"""Rollout and dry runs end to end: a pilot cohort created with `contact-sync cohort create` before any sync touches
only its 100 contacts, widening to all adds the rest; `contact-sync sync --dry-run` shows the plan and writes
nothing anywhere."""

from __future__ import annotations

import dagster as dg

from contact_sync.launcher import DRY_RUN_TAG, open_instance
from contact_sync_tests.scenarios.conftest import Scenario, digits, people


def test_a_pilot_cohort_of_100_touches_only_its_contacts_then_all_adds_the_rest(scenario: Scenario) -> None:
    ids = scenario.load_crm(people(130))
    stamps = {i: scenario.crm.stamp(i) for i in ids}

    created = scenario.cli("cohort", "create", "pilot-001", "--size", "100")  # before any sync: reads the CRM
    assert created.exit_code == 0, created.output
    assert "pilot-001 with 100 contacts" in created.output
    listed = scenario.cli("cohort", "list", "--json")
    assert next(line for line in listed.output.splitlines() if '"pilot-001"' in line).count('"size": 100') == 1
    with scenario.ledger() as ledger:
        members = set(ledger.cohort_members("pilot-001"))
    assert len(members) == 100 and members < set(ids)

    pilot = scenario.sync(cohort="pilot-001")

    assert pilot.report["cohort"] == "pilot-001" and pilot.report["created"]["genesys"] == 100
    linked = scenario.genesys_by_crm_id()
    assert set(linked) == members and scenario.sims.genesys.count() == 100
    assert {i: scenario.crm.stamp(i) for i in ids} == stamps  # the CRM is only read
    with scenario.ledger() as ledger:
        assert set(ledger.links(scenario.crm.kind)["crm_id"]) == members
        assert set(ledger.audit_for_run(pilot.run_id)["crm_id"]) == members

    everyone = scenario.sync(cohort="all")
    assert everyone.report["created"]["genesys"] == 30 and everyone.report["updated"]["genesys"] == 0
    assert set(scenario.genesys_by_crm_id()) == set(ids)
    assert {
        c["id"]: c["modifyDate"] for c in scenario.genesys_contacts() if c["id"] in {linked[m]["id"] for m in members}
    } == {linked[m]["id"]: linked[m]["modifyDate"] for m in members}


def test_dry_run_from_the_command_line_shows_the_plan_and_writes_nothing(scenario: Scenario) -> None:
    crm, gen = scenario.crm, scenario.sims.genesys
    ada, alan = scenario.load_crm(people(2))
    scenario.sync()
    linked = {crm_id: c["id"] for crm_id, c in scenario.genesys_by_crm_id().items()}
    crm.edit(ada, phone="415-555-0199")
    gen.edit_contact(linked[alan], {"lastName": "Turing"})
    (new,) = scenario.load_crm([{"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"}])
    before_crm = {i: crm.record(i) for i in (ada, alan, new)}
    before_genesys = {g: gen.contact(g) for g in linked.values()}
    with scenario.ledger() as ledger:
        runs, links, watermark = (
            len(ledger.recent_runs(50)),
            len(ledger.links()),
            ledger.watermark(f"{crm.kind}_contacts"),
        )
        audit = len(ledger.audit_for_ids([ada, alan, new]))
        alerts = len(ledger.recent_alerts(50))

    result = scenario.cli("sync", "--mode", "bidirectional", "--dry-run")

    assert result.exit_code == 0, result.output
    assert "dry run: nothing written" in result.output
    assert f"In the Dagster UI: DAGSTER_HOME={scenario.env['DAGSTER_HOME']} dagster dev" in result.output
    assert "Planned writes by action and field" in result.output
    assert "write_genesys" in result.output and "write_crm" in result.output and "create_genesys" in result.output
    assert "415-555-0199" in result.output and "Turing" in result.output
    assert {i: crm.record(i) for i in (ada, alan, new)} == before_crm
    assert {g: gen.contact(g) for g in linked.values()} == before_genesys and gen.count() == 2
    assert digits(gen.contact(linked[ada])["workPhone"]["display"]) != "4155550199"
    with scenario.ledger() as ledger:
        assert len(ledger.recent_runs(50)) == runs and len(ledger.links()) == links
        assert ledger.watermark(f"{crm.kind}_contacts") == watermark
        assert len(ledger.audit_for_ids([ada, alan, new])) == audit
        assert len(ledger.recent_alerts(50)) == alerts
    with open_instance() as instance:  # the dry run is in the Dagster UI of DAGSTER_HOME, tagged as such
        (run,) = instance.get_runs(dg.RunsFilter(tags={DRY_RUN_TAG: "true"}))
        assert run.status == dg.DagsterRunStatus.SUCCESS and run.job_name == "sync_bidirectional"
