"""Both sides edit the same field (bidirectional mode): each field's policy picks the winner, the loser is updated,
the conflict is logged with both versions and the base; a manual-policy conflict is held until someone decides it with
`contact-sync conflicts resolve`, and the next run applies the decision."""

from __future__ import annotations

import json
import time

import pytest

from contact_sync_tests.scenarios.conftest import Scenario, digits, genesys_edit, genesys_value, write_policy

PEOPLE = [
    {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "phone": "415-555-0101"},
    {"first_name": "Alan", "last_name": "Turing", "email": "alan@example.com", "phone": "415-555-0102"},
    {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com", "phone": "415-555-0103"},
    {"first_name": "Edsger", "last_name": "Dijkstra", "email": "edsger@example.com", "tags": "vip;beta"},
]
# The genesys_wins case, per CRM: (field, the CRM's later edit, Genesys's earlier edit that must win). The shipped
# policy has tags Genesys-wins; a CRM that maps no tags column (Dynamics, HubSpot) makes email Genesys-wins instead.
TAGS_WIN = ("tags", "vip;delta", "vip;gamma")
EMAIL_WINS = ("email", "edsger@crm.example.com", "edsger@genesys.example.com")


def values(field: str, value: str | None) -> set[str]:
    """A value as compared here: tags as a set, anything else as itself."""
    return set((value or "").split(";")) if field == "tags" else {value or ""}


def test_each_field_policy_picks_the_winner_and_logs_both_versions(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    crm, gen = scenario.crm, scenario.sims.genesys
    wins_field, crm_late, genesys_early = TAGS_WIN if crm.maps("tags") else EMAIL_WINS
    if not crm.maps("tags"):
        monkeypatch.setenv("CONTACT_SYNC_POLICY", str(write_policy(scenario.folder, email="genesys_wins")))
    ada, alan, grace, edsger = scenario.load_crm(PEOPLE)
    scenario.sync()
    linked = {crm_id: c["id"] for crm_id, c in scenario.genesys_by_crm_id().items()}

    # Phone, last write wins: Genesys edited last for Ada, the CRM edited last for Alan.
    crm.edit(ada, phone="415-555-0111")
    time.sleep(crm.later)
    gen.edit_contact(linked[ada], {"workPhone": {"display": "+1 628 555 0121"}})
    gen.edit_contact(linked[alan], {"workPhone": {"display": "+1 628 555 0122"}})
    time.sleep(crm.later)
    crm.edit(alan, phone="415-555-0112")
    # Name, CRM wins even though Genesys was edited last.
    crm.edit(grace, first_name="Rear Admiral Grace")
    time.sleep(crm.later)
    gen.edit_contact(linked[grace], {"firstName": "Amazing Grace"})
    # Tags (email on Dynamics), Genesys wins even though the CRM was edited last.
    gen.edit_contact(linked[edsger], genesys_edit(**{wins_field: genesys_early}))
    time.sleep(crm.later)
    crm.edit(edsger, **{wins_field: crm_late})

    outcome = scenario.sync(mode="bidirectional")

    assert outcome.report["conflicts"] == 4 and outcome.report["errors"] == 0
    assert outcome.report["updated"] == {"genesys": 2, "crm": 2}
    assert digits(crm.get(ada)["phone"]) == digits(gen.contact(linked[ada])["workPhone"]["display"]) == "6285550121"
    assert digits(crm.get(alan)["phone"]) == digits(gen.contact(linked[alan])["workPhone"]["display"]) == "4155550112"
    assert crm.get(grace)["first_name"] == gen.contact(linked[grace])["firstName"] == "Rear Admiral Grace"
    assert values(wins_field, crm.get(edsger)[wins_field]) == values(wins_field, genesys_early)
    assert values(wins_field, genesys_value(gen.contact(linked[edsger]), wins_field)) == values(
        wins_field, genesys_early
    )

    with scenario.ledger() as ledger:
        logged = ledger.conflicts(run_id=outcome.run_id).set_index("crm_id")
    assert set(logged.index) == {ada, alan, grace, edsger}
    assert logged.loc[ada, ["field", "policy", "winner", "status"]].tolist() == [
        "phone",
        "last_write_wins",
        "genesys",
        "resolved",
    ]
    assert digits(logged.loc[ada, "base"]) == "4155550101"
    assert digits(logged.loc[ada, "crm_value"]) == "4155550111"
    assert digits(logged.loc[ada, "genesys_value"]) == "6285550121"
    assert logged.loc[alan, "winner"] == "crm"
    assert logged.loc[grace, ["field", "policy", "winner", "crm_value", "genesys_value"]].tolist() == [
        "first_name",
        "crm_wins",
        "crm",
        "Rear Admiral Grace",
        "Amazing Grace",
    ]
    assert logged.loc[edsger, ["field", "policy", "winner"]].tolist() == [wins_field, "genesys_wins", "genesys"]

    # A second run right after writes nothing on either side.
    stamps = (crm.stamp(ada), gen.contact(linked[grace])["modifyDate"])
    again = scenario.sync(mode="bidirectional")
    assert again.report["updated"] == {"genesys": 0, "crm": 0} and again.report["conflicts"] == 0
    assert (crm.stamp(ada), gen.contact(linked[grace])["modifyDate"]) == stamps


def test_manual_conflict_is_held_then_resolved_through_the_cli_and_applied(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = write_policy(scenario.folder, phone="manual")
    monkeypatch.setenv("CONTACT_SYNC_POLICY", str(policy))
    crm, gen = scenario.crm, scenario.sims.genesys
    ada, alan = scenario.load_crm(PEOPLE[:2])
    scenario.sync()
    linked = {crm_id: c["id"] for crm_id, c in scenario.genesys_by_crm_id().items()}
    for crm_id, crm_phone, genesys_phone in (
        (ada, "415-555-0131", "628-555-0131"),
        (alan, "415-555-0132", "628-555-0132"),
    ):
        crm.edit(crm_id, phone=crm_phone)
        gen.edit_contact(linked[crm_id], {"workPhone": {"display": genesys_phone}})

    held = scenario.sync(mode="bidirectional")
    assert held.report["conflicts"] == 2 and held.report["updated"] == {"genesys": 0, "crm": 0}
    assert digits(crm.get(ada)["phone"]) == "4155550131"  # nothing written while the conflict waits
    assert digits(gen.contact(linked[ada])["workPhone"]["display"]) == "6285550131"

    listed = scenario.cli("conflicts", "list", "--json")
    assert listed.exit_code == 0, listed.output
    queue = {c["crm_id"]: c for c in json.loads(listed.output.strip().splitlines()[-1])}
    assert set(queue) == {ada, alan} and {c["status"] for c in queue.values()} == {"open"}
    assert digits(queue[ada]["crm_value"]) == "4155550131" and digits(queue[ada]["genesys_value"]) == "6285550131"

    # Held conflicts found again by the next run are not queued twice.
    again = scenario.sync(mode="bidirectional")
    assert again.report["updated"] == {"genesys": 0, "crm": 0}
    with scenario.ledger() as ledger:
        assert len(ledger.open_conflicts()) == 2

    use_genesys = scenario.cli("conflicts", "resolve", str(queue[ada]["id"]), "--use", "genesys")
    typed = scenario.cli("conflicts", "resolve", str(queue[alan]["id"]), "--use", "value", "--value", "+1 212 555 0100")
    assert use_genesys.exit_code == 0 and typed.exit_code == 0, use_genesys.output + typed.output

    applied = scenario.sync(mode="bidirectional")
    assert applied.report["errors"] == 0
    assert digits(crm.get(ada)["phone"]) == "6285550131"
    assert digits(gen.contact(linked[ada])["workPhone"]["display"]) == "6285550131"
    assert digits(crm.get(alan)["phone"]) == "2125550100"
    assert digits(gen.contact(linked[alan])["workPhone"]["display"]) == "2125550100"
    with scenario.ledger() as ledger:
        decided = ledger.conflicts(ids=[ada, alan])
    assert set(decided["status"]) == {"applied"} and set(decided["applied_run_id"]) == {applied.run_id}
