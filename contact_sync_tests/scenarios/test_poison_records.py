"""Poison records end to end: a service that sends an odd value (a number, a flag, a float, null, 100,000 characters,
an object, a list, unreadable text, or something that is not a record at all) in any field of one record gets that
record held, with its id and the reason in the run report, while every other contact syncs; nothing is created twice
and nothing is deleted.

The odd values travel the real wire format: the simulators' `corrupt` fault rewrites the service's own JSON answer for
the chosen records (the stored record stays clean), so the connectors, converters and engine all meet them as they
would meet a real org's.
"""

from __future__ import annotations

from typing import Any

import pytest

from contact_sync_tests.scenarios.conftest import Scenario, people

POISON_VALUES: dict[str, Any] = {
    "integer": 7,
    "float": 2.5,
    "flag": True,
    "null": None,
    "huge text": "x" * 100_000,
    "object": {"a": {"b": [1]}},
    "list": ["a", 2],
    "unreadable text": "2026-13-45T99:99:99Z",
}
NOT_TEXT = {k: v for k, v in POISON_VALUES.items() if not isinstance(v, str)}
"""Values for id fields: a text id is a different record, not a poison one."""

# Field paths of each system's record the connectors and converters read, and the key that identifies a record in the
# service's answers. `()` replaces the whole record.
CRM_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "salesforce": (
        ("FirstName",),
        ("LastName",),
        ("Email",),
        ("Phone",),
        ("Tags__c",),
        ("AccountId",),
        ("LeadScore__c",),
        ("LastModifiedDate",),
        ("SystemModstamp",),
        ("IsDeleted",),
        ("MasterRecordId",),
        ("Id",),
        (),
    ),
    "dynamics": (
        ("firstname",),
        ("lastname",),
        ("emailaddress1",),
        ("telephone1",),
        ("_parentcustomerid_value",),
        ("modifiedon",),
        ("statecode",),
        ("@odata.etag",),
        ("@odata.context",),
        ("contactid",),
        (),
    ),
    "hubspot": (
        ("properties", "firstname"),
        ("properties", "lastname"),
        ("properties", "email"),
        ("properties", "phone"),
        ("properties", "associatedcompanyid"),
        ("properties", "hubspotscore"),
        ("properties", "lastmodifieddate"),
        ("properties", "hs_object_id"),
        ("properties",),
        ("archived",),
        ("id",),
        (),
    ),
}
CRM_ID_KEY = {"salesforce": "Id", "dynamics": "contactid", "hubspot": "id"}
DELETE_FLAGS = {("IsDeleted",), ("archived",)}
"""A record sent with its delete flag set (`flag` is True) is simply a deleted one."""
GENESYS_FIELDS: tuple[tuple[str | int, ...], ...] = (
    ("firstName",),
    ("lastName",),
    ("workEmail",),
    ("workPhone",),
    ("workPhone", "display"),
    ("workPhone", "e164"),
    ("customFields",),
    ("customFields", "tags"),
    ("externalOrganization",),
    ("externalIds",),
    ("externalIds", 0),
    ("externalIds", 0, "value"),
    ("modifyDate",),
    ("id",),
    (),
)
ID_FIELDS = {("Id",), ("contactid",), ("id",), ("properties", "hs_object_id")}


def poison_cases(fields: tuple[tuple[str | int, ...], ...]) -> list[tuple[tuple[str | int, ...], str, Any]]:
    """(field path, value name, value): every poison value in every field (ids get only the non-text ones)."""
    return [
        (path, name, value)
        for path in fields
        for name, value in (NOT_TEXT if path in ID_FIELDS else POISON_VALUES).items()
    ]


def rule(match: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    return {"kind": "corrupt", "match": match, "at": list(path), "value": value}


def test_odd_values_in_crm_records_hold_only_those_records(scenario: Scenario) -> None:
    crm = scenario.crm
    cases = poison_cases(CRM_FIELDS[crm.kind])
    ids = scenario.load_crm(people(len(cases) + 5))
    poisoned, clean = ids[: len(cases)], ids[len(cases) :]
    id_key = CRM_ID_KEY[crm.kind]
    crm.sim.set_faults(
        [rule({id_key: record}, path, value) for record, (path, _, value) in zip(poisoned, cases, strict=True)]
    )

    outcome = scenario.sync()

    linked = scenario.genesys_by_crm_id()
    assert set(clean) <= set(linked), "every clean record synced"
    report = outcome.report
    held = {row["record"] for row in report["rejected"] if row["system"] == crm.kind}
    failed = {row["record"] for row in report["failures"]}
    assert not (held | failed) & set(clean)
    for record, (path, name, _) in zip(poisoned, cases, strict=True):
        # Each poisoned record was read (its value was acceptable), held with a reason, or its write failed with one;
        # a record sent as deleted (`IsDeleted`, `archived`) is simply a deleted one, and one whose id is unreadable is
        # held by no id.
        where = f"{'.'.join(map(str, path)) or 'the record'} = {name}"
        if path in ID_FIELDS | {()}:
            assert any(r.startswith("(no readable id") for r in held), where
        elif not (path in DELETE_FLAGS and name == "flag"):
            assert record in linked or record in held or record in failed, where
    assert any(row["reason"] for row in report["rejected"])
    assert len(scenario.genesys_contacts()) == len(linked)  # nothing created twice or without its link

    # The service stops sending the odd values: the next run syncs every record, each once.
    crm.sim.set_faults([])
    for record in poisoned:
        crm.edit(record, last_name="Fixed")
    scenario.sync()
    linked = scenario.genesys_by_crm_id()
    assert set(ids) == set(linked) and len(scenario.genesys_contacts()) == len(ids)


@pytest.mark.parametrize("crm_kind", ["salesforce"])  # the Genesys side is the same for every CRM
def test_odd_values_in_genesys_contacts_hold_only_those_contacts(scenario: Scenario) -> None:
    crm = scenario.crm
    cases = poison_cases(GENESYS_FIELDS)
    ids = scenario.load_crm(people(len(cases) + 5))
    scenario.sync()
    by_crm = scenario.genesys_by_crm_id()
    assert set(by_crm) == set(ids)
    poisoned = ids[: len(cases)]
    scenario.sims.genesys.set_faults(
        [
            rule({"id": by_crm[record]["id"]}, path, value)
            for record, (path, _, value) in zip(poisoned, cases, strict=True)
        ]
    )
    for record in ids:
        crm.edit(record, last_name="Edited")

    outcome = scenario.sync("bidirectional")

    scenario.sims.genesys.set_faults([])
    after = scenario.genesys_by_crm_id()
    assert len(scenario.genesys_contacts()) == len(ids), "nothing created twice, nothing deleted"
    clean = ids[len(cases) :]
    assert all(after[record]["lastName"] == "Edited" for record in clean)
    held_genesys = {row["record"] for row in outcome.report["rejected"] if row["system"] == "genesys"}
    assert held_genesys and not held_genesys & {after[record]["id"] for record in clean}
    assert all(crm.exists(record) for record in ids), "no CRM record deleted"

    # Once Genesys sends the contacts as they are, the held edits go through.
    scenario.sync("bidirectional")
    after = scenario.genesys_by_crm_id()
    lost = [(case[0], case[1]) for record, case in zip(ids, cases, strict=False) if record not in after]
    assert not lost, lost
    assert all(after[record]["lastName"] == "Edited" for record in ids)
    assert len(scenario.genesys_contacts()) == len(ids)
