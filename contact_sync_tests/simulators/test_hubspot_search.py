"""HubSpot simulator: CRM search through the official client (filters, sorts, paging up to the result cap and the
400 past it, eventual consistency) and the SQL behind it at 100,000 contacts."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest

from contact_sync.simulators.hubspot import HubSpotSimulator
from contact_sync.simulators.hubspot.schema import CONTACTS
from contact_sync.simulators.hubspot.search import plan_search
from contact_sync.simulators.hubspot.store import Store
from contact_sync_tests.simulators.hubspot_fixtures import (
    body_of,
    client,
    clock,
    contact_rows,
    hubspot,
    served_hubspot,
)
from contact_sync_tests.simulators.shared_fixtures import TestClock

__all__ = ["client", "clock", "hubspot", "served_hubspot"]


def search(client: HubSpot, *groups: list[dict], **kwargs: object) -> object:
    request = PublicObjectSearchRequest(filter_groups=[{"filters": g} for g in groups], **kwargs)
    return client.crm.contacts.search_api.do_search(request)


def ids_of(answer: object) -> list[str]:
    return [r.id for r in answer.results]  # type: ignore[attr-defined]


def test_filters_and_or_groups(client: HubSpot, hubspot: HubSpotSimulator) -> None:
    ids = hubspot.load_contacts(
        [
            {"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee", "phone": "+1"},
            {"email": "bob@example.com", "firstname": "Bob", "lastname": "Lee"},
            {"email": "cy@other.org", "firstname": "Cy", "lastname": "Ray", "genesys_id": "g1"},
        ]
    )
    ann, bob, cy = ids

    def found(*groups: list[dict]) -> list[str]:
        return ids_of(search(client, *groups))

    assert found([{"propertyName": "lastname", "operator": "EQ", "value": "lee"}]) == [ann, bob]  # ignores case
    assert found(
        [
            {"propertyName": "lastname", "operator": "EQ", "value": "Lee"},
            {"propertyName": "firstname", "operator": "NEQ", "value": "Ann"},
        ]
    ) == [bob]
    assert found(
        [{"propertyName": "firstname", "operator": "EQ", "value": "Ann"}],
        [{"propertyName": "lastname", "operator": "EQ", "value": "Ray"}],
    ) == [ann, cy]
    assert found([{"propertyName": "email", "operator": "EQ", "value": "BOB@example.com"}]) == [bob]
    assert found([{"propertyName": "firstname", "operator": "IN", "values": ["ann", "cy"]}]) == [ann, cy]
    assert found([{"propertyName": "firstname", "operator": "NOT_IN", "values": ["ann"]}]) == [bob, cy]
    assert found([{"propertyName": "phone", "operator": "HAS_PROPERTY"}]) == [ann]
    assert found([{"propertyName": "genesys_id", "operator": "NOT_HAS_PROPERTY"}]) == [ann, bob]
    assert found([{"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@other.org"}]) == [cy]
    assert found([{"propertyName": "hs_object_id", "operator": "GT", "value": ann}]) == [bob, cy]
    assert found([{"propertyName": "hs_object_id", "operator": "BETWEEN", "value": ann, "highValue": bob}]) == [
        ann,
        bob,
    ]
    assert found([{"propertyName": "hs_object_id", "operator": "LTE", "value": ann}]) == [ann]
    assert ids_of(search(client, query="other.org")) == [cy]
    assert search(client).total == 3

    hubspot.archive_contact(bob)
    assert found([{"propertyName": "lastname", "operator": "EQ", "value": "lee"}]) == [ann]  # archived never match


def test_properties_sorts_and_timestamps(client: HubSpot, hubspot: HubSpotSimulator, clock: TestClock) -> None:
    first = hubspot.load_contacts(contact_rows(2))
    clock.advance(60)
    later = hubspot.load_contacts(contact_rows(2, start=2))
    watermark = "2026-01-01T00:01:00.000Z"
    epoch_ms = str(int(datetime(2026, 1, 1, 0, 1, tzinfo=UTC).timestamp() * 1000))
    for value in (watermark, epoch_ms, "2026-01-01T00:01:00Z"):
        answer = search(
            client,
            [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": value}],
            sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            properties=["email"],
        )
        assert ids_of(answer) == later and answer.total == 2
    assert set(answer.results[0].properties) == {"createdate", "email", "hs_object_id", "lastmodifieddate"}
    descending = search(client, sorts=[{"propertyName": "createdate", "direction": "DESCENDING"}])
    assert ids_of(descending) == [*later, *first]  # ties in id order
    assert ids_of(search(client, sorts=["-hs_object_id"])) == [*reversed(later), *reversed(first)]
    plain = search(client, [{"propertyName": "lastmodifieddate", "operator": "LT", "value": watermark}])
    assert ids_of(plain) == first
    assert set(plain.results[0].properties) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }


def test_paging_up_to_the_cap_then_400(client: HubSpot, hubspot: HubSpotSimulator) -> None:
    hubspot.search_result_cap = 25
    ids = hubspot.load_contacts(contact_rows(40))
    seen, after = [], None
    while True:
        answer = search(client, limit=10, after=after)
        assert answer.total == 40
        seen += ids_of(answer)
        if after == "20":
            assert len(answer.results) == 5  # the cap clips the last page
        assert answer.paging is not None  # the page reaching the cap still offers a next page
        after = answer.paging.next.after
        if int(after) >= 25:
            break
    assert seen == ids[:25]
    with pytest.raises(ApiException) as err:
        search(client, limit=10, after=after)
    assert err.value.status == 400
    body = body_of(err.value)
    assert body["category"] == "VALIDATION_ERROR" and body["correlationId"] and "25" in body["message"]
    narrowed = search(client, [{"propertyName": "hs_object_id", "operator": "GT", "value": seen[-1]}], limit=100)
    assert ids_of(narrowed) == ids[25:] and narrowed.paging is None


def test_search_refuses_what_hubspot_refuses(client: HubSpot) -> None:
    bad_requests = [
        {"limit": 101},
        {"filter_groups": [{"filters": [{"propertyName": "nosuch", "operator": "EQ", "value": "x"}]}]},
        {
            "filter_groups": [
                {"filters": [{"propertyName": "lastmodifieddate", "operator": "GT", "value": "yesterday"}]}
            ]
        },
        {"filter_groups": [{"filters": []}] * 6},
        {"filter_groups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 7}]},
        {"sorts": ["firstname", "lastname"]},
        {"after": "abc"},
    ]
    for kwargs in bad_requests:
        with pytest.raises(ApiException) as err:
            client.crm.contacts.search_api.do_search(PublicObjectSearchRequest(**kwargs))
        assert err.value.status == 400, kwargs
        assert body_of(err.value)["category"] == "VALIDATION_ERROR"


def test_search_lags_behind_writes(client: HubSpot, hubspot: HubSpotSimulator, clock: TestClock) -> None:
    hubspot.search_lag_s = 5
    (cid,) = hubspot.load_contacts([{"email": "lag@example.com"}])
    assert search(client).total == 0
    assert client.crm.contacts.basic_api.get_by_id(cid).id == cid  # reads by id are consistent at once
    clock.advance(5)
    assert ids_of(search(client)) == [cid]
    hubspot.edit_contact(cid, {"firstname": "Edited"})
    assert search(client).total == 0
    clock.advance(6)
    assert search(client, properties=["firstname"]).results[0].properties["firstname"] == "Edited"


def test_one_hundred_thousand_contacts_load_fast_and_search_by_index(
    client: HubSpot, hubspot: HubSpotSimulator
) -> None:
    rows = contact_rows(100_000)
    started = time.perf_counter()
    ids = hubspot.load_contacts(rows)
    load_s = time.perf_counter() - started
    assert len(ids) == 100_000 and hubspot.count_contacts() == 100_000
    assert load_s < 20, f"loading 100,000 contacts took {load_s:.1f} s"

    hubspot.edit_contact(ids[50_000], {"firstname": "Changed"})
    changed_since = hubspot.contact(ids[50_000])["properties"]["lastmodifieddate"]
    answer = search(
        client,
        [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": changed_since}],
        sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
    )
    assert ids_of(answer) == [ids[50_000]] and answer.total == 1
    by_email = client.crm.contacts.basic_api.get_by_id("person99999@example.com", id_property="email")
    assert by_email.id == ids[-1]
    page = client.crm.contacts.basic_api.get_page(limit=100, after=ids[99_950])
    assert [r.id for r in page.results] == ids[99_950:] and page.paging is None

    window = {"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}]}]}
    window["sorts"] = [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    compiled = plan_search(
        CONTACTS, hubspot.service.registry["contacts"], window, now=hubspot.now(), lag_s=0, cap=10_000, page_max=100
    )
    count_sql, page_sql = Store.search_sql(CONTACTS, compiled.where, compiled.order)
    with hubspot.store.snapshot() as db:

        def plan_of(sql: str, params: list) -> str:
            return " ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params))

        page_plan = plan_of(page_sql, [*compiled.params, 100, 0])
        count_plan = plan_of(count_sql, compiled.params)
        email_plan = plan_of("SELECT id FROM contacts WHERE email_key IN (?)", ["x"])
    assert "contacts_updated" in page_plan and "TEMP B-TREE" not in page_plan  # no sort of 100,000 rows per page
    assert "contacts_updated" in count_plan
    assert "contacts_email" in email_plan
