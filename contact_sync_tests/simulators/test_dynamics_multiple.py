"""Dynamics simulator: the bulk actions CreateMultiple, UpdateMultiple and UpsertMultiple on contacts, in the service's
shapes (`Targets` typed with `@odata.type`, an `Ids` answer), each one transaction on a standard table: a bad record
fails the request with its error and nothing is written."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from contact_sync.simulators.dynamics import DynamicsSimulator
from contact_sync_tests.simulators.dynamics_fixtures import client, contact_body, dynamics, served_dynamics

__all__ = ["client", "dynamics", "served_dynamics"]

ACTIONS = "/contacts/Microsoft.Dynamics.CRM"
CONTACT = "Microsoft.Dynamics.CRM.contact"


def typed(**columns: Any) -> dict[str, Any]:
    return {"@odata.type": CONTACT, **contact_body(**columns)}


def test_create_multiple_answers_the_new_ids_in_order(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    chosen = str(uuid.uuid4())
    answer = client.post(
        f"{ACTIONS}.CreateMultiple",
        json={"Targets": [typed(lastname="One"), typed(lastname="Two", contactid=chosen)]},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse")
    assert len(body["Ids"]) == 2 and body["Ids"][1] == chosen
    assert [dynamics.contact(i)["lastname"] for i in body["Ids"]] == ["One", "Two"]  # type: ignore[index]


def test_one_bad_record_fails_the_whole_request_and_writes_nothing(
    dynamics: DynamicsSimulator, client: httpx.Client
) -> None:
    refused = client.post(
        f"{ACTIONS}.CreateMultiple",
        json={"Targets": [typed(lastname="Fine"), typed(lastname="Bad", nosuchcolumn=1)]},
    )
    assert refused.status_code == 400 and "nosuchcolumn" in refused.json()["error"]["message"]
    assert dynamics.count() == 0
    untyped = client.post(f"{ACTIONS}.CreateMultiple", json={"Targets": [contact_body(lastname="NoType")]})
    assert untyped.status_code == 400 and "@odata.type" in untyped.json()["error"]["message"]
    empty = client.post(f"{ACTIONS}.CreateMultiple", json={"Targets": []})
    assert empty.status_code == 400 and dynamics.count() == 0


def test_update_multiple_updates_existing_rows_only_and_upsert_multiple_does_both(
    dynamics: DynamicsSimulator, client: httpx.Client
) -> None:
    ids = client.post(f"{ACTIONS}.CreateMultiple", json={"Targets": [typed(lastname="A"), typed(lastname="B")]})
    first, second = ids.json()["Ids"]
    updated = client.post(
        f"{ACTIONS}.UpdateMultiple",
        json={"Targets": [typed(contactid=first, lastname="A2"), typed(contactid=second, lastname="B2")]},
    )
    assert updated.status_code == 204, updated.text
    assert [dynamics.contact(i)["lastname"] for i in (first, second)] == ["A2", "B2"]  # type: ignore[index]
    missing = client.post(
        f"{ACTIONS}.UpdateMultiple",
        json={"Targets": [typed(contactid=first, lastname="A3"), typed(contactid=str(uuid.uuid4()), lastname="X")]},
    )
    assert missing.status_code == 404 and dynamics.contact(first)["lastname"] == "A2"  # type: ignore[index]
    no_key = client.post(f"{ACTIONS}.UpdateMultiple", json={"Targets": [typed(lastname="NoKey")]})
    assert no_key.status_code == 400 and "contactid" in no_key.json()["error"]["message"]

    new_id = str(uuid.uuid4())
    upserted = client.post(
        f"{ACTIONS}.UpsertMultiple",
        json={"Targets": [typed(contactid=first, lastname="A4"), typed(contactid=new_id, lastname="New")]},
    )
    assert upserted.status_code == 200, upserted.text
    assert upserted.json()["Ids"] == [first, new_id] and dynamics.count() == 3
    assert dynamics.contact(first)["lastname"] == "A4"  # type: ignore[index]
