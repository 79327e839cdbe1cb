"""Tests of the HubSpot connector end to end against the HubSpot simulator served over TLS: full and incremental
reads (archives and merges as deletes), the 10,000-result search cap, batched writes with per-record outcomes, a
taken email left to matching, 429 bursts, 5xx and lost answers, OAuth, secrets."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from contact_sync.connectors.http import AuthError, RetryPolicy
from contact_sync.connectors.results import WriteReport
from contact_sync.crms.hubspot.connector import HubSpotConnector, format_stamp, parse_stamp
from contact_sync.crms.hubspot.settings import HubSpotSettings
from contact_sync.settings import Secret
from contact_sync.simulators.faults import FaultRule
from contact_sync.simulators.hubspot import HubSpotSimulator
from contact_sync_tests.simulators.hubspot_fixtures import (
    CONTACTS,
    clock,
    contact_rows,
    http,
    hubspot,
    served_hubspot,
)
from contact_sync_tests.simulators.shared_fixtures import TestClock

__all__ = ["clock", "http", "hubspot", "served_hubspot"]

FAST_RETRY = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05)


def connector(sim: HubSpotSimulator, **options: Any) -> HubSpotConnector:
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("rate_limit", False)
    return HubSpotConnector(HubSpotSettings.from_env(sim.env()), **options)


def statuses(report: WriteReport) -> dict[str, str]:
    return {o.key: o.status for o in report.outcomes}


def stamped_rows(at: TestClock, count: int, start: int = 0, step_s: float = 1.0) -> list[dict[str, Any]]:
    """Contacts whose last modification is `step_s` apart, from the clock's time on."""
    rows = contact_rows(count, start)
    for n, row in enumerate(rows):
        row["lastmodifieddate"] = format_stamp(at.now + timedelta(seconds=step_s * (n + 1)))
    return rows


# --- reads ---------------------------------------------------------------------------------------------------------


def test_a_first_read_lists_every_contact_in_pages_and_ends_on_the_latest_stamp(hubspot: HubSpotSimulator) -> None:
    ids = hubspot.load_contacts(contact_rows(250, phone="+1 317 555 0100"))
    hubspot.archive_contact(ids[0])
    with connector(hubspot) as hs:
        read = hs.read_contacts(None)
    assert sorted(r["id"] for r in read.records) == sorted(ids[1:])
    assert read.api_calls == 3  # 249 live contacts, 100 a page
    row = next(r for r in read.records if r["id"] == ids[1])
    assert row["email"] == "person1@example.com" and row["phone"] == "+1 317 555 0100"
    assert row["associatedcompanyid"] is None and row["archived"] is False  # a property without a value is None
    assert read.watermark == max(r["lastmodifieddate"] for r in read.records)


def test_an_incremental_read_brings_edits_creates_archives_and_merges_only(
    hubspot: HubSpotSimulator, clock: TestClock, http: Any
) -> None:
    ids = hubspot.load_contacts(contact_rows(6))
    clock.advance(600)
    hubspot.edit_contact(ids[5], {"lastname": "Latest"})  # the first read's watermark: the overlap reads it again
    with connector(hubspot) as hs:
        first = hs.read_contacts(None)
        clock.advance(600)  # past the 5-minute overlap
        hubspot.edit_contact(ids[0], {"firstname": "Edited"})
        hubspot.archive_contact(ids[1])
        created = http.post(CONTACTS, json={"properties": {"email": "new@example.com"}}).json()["id"]
        merged = http.post(f"{CONTACTS}/merge", json={"primaryObjectId": ids[2], "objectIdToMerge": ids[3]}).json()[
            "id"
        ]
        read = hs.read_contacts(first.watermark)
    rows = {r["id"]: r for r in read.records}
    assert set(rows) == {ids[0], ids[1], created, merged, ids[2], ids[3], ids[5]}  # ids[4] did not change
    assert rows[ids[0]]["firstname"] == "Edited"
    assert rows[ids[1]]["archived"] is True and parse_stamp(rows[ids[1]]["archivedAt"]) is not None
    # HubSpot's merge makes a new record: both old ids are gone into it.
    assert merged not in (ids[2], ids[3])
    assert rows[ids[2]]["merged_into"] == merged and rows[ids[3]]["merged_into"] == merged
    assert rows[ids[2]]["archived"] is True
    assert parse_stamp(read.watermark) > parse_stamp(first.watermark)  # type: ignore[operator]


def test_the_change_probe_is_one_search_after_the_watermark(hubspot: HubSpotSimulator, clock: TestClock) -> None:
    ids = hubspot.load_contacts(contact_rows(3))
    clock.advance(60)
    with connector(hubspot) as hs:
        watermark = hs.read_contacts(None).watermark
        before = hs.counter.total
        assert hs.has_changes(watermark) is False
        assert hs.counter.total - before == 1
        clock.advance(1)
        hubspot.edit_contact(ids[2], {"lastname": "Later"})
        assert hs.has_changes(watermark) is True
        assert hs.has_changes(hs.read_contacts(watermark).watermark) is False


def test_a_change_inside_the_overlap_is_read_again_and_an_old_archive_is_not(
    hubspot: HubSpotSimulator, clock: TestClock
) -> None:
    ids = hubspot.load_contacts(contact_rows(3))
    hubspot.archive_contact(ids[2])
    with connector(hubspot) as hs:
        first = hs.read_contacts(None)
        clock.advance(3600)
        hubspot.edit_contact(ids[0], {"lastname": "Once"})
        second = hs.read_contacts(first.watermark)
        third = hs.read_contacts(second.watermark)
        clock.advance(600)
        fourth = hs.read_contacts(third.watermark)
    assert {r["id"] for r in second.records} == set(ids)  # the archive and the load are inside the overlap
    assert [r["id"] for r in third.records] == [ids[0]]  # the edit again (overlap); the hour-old archive is not
    # Nothing new: the watermark stays on the latest change, which the overlap reads again (a no-op downstream).
    assert [r["id"] for r in fourth.records] == [ids[0]] and fourth.watermark == third.watermark


def test_the_search_cap_is_passed_by_narrowing_the_window(hubspot: HubSpotSimulator, clock: TestClock) -> None:
    hubspot.search_result_cap = 200
    since = format_stamp(clock.now)
    ids = hubspot.load_contacts(stamped_rows(clock, 450))
    with connector(hubspot, search_cap=200, overlap=timedelta(0)) as hs:
        read = hs.read_contacts(since)
        searches = hs.counter.as_dict().get("POST /crm/v3/objects/contacts/search", 0)
    found = [r["id"] for r in read.records]
    assert sorted(found) == sorted(ids) and len(found) == len(set(found))
    # 450 contacts through 200-result windows (2 + 2 + 1 pages; never one past the cap) and one archived list.
    assert searches == 5 and read.api_calls == 6


def test_more_contacts_on_one_millisecond_than_the_cap_are_read_by_listing(
    hubspot: HubSpotSimulator, clock: TestClock
) -> None:
    hubspot.search_result_cap = 100
    since = format_stamp(clock.now - timedelta(seconds=1))
    ids = hubspot.load_contacts(contact_rows(250))  # one load: one stamp for all
    with connector(hubspot, search_cap=100, overlap=timedelta(0)) as hs:
        read = hs.read_contacts(since)
    assert sorted(r["id"] for r in read.records) == sorted(ids)


def test_429_bursts_and_5xx_are_waited_out_and_retried(hubspot: HubSpotSimulator) -> None:
    ids = hubspot.load_contacts(contact_rows(230))
    hubspot.faults.add(FaultRule("429", path="/contacts$", count=3, retry_after=2))
    hubspot.faults.add(FaultRule("500", path="/contacts$", every=2, count=2))
    hubspot.faults.add(FaultRule("503", path="/search", count=1, retry_after=1))
    slept: list[float] = []
    with connector(hubspot, sleep=slept.append) as hs:
        read = hs.read_contacts(None)
        incremental = hs.read_contacts(read.watermark)
        events = dict(hs.counter.events)
    assert sorted(r["id"] for r in read.records) == sorted(ids)
    assert sorted(r["id"] for r in incremental.records) == sorted(ids)  # all inside the overlap
    assert events["429"] == 3 and sum(s for s in slept if s >= 2) >= 6  # each 429 waited its Retry-After


def test_the_ten_secondly_limit_is_waited_out(hubspot: HubSpotSimulator, clock: TestClock) -> None:
    ids = hubspot.load_contacts(contact_rows(450))
    hubspot.set_rate_limits(per_10s=2)  # HubSpot's 429s of its own limit carry no Retry-After
    retry = RetryPolicy(base_delay=4.0, max_delay=8.0, jitter=False, max_rate_limited=20)
    with connector(hubspot, sleep=clock.advance, retry=retry) as hs:  # waiting moves the simulator's clock
        read = hs.read_contacts(None)
        limited = hs.counter.events["429"]
    assert sorted(r["id"] for r in read.records) == sorted(ids)
    assert limited >= 2  # 5 pages at 2 calls per 10 s


# --- writes --------------------------------------------------------------------------------------------------------


def test_batched_creates_report_each_record_and_a_taken_email_is_left_to_matching(hubspot: HubSpotSimulator) -> None:
    (taken,) = hubspot.load_contacts([{"email": "ann@example.com", "firstname": "Ann"}])
    items = [(f"g-{i}", {"firstname": f"P{i}", "email": f"p{i}@example.com"}) for i in range(150)]
    items[3] = ("g-3", {"firstname": "Ann", "email": "ANN@example.com"})
    items[7] = ("g-7", {"firstname": "Bad", "email": "not-an-email"})
    with connector(hubspot) as hs:
        report = hs.create_contacts(items)
    outcomes = {o.key: o for o in report.outcomes}
    assert outcomes["g-3"].status == "unconfirmed" and outcomes["g-3"].record_id == taken
    assert "already has this email" in (outcomes["g-3"].message or "")
    assert outcomes["g-7"].status == "failed" and "not-an-email" in (outcomes["g-7"].message or "")
    made = [o for o in report.outcomes if o.status == "created"]
    assert len(made) == 148 and report.api_calls == 2  # 100 + 50, one call each
    assert hubspot.contact(outcomes["g-0"].record_id or "")["properties"]["firstname"] == "P0"  # type: ignore[index]
    assert hubspot.count_contacts() == 149


def test_a_lost_create_answer_is_unconfirmed_and_not_sent_twice(hubspot: HubSpotSimulator) -> None:
    hubspot.faults.add(FaultRule("lost", path="/batch/create", count=1))
    with connector(hubspot) as hs:
        report = hs.create_contacts([("g-1", {"email": "once@example.com"}), ("g-2", {"email": "two@example.com"})])
    assert statuses(report) == {"g-1": "unconfirmed", "g-2": "unconfirmed"}
    assert hubspot.count_contacts() == 2  # applied once: the next read finds them


def test_updates_skip_records_changed_since_read_and_report_missing_ones(
    hubspot: HubSpotSimulator, clock: TestClock
) -> None:
    ids = hubspot.load_contacts(contact_rows(4))
    with connector(hubspot) as hs:
        stamps = {r["id"]: r["lastmodifieddate"] for r in hs.read_contacts(None).records}
        clock.advance(5)
        hubspot.edit_contact(ids[1], {"firstname": "Edited in HubSpot"})
        hubspot.archive_contact(ids[2])
        report = hs.update_contacts(
            {
                ids[0]: {"firstname": "From Genesys", "phone": ""},
                ids[1]: {"firstname": "From Genesys"},
                ids[2]: {"firstname": "From Genesys"},
                ids[3]: {"email": "bad"},
            },
            stamps,
        )
    assert statuses(report) == {ids[0]: "updated", ids[1]: "changed_since_read", ids[2]: "failed", ids[3]: "failed"}
    assert hubspot.contact(ids[0])["properties"]["firstname"] == "From Genesys"  # type: ignore[index]
    assert hubspot.contact(ids[1])["properties"]["firstname"] == "Edited in HubSpot"  # type: ignore[index]


def test_deletes_archive_contacts_and_refuse_ids_that_are_not_hubspot_ids(hubspot: HubSpotSimulator) -> None:
    ids = hubspot.load_contacts(contact_rows(3))
    with connector(hubspot) as hs:
        report = hs.delete_contacts([ids[0], ids[1], "003000000000001AAA"])
    assert statuses(report) == {ids[0]: "deleted", ids[1]: "deleted", "003000000000001AAA": "failed"}
    assert hubspot.count_contacts() == 1 and hubspot.count_contacts(archived=True) == 2


def test_company_names_are_read_in_batches(hubspot: HubSpotSimulator) -> None:
    companies = hubspot.load_companies([{"name": f"Company {i}"} for i in range(130)])
    with connector(hubspot) as hs:
        names = hs.read_accounts([*companies, "001000000000001AAA"])
        assert hs.counter.total == 2
    assert names[companies[129]] == "Company 129" and len(names) == 130


# --- auth and secrets ----------------------------------------------------------------------------------------------


def test_an_oauth_app_gets_a_token_and_renews_it_when_it_expires(hubspot: HubSpotSimulator) -> None:
    hubspot.load_contacts(contact_rows(2))
    env = {
        **hubspot.env(),
        "HUBSPOT_ACCESS_TOKEN": "",
        "HUBSPOT_CLIENT_ID": hubspot.client_id,
        "HUBSPOT_CLIENT_SECRET": hubspot.client_secret,
        "HUBSPOT_REFRESH_TOKEN": hubspot.refresh_token,
    }
    with HubSpotConnector(HubSpotSettings.from_env(env), retry=FAST_RETRY, rate_limit=False) as hs:
        assert len(hs.read_contacts(None).records) == 2
        hubspot.expire_tokens()
        assert len(hs.read_contacts(None).records) == 2
        assert hs.counter.events["401"] == 1
    assert hubspot.calls["POST /oauth/v1/token"] == 2


def test_a_refused_token_is_an_auth_error_that_never_shows_the_token(hubspot: HubSpotSimulator) -> None:
    settings = HubSpotSettings.from_env(hubspot.env())
    wrong = dataclasses.replace(settings, access_token=Secret("pat-na1-wrong-token-0000"))
    with HubSpotConnector(wrong, retry=FAST_RETRY, rate_limit=False) as hs, pytest.raises(AuthError) as info:
        hs.read_contacts(None)
    assert "401" in str(info.value) and "pat-na1-wrong-token-0000" not in str(info.value)
    assert hubspot.access_token not in repr(settings) and hubspot.access_token not in repr(hs)
