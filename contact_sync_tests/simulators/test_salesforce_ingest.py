"""Bulk API 2.0 ingest jobs through simple-salesforce's `sf.bulk2` (insert, update, upsert, delete with per-row
results) and the raw protocol: one upload a job, the job states, CSV cell rules and the service's refusals."""

from __future__ import annotations

import csv
import io

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from contact_sync.simulators.salesforce import SalesforceSimulator
from contact_sync_tests.simulators import salesforce_fixtures as fx
from contact_sync_tests.simulators.salesforce_fixtures import api

served_sf, sim, sf, http = fx.served_sf, fx.sim, fx.sf, fx.http


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_insert_reports_each_row(sim: SalesforceSimulator, sf: Salesforce) -> None:
    rows = [
        {"LastName": "Ada", "Email": "ada@example.com", "LeadScore__c": "4.5"},
        {"LastName": "", "Email": "nolast@example.com", "LeadScore__c": ""},
        {"LastName": "Bad", "Email": "not-an-email", "LeadScore__c": ""},
    ]
    [result] = sf.bulk2.Contact.insert(records=rows, wait=0)
    assert result["numberRecordsProcessed"] == 3
    assert result["numberRecordsFailed"] == 2
    ok = _csv(sf.bulk2.Contact.get_successful_records(result["job_id"]))
    assert [(r["sf__Created"], r["LastName"], r["Email"]) for r in ok] == [("true", "Ada", "ada@example.com")]
    assert sim.contact(ok[0]["sf__Id"])["LeadScore__c"] == 4.5
    failed = {r["Email"]: r["sf__Error"] for r in _csv(sf.bulk2.Contact.get_failed_records(result["job_id"]))}
    assert failed["nolast@example.com"].startswith("REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]")
    assert failed["not-an-email"].startswith("INVALID_EMAIL_ADDRESS:Email: invalid email address: not-an-email:Email")
    assert sf.bulk2.Contact.get_unprocessed_records(result["job_id"]).strip() != ""  # the header only
    assert _csv(sf.bulk2.Contact.get_unprocessed_records(result["job_id"])) == []


def test_update_empty_cell_keeps_and_na_clears(sim: SalesforceSimulator, sf: Salesforce) -> None:
    a, b = sim.load_contacts(
        [{"LastName": "A", "Email": "a@example.com", "Phone": "1"}, {"LastName": "B", "Email": "b@example.com"}]
    )
    rows = [{"Id": a, "Email": "", "Phone": "#N/A"}, {"Id": b, "Email": "new@example.com", "Phone": ""}]
    [result] = sf.bulk2.Contact.update(records=rows, wait=0)
    assert result["numberRecordsFailed"] == 0
    assert (sim.contact(a)["Email"], sim.contact(a)["Phone"]) == ("a@example.com", None)
    assert sim.contact(b)["Email"] == "new@example.com"
    ok = _csv(sf.bulk2.Contact.get_successful_records(result["job_id"]))
    assert {(r["sf__Id"], r["sf__Created"]) for r in ok} == {(a, "false"), (b, "false")}


def test_update_of_a_missing_record_fails_that_row_only(sim: SalesforceSimulator, sf: Salesforce) -> None:
    [a] = sim.load_contacts([{"LastName": "A"}])
    gone = sim.load_contacts([{"LastName": "Gone"}])[0]
    sim.delete_contact(gone)
    [result] = sf.bulk2.Contact.update(records=[{"Id": a, "LastName": "A2"}, {"Id": gone, "LastName": "X"}], wait=0)
    assert result["numberRecordsFailed"] == 1
    [failed] = _csv(sf.bulk2.Contact.get_failed_records(result["job_id"]))
    assert failed["sf__Id"] == gone and failed["sf__Error"].startswith("ENTITY_IS_DELETED:")
    assert sim.contact(a)["LastName"] == "A2"


def test_upsert_by_external_id_creates_then_updates(sim: SalesforceSimulator, sf: Salesforce) -> None:
    rows = [{"Genesys_Id__c": "g-1", "LastName": "One"}, {"Genesys_Id__c": "g-2", "LastName": "Two"}]
    [first] = sf.bulk2.Contact.upsert(records=rows, external_id_field="Genesys_Id__c", wait=0)
    created = _csv(sf.bulk2.Contact.get_successful_records(first["job_id"]))
    assert {r["sf__Created"] for r in created} == {"true"}
    again = [{"Genesys_Id__c": "g-1", "LastName": "Uno"}, {"Genesys_Id__c": "g-1", "LastName": "Twice"}]
    [second] = sf.bulk2.Contact.upsert(records=again, external_id_field="Genesys_Id__c", wait=0)
    [updated] = _csv(sf.bulk2.Contact.get_successful_records(second["job_id"]))
    assert updated["sf__Created"] == "false"
    assert updated["sf__Id"] == next(r["sf__Id"] for r in created if r["Genesys_Id__c"] == "g-1")
    assert sim.contact(updated["sf__Id"])["LastName"] == "Uno"
    [dup] = _csv(sf.bulk2.Contact.get_failed_records(second["job_id"]))
    assert dup["sf__Error"].startswith("DUPLICATE_EXTERNAL_ID:")
    assert sim.count() == 2


def test_delete_job(sim: SalesforceSimulator, sf: Salesforce) -> None:
    a, b = sim.load_contacts([{"LastName": "A"}, {"LastName": "B"}])
    [result] = sf.bulk2.Contact.delete(records=[{"Id": a}], wait=0)
    assert result["numberRecordsFailed"] == 0
    assert sim.contact(a)["IsDeleted"] and not sim.contact(b)["IsDeleted"]


def test_unknown_column_fails_the_job(sim: SalesforceSimulator, sf: Salesforce) -> None:
    with pytest.raises(SalesforceOperationError, match="Field name not found : Nickname__c"):
        sf.bulk2.Contact.insert(records=[{"LastName": "A", "Nickname__c": "x"}], wait=0)
    assert sim.count() == 0


def _open_job(http: requests.Session, sim: SalesforceSimulator, **extra: str) -> dict:
    body = {"object": "Contact", "operation": "insert", "contentType": "CSV", **extra}
    reply = http.post(api(sim, "jobs/ingest"), json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_raw_protocol_states_and_one_upload(sim: SalesforceSimulator, http: requests.Session) -> None:
    job = _open_job(http, sim)
    assert (job["state"], job["jobType"], job["contentUrl"]) == (
        "Open",
        "V2Ingest",
        f"services/data/v59.0/jobs/ingest/{job['id']}/batches",
    )
    url = api(sim, f"jobs/ingest/{job['id']}")
    csv_headers = {"Content-Type": "text/csv"}
    assert http.put(f"{url}/batches", data=b"LastName\nA\nB\n", headers=csv_headers).status_code == 201
    again = http.put(f"{url}/batches", data=b"LastName\nA\nB\n", headers=csv_headers)
    assert again.status_code == 400
    assert again.json()[0]["errorCode"] == "BULK_API_ERROR" and "uploaded only once" in again.json()[0]["message"]
    assert http.get(f"{url}/successfulResults").status_code == 400  # not processed yet
    assert http.patch(url, json={"state": "UploadComplete"}).json()["state"] == "UploadComplete"
    closed_again = http.patch(url, json={"state": "UploadComplete"})
    assert closed_again.status_code == 409 and closed_again.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    states = [http.get(url).json()["state"] for _ in range(3)]
    assert states == ["InProgress", "JobComplete", "JobComplete"]
    assert http.get(url).json()["numberRecordsProcessed"] == 2
    assert sim.count() == 2
    listed = http.get(api(sim, "jobs/ingest")).json()["records"]
    assert [j["id"] for j in listed] == [job["id"]]
    assert http.delete(url).status_code == 204
    assert http.get(url).status_code == 404


def test_abort_leaves_every_row_unprocessed(sim: SalesforceSimulator, http: requests.Session) -> None:
    job = _open_job(http, sim)
    url = api(sim, f"jobs/ingest/{job['id']}")
    http.put(f"{url}/batches", data=b"LastName\nA\nB\n", headers={"Content-Type": "text/csv"})
    assert http.patch(url, json={"state": "Aborted"}).json()["state"] == "Aborted"
    assert _csv(http.get(f"{url}/unprocessedrecords").text) == [{"LastName": "A"}, {"LastName": "B"}]
    assert sim.count() == 0


def test_refusals(sim: SalesforceSimulator, http: requests.Session) -> None:
    bad_op = http.post(api(sim, "jobs/ingest"), json={"object": "Contact", "operation": "merge"})
    assert bad_op.status_code == 400 and bad_op.json()[0]["errorCode"] == "INVALIDJOB"
    bad_obj = http.post(api(sim, "jobs/ingest"), json={"object": "Lead", "operation": "insert"})
    assert bad_obj.status_code == 400 and "Lead" in bad_obj.json()[0]["message"]
    no_ext = http.post(api(sim, "jobs/ingest"), json={"object": "Contact", "operation": "upsert"})
    assert no_ext.status_code == 400
    not_ext = http.post(
        api(sim, "jobs/ingest"), json={"object": "Contact", "operation": "upsert", "externalIdFieldName": "Email"}
    )
    assert not_ext.status_code == 400
    job = _open_job(http, sim)
    url = api(sim, f"jobs/ingest/{job['id']}")
    as_json = http.put(f"{url}/batches", json=[{"LastName": "A"}])
    assert as_json.status_code == 400 and as_json.json()[0]["errorCode"] == "INVALIDJOB"
    assert http.delete(url).status_code == 409  # open jobs are aborted first
    assert http.patch(url, json={"state": "JobComplete"}).status_code == 400
    assert http.get(api(sim, "jobs/ingest/750000000000000AAA")).status_code == 404
    # Closing with no upload: the job fails with the service's message, nothing written.
    assert http.patch(url, json={"state": "UploadComplete"}).status_code == 200
    http.get(url)
    failed = http.get(url).json()
    assert (failed["state"], failed["errorMessage"]) == ("Failed", "InvalidBatch : No content found")


def test_wrong_width_row_and_quoted_values(sim: SalesforceSimulator, http: requests.Session) -> None:
    job = _open_job(http, sim, columnDelimiter="SEMICOLON", lineEnding="CRLF")
    url = api(sim, f"jobs/ingest/{job['id']}")
    data = b'LastName;Tags__c\r\n"O;Brien";"a\r\nb"\r\nShort\r\n'
    assert http.put(f"{url}/batches", data=data, headers={"Content-Type": "text/csv"}).status_code == 201
    http.patch(url, json={"state": "UploadComplete"})
    http.get(url)
    assert http.get(url).json()["numberRecordsFailed"] == 1
    ok = list(csv.reader(io.StringIO(http.get(f"{url}/successfulResults").text, newline=""), delimiter=";"))
    assert ok[0] == ["sf__Id", "sf__Created", "LastName", "Tags__c"]
    assert ok[1][2:] == ["O;Brien", "a\r\nb"]
    assert sim.contact(ok[1][0])["LastName"] == "O;Brien"
