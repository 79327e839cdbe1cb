"""Bulk API 2.0 query jobs through `sf.bulk2`, the updated/deleted replication endpoints, retrieve-many, and API
limits."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceRefusedRequest

from contact_sync.simulators.salesforce import SalesforceSimulator
from contact_sync_tests.simulators import salesforce_fixtures as fx
from contact_sync_tests.simulators.salesforce_fixtures import api, utc
from contact_sync_tests.simulators.shared_fixtures import TestClock

served_sf, sim, sf, http = fx.served_sf, fx.sim, fx.sf, fx.http


def _rows(pages: list[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for page in pages:
        out.extend(csv.DictReader(io.StringIO(page)))
    return out


def test_bulk2_query_pages_with_locators(sim: SalesforceSimulator, sf: Salesforce) -> None:
    ids = sim.load_contacts(
        [{"LastName": f"P{i:03d}", "Email": f"p{i}@example.com" if i % 2 else None} for i in range(250)]
    )
    pages = list(sf.bulk2.Contact.query("SELECT Id, LastName, Email, IsDeleted FROM Contact", max_records=100, wait=0))
    assert len(pages) == 3
    rows = _rows(pages)
    assert [r["Id"] for r in rows] == ids
    assert rows[0] == {"Id": ids[0], "LastName": "P000", "Email": "", "IsDeleted": "false"}
    assert rows[1]["Email"] == "p1@example.com"
    assert pages[0].startswith('"Id","LastName","Email","IsDeleted"\n')
    assert sim.calls[("GET", "/services/data/v{version}/jobs/query/{job}/results")] == 3


def test_bulk2_query_all_includes_deleted_rows(sim: SalesforceSimulator, sf: Salesforce) -> None:
    keep, gone = sim.load_contacts([{"LastName": "Keep"}, {"LastName": "Gone"}])
    sim.delete_contact(gone)
    live = _rows(list(sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=0)))
    assert [r["Id"] for r in live] == [keep]
    every = _rows(list(sf.bulk2.Contact.query_all("SELECT Id, IsDeleted FROM Contact", wait=0)))
    assert {(r["Id"], r["IsDeleted"]) for r in every} == {(keep, "false"), (gone, "true")}


def test_bulk2_raw_protocol(sim: SalesforceSimulator, http: requests.Session) -> None:
    sim.load_contacts([{"LastName": f"P{i}"} for i in range(3)])
    job = http.post(api(sim, "jobs/query"), json={"operation": "query", "query": "SELECT Id FROM Contact"}).json()
    assert job["state"] == "UploadComplete"
    assert http.get(api(sim, f"jobs/query/{job['id']}")).json()["state"] == "JobComplete"
    first = http.get(api(sim, f"jobs/query/{job['id']}/results"), params={"maxRecords": 2})
    assert first.headers["Sforce-NumberOfRecords"] == "2"
    locator = first.headers["Sforce-Locator"]
    assert locator != "null"
    last = http.get(api(sim, f"jobs/query/{job['id']}/results"), params={"maxRecords": 2, "locator": locator})
    assert last.headers["Sforce-NumberOfRecords"] == "1"
    assert last.headers["Sforce-Locator"] == "null"
    bad = http.post(api(sim, "jobs/query"), json={"operation": "query", "query": "SELECT Nope FROM Contact"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"
    assert http.delete(api(sim, f"jobs/query/{job['id']}")).status_code == 204
    assert http.get(api(sim, f"jobs/query/{job['id']}")).status_code == 404


def test_updated_and_deleted_endpoints(sim: SalesforceSimulator, sf: Salesforce) -> None:
    clock = TestClock(utc(2026, 5, 1, 8, 0))
    sim.set_clock(clock)
    old, changed, removed = sim.load_contacts([{"LastName": "Old"}, {"LastName": "Changed"}, {"LastName": "Gone"}])
    clock.now = utc(2026, 5, 1, 9, 0, 30)
    sim.edit_contact(changed, Phone="1")
    clock.now = utc(2026, 5, 1, 9, 10)
    sim.delete_contact(removed)
    clock.now = utc(2026, 5, 1, 10, 0)

    updated = sf.Contact.updated(utc(2026, 5, 1, 8, 30), utc(2026, 5, 1, 11, 0))
    assert updated["ids"] == [changed]
    assert updated["latestDateCovered"] == "2026-05-01T10:00:00.000+0000"  # not later than now
    everything = sf.Contact.updated(utc(2026, 5, 1, 7, 0), utc(2026, 5, 1, 9, 59))
    assert everything["ids"] == [old, changed]
    deleted = sf.Contact.deleted(utc(2026, 5, 1, 9, 0), utc(2026, 5, 1, 9, 30))
    assert deleted["deletedRecords"] == [{"id": removed, "deletedDate": "2026-05-01T09:10:00.000+0000"}]
    assert deleted["earliestDateAvailable"] == "2026-04-16T10:00:00.000+0000"
    assert sf.Contact.deleted(utc(2026, 5, 1, 9, 11), utc(2026, 5, 1, 9, 30))["deletedRecords"] == []


def test_replication_windows_are_checked(sim: SalesforceSimulator, http: requests.Session) -> None:
    sim.set_clock(TestClock(utc(2026, 5, 1, 10, 0)))
    too_old = http.get(
        api(sim, "sobjects/Contact/updated/"), params={"start": "2026-03-01T00:00:00Z", "end": "2026-05-01T00:00:00Z"}
    )
    assert too_old.status_code == 400 and too_old.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    backwards = http.get(
        api(sim, "sobjects/Contact/deleted/"), params={"start": "2026-05-01T09:00:00Z", "end": "2026-05-01T08:00:00Z"}
    )
    assert backwards.status_code == 400


def test_limits_and_the_usage_header(sim: SalesforceSimulator, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Contact")
    assert sf.api_usage["api-usage"].used == 1
    assert sf.api_usage["api-usage"].total == sim.daily_api_limit
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": sim.daily_api_limit, "Remaining": sim.daily_api_limit - 2}
    # Every key a real org answers, in its shape: a client reading any of them (a Singer tap reads
    # DailyBulkApiBatches in Bulk mode) finds it.
    assert len(limits) >= 50 and all(set(v) == {"Max", "Remaining"} for v in limits.values())
    for key in ("DailyBulkApiBatches", "DailyBulkV2QueryJobs", "DailyAsyncApexExecutions", "DataStorageMB"):
        assert limits[key]["Max"] >= limits[key]["Remaining"] >= 0


def test_retrieve_many_returns_the_records_asked_in_order_and_null_for_the_missing(
    sim: SalesforceSimulator, sf: Salesforce
) -> None:
    ada, alan, gone = sim.load_contacts([{"LastName": "Lovelace"}, {"LastName": "Turing"}, {"LastName": "Gone"}])
    sim.delete_contact(gone)
    asked = [alan, gone, ada]
    by_get = sf.restful("composite/sobjects/Contact", params={"ids": ",".join(asked), "fields": "Id,LastName"})
    by_post = sf.restful("composite/sobjects/Contact", method="POST", json={"ids": asked, "fields": ["LastName"]})
    assert [r and r["LastName"] for r in by_get] == ["Turing", None, "Lovelace"]
    assert by_get[0]["attributes"]["type"] == "Contact" and set(by_get[0]) == {"attributes", "Id", "LastName"}
    assert [r and r["LastName"] for r in by_post] == ["Turing", None, "Lovelace"]
    with pytest.raises(SalesforceMalformedRequest) as no_fields:
        sf.restful("composite/sobjects/Contact", params={"ids": ada})
    assert no_fields.value.content[0]["errorCode"] == "MISSING_ARGUMENT"
    with pytest.raises(SalesforceMalformedRequest) as bad_field:
        sf.restful("composite/sobjects/Contact", params={"ids": ada, "fields": "Nope__c"})
    assert bad_field.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_daily_allocation_exhausted_is_403(sim: SalesforceSimulator, sf: Salesforce) -> None:
    sim.api_usage = sim.daily_api_limit - 1
    sf.query("SELECT Id FROM Contact")  # the last call of the day
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.query("SELECT Id FROM Contact")
    assert err.value.status == 403
    assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_a_small_daily_limit_is_configurable() -> None:
    from contact_sync.simulators import serve_simulator
    from contact_sync_tests.simulators.salesforce_fixtures import session_client

    tiny = SalesforceSimulator(daily_api_limit=3)
    with serve_simulator(tiny):
        sf = session_client(tiny)
        for _ in range(3):
            sf.query("SELECT Id FROM Contact")
        with pytest.raises(SalesforceRefusedRequest):
            sf.query("SELECT Id FROM Contact")
        sf.session.close()
    assert tiny.api_usage == 3


def test_clock_can_be_moved_forward(sim: SalesforceSimulator) -> None:
    clock = TestClock(utc(2026, 1, 1))
    sim.set_clock(clock)
    (cid,) = sim.load_contacts([{"LastName": "T"}])
    clock.now += timedelta(days=1)
    sim.edit_contact(cid, Phone="2")
    assert sim.contact(cid)["SystemModstamp"] == "2026-01-02T00:00:00.000+0000"
