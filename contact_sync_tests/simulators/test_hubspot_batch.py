"""HubSpot simulator: the batch endpoints through the official client (create, read, update, upsert, archive, v4
associate), including the 207 multi-status answers the client surfaces as `...WithErrors` models."""

from __future__ import annotations

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import BatchInputPublicDefaultAssociationMultiPost
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
)

from contact_sync.simulators.hubspot import HubSpotSimulator
from contact_sync_tests.simulators.hubspot_fixtures import (
    CONTACTS,
    body_of,
    client,
    contact_rows,
    http,
    hubspot,
    served_hubspot,
)

__all__ = ["client", "http", "hubspot", "served_hubspot"]


def batch_create(client: HubSpot, inputs: list[dict]) -> object:
    return client.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))


def read(client: HubSpot, ids: list[str], **kwargs: object) -> object:
    body = BatchReadInputSimplePublicObjectId(
        inputs=[{"id": i} for i in ids], properties=["email", "firstname"], properties_with_history=[], **kwargs
    )
    return client.crm.contacts.batch_api.read(body)


def test_batch_create_answers_201_complete(client: HubSpot, hubspot: HubSpotSimulator, http: httpx.Client) -> None:
    answer = batch_create(
        client, [{"properties": {"email": f"b{i}@example.com", "firstname": f"B{i}"}} for i in range(3)]
    )
    assert isinstance(answer, BatchResponseSimplePublicObject)
    assert answer.status == "COMPLETE" and answer.started_at <= answer.completed_at
    assert [r.properties["email"] for r in answer.results] == ["b0@example.com", "b1@example.com", "b2@example.com"]
    assert hubspot.count_contacts() == 3
    raw = http.post(f"{CONTACTS}/batch/create", json={"inputs": [{"properties": {"email": "raw@example.com"}}]})
    assert raw.status_code == 201 and raw.json()["status"] == "COMPLETE"


def test_batch_create_with_a_taken_email_fails_whole_with_409(client: HubSpot, hubspot: HubSpotSimulator) -> None:
    (existing,) = hubspot.load_contacts([{"email": "taken@example.com"}])
    with pytest.raises(ApiException) as err:
        batch_create(
            client, [{"properties": {"email": "new@example.com"}}, {"properties": {"email": "Taken@example.com"}}]
        )
    assert err.value.status == 409
    assert body_of(err.value)["message"] == f"Contact already exists. Existing ID: {existing}"
    assert hubspot.count_contacts() == 1  # nothing was created
    with pytest.raises(ApiException) as err:
        batch_create(client, [{"properties": {"email": "same@example.com"}}] * 2)
    assert err.value.status == 409 and body_of(err.value)["category"] == "CONFLICT"
    with pytest.raises(ApiException) as err:
        batch_create(client, [{"properties": {"email": "fine@example.com"}}, {"properties": {"email": "broken"}}])
    assert err.value.status == 400 and body_of(err.value)["errors"][0]["code"] == "INVALID_EMAIL"
    assert hubspot.count_contacts() == 1


def test_batch_create_with_trace_ids_reports_each_failure_in_a_207(client: HubSpot, hubspot: HubSpotSimulator) -> None:
    (existing,) = hubspot.load_contacts([{"email": "taken@example.com"}])
    answer = batch_create(
        client,
        [
            {"properties": {"email": "ok1@example.com"}, "objectWriteTraceId": "t1"},
            {"properties": {"email": "taken@example.com"}, "objectWriteTraceId": "t2"},
            {"properties": {"email": "nope", "firstname": "X"}, "objectWriteTraceId": "t3"},
            {"properties": {"email": "ok1@example.com"}, "objectWriteTraceId": "t4"},
            {"properties": {"email": "ok2@example.com"}, "objectWriteTraceId": "t5"},
        ],
    )
    assert isinstance(answer, BatchResponseSimplePublicObjectWithErrors)
    assert answer.num_errors == 3
    failed = {e.context["objectWriteTraceId"][0]: e for e in answer.errors}
    assert set(failed) == {"t2", "t3", "t4"}
    assert failed["t2"].category == "CONFLICT" and existing in failed["t2"].message
    assert failed["t3"].category == "VALIDATION_ERROR" and failed["t3"].errors[0].code == "INVALID_EMAIL"
    assert [(r.object_write_trace_id, r.properties["email"]) for r in answer.results] == [
        ("t1", "ok1@example.com"),
        ("t5", "ok2@example.com"),
    ]
    assert hubspot.count_contacts() == 3


def test_batch_read_by_id_and_by_email_with_missing_ones_in_a_207(client: HubSpot, hubspot: HubSpotSimulator) -> None:
    ids = hubspot.load_contacts(contact_rows(3))
    complete = read(client, ids)
    assert isinstance(complete, BatchResponseSimplePublicObject)
    assert [r.id for r in complete.results] == ids
    assert set(complete.results[0].properties) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
    }

    partial = read(client, [ids[0], "999999", "nope"])
    assert isinstance(partial, BatchResponseSimplePublicObjectWithErrors)
    assert [r.id for r in partial.results] == [ids[0]]
    assert partial.num_errors == 1
    assert partial.errors[0].category == "OBJECT_NOT_FOUND"
    assert partial.errors[0].context == {"ids": ["999999", "nope"]}

    by_email = read(client, ["PERSON1@example.com", "ghost@example.com"], id_property="email")
    assert [r.id for r in by_email.results] == [ids[1]]
    assert by_email.errors[0].context == {"ids": ["ghost@example.com"]}

    hubspot.archive_contact(ids[2])
    archived = client.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(inputs=[{"id": ids[2]}], properties=[], properties_with_history=[]),
        archived=True,
    )
    assert archived.results[0].archived is True


def test_batch_update_reports_missing_ids_and_refuses_bad_input(client: HubSpot, hubspot: HubSpotSimulator) -> None:
    a, b = hubspot.load_contacts(contact_rows(2))
    before = hubspot.contact(a)["properties"]["lastmodifieddate"]

    def update(inputs: list[dict]) -> object:
        return client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=inputs))

    ok = update([{"id": a, "properties": {"firstname": "Z"}}, {"id": b, "properties": {"lastname": "Y"}}])
    assert isinstance(ok, BatchResponseSimplePublicObject)
    assert {r.id: r.properties.get("firstname") for r in ok.results} == {a: "Z", b: "First1"}
    assert hubspot.contact(a)["properties"]["lastmodifieddate"] > before

    partial = update([{"id": a, "properties": {"firstname": "W"}}, {"id": "55555", "properties": {"firstname": "V"}}])
    assert isinstance(partial, BatchResponseSimplePublicObjectWithErrors)
    assert partial.errors[0].context == {"ids": ["55555"]} and partial.num_errors == 1
    assert hubspot.contact(a)["properties"]["firstname"] == "W"

    by_email = update([{"id": "person1@example.com", "idProperty": "email", "properties": {"firstname": "E"}}])
    assert by_email.results[0].id == b

    for bad, status in (
        ([{"id": a, "properties": {"email": "person1@example.com"}}], 409),
        ([{"id": a, "properties": {"nope": "1"}}], 400),
        ([{"id": a, "properties": {}}, {"id": a, "properties": {}}], 400),
    ):
        with pytest.raises(ApiException) as err:
            update(bad)
        assert err.value.status == status
    assert hubspot.contact(a)["properties"]["firstname"] == "W"


def test_batch_upsert_by_email_and_by_custom_id(client: HubSpot, hubspot: HubSpotSimulator) -> None:
    (existing,) = hubspot.load_contacts([{"email": "known@example.com", "firstname": "Old"}])

    def upsert(inputs: list[dict]) -> object:
        return client.crm.contacts.batch_api.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs))

    answer = upsert(
        [
            {"id": "KNOWN@example.com", "idProperty": "email", "properties": {"firstname": "New"}},
            {"id": "fresh@example.com", "idProperty": "email", "properties": {"firstname": "Fresh"}},
        ]
    )
    assert answer.status == "COMPLETE"
    assert [(r.id == existing, r.new, r.properties["firstname"]) for r in answer.results] == [
        (True, False, "New"),
        (False, True, "Fresh"),
    ]
    assert answer.results[1].properties["email"] == "fresh@example.com"
    by_ext = upsert([{"id": "g-1", "idProperty": "genesys_id", "properties": {"email": "ext@example.com"}}])
    again = upsert([{"id": "g-1", "idProperty": "genesys_id", "properties": {"lastname": "Again"}}])
    assert by_ext.results[0].new and not again.results[0].new and again.results[0].id == by_ext.results[0].id
    assert hubspot.count_contacts() == 3
    for bad in (
        [{"id": "x", "idProperty": "firstname", "properties": {}}],
        [{"id": "x@example.com", "properties": {}}],
        [{"id": "not-an-email", "idProperty": "email", "properties": {}}],
        [{"id": "a@example.com", "idProperty": "email", "properties": {}}] * 2,
    ):
        with pytest.raises(ApiException) as err:
            upsert(bad)
        assert err.value.status == 400
    assert hubspot.count_contacts() == 3


def test_batch_archive_and_the_input_limit(client: HubSpot, hubspot: HubSpotSimulator, http: httpx.Client) -> None:
    ids = hubspot.load_contacts(contact_rows(3))
    client.crm.contacts.batch_api.archive(BatchInputSimplePublicObjectId(inputs=[{"id": ids[0]}, {"id": "777"}]))
    assert hubspot.count_contacts() == 2 and hubspot.contacts(archived=True)[0]["id"] == ids[0]
    raw = http.post(f"{CONTACTS}/batch/archive", json={"inputs": [{"id": ids[1]}]})
    assert raw.status_code == 204 and raw.content == b""

    too_many = [{"properties": {"email": f"m{i}@example.com"}} for i in range(101)]
    with pytest.raises(ApiException) as err:
        batch_create(client, too_many)
    assert err.value.status == 400 and body_of(err.value)["category"] == "VALIDATION_ERROR"
    assert "101" in body_of(err.value)["message"]
    assert len(batch_create(client, too_many[:100]).results) == 100


def test_v4_batch_associate_default(client: HubSpot, hubspot: HubSpotSimulator) -> None:
    contacts = hubspot.load_contacts(contact_rows(2))
    (company,) = hubspot.load_companies([{"name": "Acme", "domain": "acme.com"}])
    answer = client.crm.associations.v4.batch_api.create_default(
        "contacts",
        "companies",
        BatchInputPublicDefaultAssociationMultiPost(
            inputs=[{"from": {"id": c}, "to": {"id": company}} for c in [*contacts, "424242"]]
        ),
    )
    assert answer.status == "COMPLETE"
    assert sorted(r._from.id for r in answer.results if r.association_spec.association_type_id == 279) == contacts
    assert answer.num_errors == 1 and answer.errors[0].context == {"ids": ["424242"]}
    company_view = client.crm.companies.basic_api.get_by_id(company, associations=["contacts"])
    assert sorted(a.id for a in company_view.associations["contacts"].results) == contacts
