"""Tests of the Dynamics 365 connector end to end against the Dynamics simulator served over real HTTP: token and
renewal, change-tracking reads and deltas, the `modifiedon` fallback, writes with If-Match, 429s, faults, secrets."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contact_sync.connectors.http import AuthError, RetryPolicy
from contact_sync.crms.dynamics.connector import DynamicsConnector
from contact_sync.crms.dynamics.odata import DynamicsWatermark
from contact_sync.crms.dynamics.settings import DynamicsSettings
from contact_sync.settings import Secret
from contact_sync.simulators import serve_simulator
from contact_sync.simulators.dynamics import DynamicsSimulator

FAST_RETRY = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05, max_retry_after=600)
CONTACTS = "/api/data/v9.2/contacts"


class FakeTime:
    """One clock for the simulator and the connector: the connector's sleeps move it, so waits take no real time."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)

    def monotonic(self) -> float:
        return self.now.timestamp()


@pytest.fixture(scope="module")
def served() -> Iterator[DynamicsSimulator]:
    with serve_simulator(DynamicsSimulator()) as sim:
        yield sim  # type: ignore[misc]


@pytest.fixture
def sim(served: DynamicsSimulator) -> DynamicsSimulator:
    served.reset()
    served.set_clock(None)
    served.set_change_tracking(True)
    served.set_service_protection(None)
    return served


@pytest.fixture
def settings(sim: DynamicsSimulator) -> DynamicsSettings:
    return DynamicsSettings.from_env(sim.env())


def connector(settings: DynamicsSettings, **options: Any) -> DynamicsConnector:
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("rate_limit_per_minute", None)
    return DynamicsConnector(settings, **options)


def seed(sim: DynamicsSimulator, n: int, **extra: Any) -> list[str]:
    rows = [
        {"firstname": f"F{i}", "lastname": f"L{i}", "emailaddress1": f"p{i}@example.com", **extra} for i in range(n)
    ]
    return sim.load_contacts(rows)


def ids_of(records: list[dict[str, Any]]) -> list[str]:
    return [r.get("contactid") or r["id"] for r in records]


# --- token ---------------------------------------------------------------------------------------------------------


def test_token_is_cached_and_renewed_once_when_the_service_refuses_it(
    sim: DynamicsSimulator, settings: DynamicsSettings
) -> None:
    seed(sim, 3)
    with connector(settings) as dyn:
        assert len(dyn.read_contacts(None).records) == 3
        dyn.read_contacts(None)
        assert dyn.tokens_issued == 1
        sim.expire_tokens()
        assert len(dyn.read_contacts(None).records) == 3
        assert dyn.tokens_issued == 2
        assert dyn.counter.events["401"] == 1
    assert sim.calls[("POST", "/{tenant}/oauth2/v2.0/token")] == 2


def test_refused_credentials_are_an_auth_error_without_the_secret(
    sim: DynamicsSimulator, settings: DynamicsSettings
) -> None:
    wrong = dataclasses.replace(settings, client_secret=Secret("wrong-" + settings.client_secret.reveal()))
    with connector(wrong) as dyn, pytest.raises(AuthError) as info:
        dyn.read_contacts(None)
    assert "401" in str(info.value) and "Invalid client secret" in str(info.value)
    assert settings.client_secret.reveal() not in str(info.value)


# --- reads ---------------------------------------------------------------------------------------------------------


def test_change_tracking_reads_every_page_then_deltas_bring_edits_creates_and_deletes(
    sim: DynamicsSimulator, settings: DynamicsSettings
) -> None:
    ids = seed(sim, 23)
    with connector(settings, page_size=5) as dyn:
        pages = 0

        def during_read(response: httpx.Response) -> None:
            # A user edits and deletes while the paged first read is under way.
            nonlocal pages
            if response.request.method == "GET" and response.request.url.path == CONTACTS:
                pages += 1
                if pages == 2:
                    sim.edit_contact(ids[0], firstname="Edited-during-read")
                    sim.delete_contact(ids[22])

        dyn._http.event_hooks["response"].append(during_read)
        first = dyn.read_contacts(None)
        dyn._http.event_hooks["response"].remove(during_read)
        assert dyn.last_read_mode == "full" and dyn.last_read_full
        assert pages == 5
        # The first read is a snapshot: each contact at most once; a row changed or deleted during the read after its
        # page comes in the next delta instead, so nothing is lost across the two.
        first_ids = ids_of(first.records)
        assert len(first_ids) == len(set(first_ids)) and set(first_ids) <= set(ids)
        assert set(ids) - set(first_ids) <= {ids[0], ids[22]}
        mark = DynamicsWatermark.parse(first.watermark)
        assert mark.deltatoken and mark.modifiedon is not None
        assert all(r["@odata.etag"].startswith('W/"') for r in first.records)

        sim.edit_contact(ids[5], emailaddress1="new@example.com")
        sim.delete_contact(ids[6])
        (new_id,) = sim.load_contacts([{"lastname": "Newcomer"}])
        delta = dyn.read_contacts(first.watermark)
        assert dyn.last_read_mode == "delta" and not dyn.last_read_full
        assert set(delta.deleted_ids) == {ids[22], ids[6]}
        changed = {r["contactid"]: r for r in delta.records if "contactid" in r}
        assert set(changed) == {ids[0], ids[5], new_id}
        assert changed[ids[0]]["firstname"] == "Edited-during-read"
        assert changed[ids[5]]["emailaddress1"] == "new@example.com"
        assert len(delta.records) == 5  # three rows and two $deletedEntity rows

        again = dyn.read_contacts(delta.watermark)
        assert again.records == [] and again.deleted_ids == []
        assert again.watermark is not None and DynamicsWatermark.parse(again.watermark).deltatoken


def test_modifiedon_fallback_when_change_tracking_is_off(sim: DynamicsSimulator, settings: DynamicsSettings) -> None:
    clock = FakeTime()
    sim.set_clock(clock)
    ids = seed(sim, 12)
    sim.set_change_tracking(False)
    with connector(settings, page_size=5) as dyn:
        first = dyn.read_contacts(None)
        assert dyn.last_read_mode == "modifiedon"
        assert sorted(ids_of(first.records)) == sorted(ids)
        mark = DynamicsWatermark.parse(first.watermark)
        assert mark.deltatoken is None and mark.modifiedon == clock.now

        clock.now += timedelta(hours=1)
        sim.edit_contact(ids[3], firstname="Later")
        second = dyn.read_contacts(first.watermark)  # the overlap re-reads the seed (all at the old watermark)
        assert DynamicsWatermark.parse(second.watermark).modifiedon == clock.now

        clock.now += timedelta(hours=1)
        sim.edit_contact(ids[4], firstname="Later still")
        sim.edit_contact(ids[5], statecode=1)  # deactivated: seen, and read as a delete by the converter
        third = dyn.read_contacts(second.watermark)
        # ids[3] sits on the previous watermark: the overlap window re-reads it, nothing on the boundary is lost.
        assert sorted(ids_of(third.records)) == sorted([ids[3], ids[4], ids[5]])
        assert DynamicsWatermark.parse(third.watermark).modifiedon == clock.now


def test_modifiedon_read_with_rows_edited_during_the_paged_read_loses_none(
    sim: DynamicsSimulator, settings: DynamicsSettings
) -> None:
    clock = FakeTime()
    sim.set_clock(clock)
    ids = seed(sim, 12)
    sim.set_change_tracking(False)
    with connector(settings, page_size=5) as dyn:
        pages = 0

        def during_read(response: httpx.Response) -> None:
            nonlocal pages
            if response.request.method == "GET" and response.request.url.path == CONTACTS:
                pages += 1
                if pages == 2:  # the first data page is in: edit rows already read and rows not read yet
                    clock.now += timedelta(seconds=30)
                    for record_id in ids:
                        if record_id in first_page_ids:
                            sim.edit_contact(record_id, firstname="Moved")
                            break
                    sim.edit_contact(sorted(set(ids) - first_page_ids)[-1], firstname="Moved too")

        first_page_ids: set[str] = set()

        def remember_first_page(response: httpx.Response) -> None:
            if not first_page_ids and response.request.url.path == CONTACTS and response.status_code == 200:
                response.read()
                first_page_ids.update(r["contactid"] for r in response.json().get("value", []))

        dyn._http.event_hooks["response"] += [remember_first_page, during_read]
        result = dyn.read_contacts(None)
    got = ids_of(result.records)
    assert sorted(got) == sorted(ids)  # each once (the later copy kept), none lost
    moved = {r["contactid"]: r["firstname"] for r in result.records if r["firstname"].startswith("Moved")}
    assert sorted(moved.values()) == ["Moved", "Moved too"]
    assert DynamicsWatermark.parse(result.watermark).modifiedon == clock.now


def test_change_tracking_turned_off_after_a_delta_falls_back_from_the_stored_modifiedon(
    sim: DynamicsSimulator, settings: DynamicsSettings
) -> None:
    clock = FakeTime()
    sim.set_clock(clock)
    ids = seed(sim, 6)
    with connector(settings, clock=clock.monotonic) as dyn:
        clock.now += timedelta(hours=2)
        sim.edit_contact(ids[0], lastname="First change")
        first = dyn.read_contacts(None)
        assert DynamicsWatermark.parse(first.watermark).modifiedon == clock.now
        clock.now += timedelta(hours=2)
        sim.edit_contact(ids[1], lastname="Changed")
        sim.set_change_tracking(False)
        second = dyn.read_contacts(first.watermark)
        assert dyn.last_read_mode == "modifiedon"
        assert sorted(ids_of(second.records)) == sorted([ids[0], ids[1]])  # ids[0]: on the watermark, overlap
        sim.set_change_tracking(True)
        third = dyn.read_contacts(second.watermark)  # back on: one full read gets a delta token again
        assert dyn.last_read_mode == "full" and len(third.records) == 6
        assert DynamicsWatermark.parse(third.watermark).deltatoken


def test_an_expired_delta_token_means_one_full_read(sim: DynamicsSimulator, settings: DynamicsSettings) -> None:
    clock = FakeTime()
    sim.set_clock(clock)
    ids = seed(sim, 4)
    with connector(settings, clock=clock.monotonic) as dyn:
        first = dyn.read_contacts(None)
        clock.now += timedelta(days=8)
        sim.delete_contact(ids[0])
        second = dyn.read_contacts(first.watermark)
        assert dyn.last_read_full and dyn.last_read_mode == "full"
        assert sorted(ids_of(second.records)) == sorted(ids[1:])  # ids[0] missing from a full read: deleted
        assert (
            DynamicsWatermark.parse(second.watermark).deltatoken != DynamicsWatermark.parse(first.watermark).deltatoken
        )


def test_the_change_probe_follows_the_delta_token_without_using_it_up(
    sim: DynamicsSimulator, settings: DynamicsSettings
) -> None:
    clock = FakeTime()
    sim.set_clock(clock)
    ids = seed(sim, 3)
    with connector(settings, clock=clock.monotonic) as dyn:
        watermark = dyn.read_contacts(None).watermark
        assert dyn.has_changes(watermark) is False
        sim.delete_contact(ids[0])  # a delete is a change too
        before = dyn.counter.total
        assert dyn.has_changes(watermark) is True and dyn.has_changes(watermark) is True
        assert dyn.counter.total - before == 2  # one call a probe
        assert dyn.read_contacts(watermark).deleted_ids == [ids[0]]  # the token the probes followed still reads it

        clock.now += timedelta(hours=1)
        tracked = dyn.read_contacts(watermark).watermark
        sim.set_change_tracking(False)  # then modifiedon after the stored one
        assert dyn.has_changes(tracked) is False
        clock.now += timedelta(seconds=5)
        sim.edit_contact(ids[1], lastname="Changed")
        assert dyn.has_changes(tracked) is True
        sim.set_change_tracking(True)
        clock.now += timedelta(days=8)  # an expired token: the next run reads everything
        assert dyn.has_changes(tracked) is True


def test_account_names(sim: DynamicsSimulator, settings: DynamicsSettings) -> None:
    accounts = sim.load_accounts([{"name": f"Account {i}"} for i in range(60)])
    with connector(settings) as dyn:
        names = dyn.read_accounts([*accounts, accounts[0].upper(), "00000000-0000-4000-8000-000000000000"])
        assert names == {a: f"Account {i}" for i, a in enumerate(accounts)}
        assert dyn.api_calls["GET /api/data/v9.2/accounts"] == 2
        with pytest.raises(ValueError, match="GUID"):
            dyn.read_accounts(["x' or 1 eq 1"])


# --- writes --------------------------------------------------------------------------------------------------------


def test_creates_report_new_ids_and_the_services_message_per_rejected_record(
    sim: DynamicsSimulator, settings: DynamicsSettings
) -> None:
    (account,) = sim.load_accounts([{"name": "Acme"}])
    items = [
        ("k1", {"firstname": "Ann", "lastname": "Lee", "parentcustomerid_account@odata.bind": f"/accounts({account})"}),
        ("k2", {"firstname": "No last name"}),
        ("k3", {"lastname": "x" * 51}),
        ("k4", {"lastname": "Ok", "emailaddress1": "ok@example.com"}),
    ]
    with connector(settings) as dyn:
        report = dyn.create_contacts(items)
    by_key = {o.key: o for o in report.outcomes}
    assert [o.key for o in report.outcomes] == ["k1", "k2", "k3", "k4"]
    assert by_key["k1"].status == by_key["k4"].status == "created"
    assert "lastname" in (by_key["k2"].message or "") and by_key["k2"].status == "failed"
    assert "maximum allowed length" in (by_key["k3"].message or "")
    created = sim.contact(by_key["k1"].record_id or "")
    assert created is not None and created["_parentcustomerid_value"] == account
    assert sim.count() == 2
    # token, the CreateMultiple refused whole for k2 (all or nothing), then the four record by record
    assert report.api_calls == 6


def test_creates_go_through_create_multiple_a_batch_a_call(sim: DynamicsSimulator, settings: DynamicsSettings) -> None:
    items = [(f"k{i}", {"lastname": f"Bulk {i}", "emailaddress1": f"b{i}@example.com"}) for i in range(250)]
    with connector(settings) as dyn:
        report = dyn.create_contacts(items)
        assert dyn.create_multiple_offered is True
    assert report.counts() == {"created": 250} and sim.count() == 250
    assert [o.key for o in report.outcomes] == [k for k, _ in items]
    assert sim.contact(report.outcomes[7].record_id or "")["lastname"] == "Bulk 7"  # type: ignore[index]
    assert report.api_calls == 1 + 3  # token, batches of 100, 100 and 50
    with connector(settings, create_batch_size=0) as each:
        assert each.create_contacts(items[:3]).api_calls == 1 + 3  # token, one create a record


def test_updates_use_if_match_and_never_overwrite_an_edit_made_since_the_snapshot(
    sim: DynamicsSimulator, settings: DynamicsSettings
) -> None:
    ids = seed(sim, 4)
    with connector(settings) as dyn:
        snapshot = dyn.read_contacts(None)
        etags = {r["contactid"]: r["@odata.etag"] for r in snapshot.records}
        sim.edit_contact(ids[1], firstname="User edit")  # between snapshot and write
        sim.delete_contact(ids[2])
        report = dyn.update_contacts(
            {ids[0]: {"firstname": "Sync"}, ids[1]: {"firstname": "Sync"}, ids[2]: {"firstname": "Sync"}, ids[3]: {}},
            etags,
        )
        missing = dyn.update_contacts({ids[0]: {"firstname": "No etag"}}, {})
    status = {o.key: o.status for o in report.outcomes}
    assert status == {ids[0]: "updated", ids[1]: "changed_since_read", ids[2]: "changed_since_read", ids[3]: "skipped"}
    assert "RowVersion" in (report.outcomes[1].message or "")
    assert sim.contact(ids[0])["firstname"] == "Sync"  # type: ignore[index]
    assert sim.contact(ids[1])["firstname"] == "User edit"  # type: ignore[index]
    assert missing.outcomes[0].status == "failed" and sim.contact(ids[0])["firstname"] == "Sync"  # type: ignore[index]


def test_deletes_count_an_already_gone_contact_as_deleted(sim: DynamicsSimulator, settings: DynamicsSettings) -> None:
    ids = seed(sim, 3)
    with connector(settings) as dyn:
        report = dyn.delete_contacts([ids[0], ids[0].upper(), ids[1], "not-a-guid"])
        again = dyn.delete_contacts([ids[1]])
    assert [o.status for o in report.outcomes] == ["deleted", "deleted", "failed"]
    assert again.outcomes[0].status == "deleted" and again.outcomes[0].message == "already gone"
    assert sim.count() == 1 and sim.contact(ids[2]) is not None


def test_parallel_writes_keep_the_callers_order_and_each_record_once(
    sim: DynamicsSimulator, settings: DynamicsSettings
) -> None:
    with connector(settings, workers=6) as dyn:
        created = dyn.create_contacts(
            [(f"k{i}", {"lastname": f"P{i}"} if i % 7 else {"firstname": "bad"}) for i in range(40)]
        )
        assert [o.key for o in created.outcomes] == [f"k{i}" for i in range(40)]
        assert created.counts() == {"created": 34, "failed": 6}
        new_ids = [o.record_id for o in created.outcomes if o.status == "created"]
        assert sim.count() == 34 and len(set(new_ids)) == 34
        etags = {r["contactid"]: r["@odata.etag"] for r in dyn.read_contacts(None).records}
        updated = dyn.update_contacts({i: {"firstname": "Par"} for i in new_ids}, etags)  # type: ignore[misc]
        assert [o.key for o in updated.outcomes] == new_ids and updated.counts() == {"updated": 34}
        deleted = dyn.delete_contacts(new_ids)  # type: ignore[arg-type]
        assert deleted.counts() == {"deleted": 34} and sim.count() == 0
    assert dyn.api_calls["POST /api/data/v9.2/contacts"] == 40


def test_refused_credentials_during_writes_raise_with_the_report_attached(
    sim: DynamicsSimulator, settings: DynamicsSettings
) -> None:
    ids = seed(sim, 3)
    wrong = dataclasses.replace(settings, client_secret=Secret("not-the-secret"))
    with connector(wrong, workers=1) as dyn, pytest.raises(AuthError) as info:
        dyn.delete_contacts(ids)
    report = info.value.report  # type: ignore[attr-defined]
    assert [o.status for o in report.outcomes] == ["failed"] * 3
    assert "not sent: credentials refused" in report.outcomes[2].message
    assert sim.count() == 3


# --- service protection and faults ---------------------------------------------------------------------------------


def test_service_protection_429s_are_waited_out_by_retry_after(
    sim: DynamicsSimulator, settings: DynamicsSettings
) -> None:
    clock = FakeTime()
    sim.set_clock(clock)
    ids = seed(sim, 20)
    sim.set_service_protection(3, 60)
    # One write at a time: with several in flight, how many of them meet the same closed window is up to the threads.
    with connector(
        settings, page_size=4, workers=1, clock=clock.monotonic, sleep=clock.sleep, update_batch_size=0
    ) as dyn:
        result = dyn.read_contacts(None)
        report = dyn.update_contacts(
            {i: {"firstname": "Paced"} for i in ids[:4]}, {r["contactid"]: r["@odata.etag"] for r in result.records}
        )
    assert sorted(ids_of(result.records)) == sorted(ids)
    assert report.counts() == {"updated": 4}
    # 9 calls (5 pages, 4 updates) at 3 a minute: two waits, each the Retry-After the service sent (whole seconds,
    # not a backoff), which together cover the window.
    assert dyn.counter.events["429"] == 2
    assert len(clock.slept) == 2 and all(s >= 1 and s == int(s) for s in clock.slept)
    assert sum(clock.slept) >= 60


def every_other(kind: str, **extra: Any) -> list[dict[str, Any]]:
    """`kind` on every second call of each method to the contacts routes (per method, so no method always fails)."""
    return [
        {"kind": kind, "path": r"/contacts|/\$batch", "method": method, "every": 2, **extra}
        for method in ("GET", "POST", "PATCH", "DELETE")
    ]


@pytest.mark.parametrize(
    "faults",
    [
        every_other("500"),
        every_other("503", retry_after=0),
        every_other("drop"),
        every_other("expired_token"),
        every_other("429", retry_after=0),
        [{"kind": "slow", "path": "/contacts", "every": 3, "count": 3, "delay": 1.5}],
    ],
    ids=["500", "503", "drop", "expired_token", "429", "slow"],
)
def test_faults_reads_return_every_record_once_and_writes_land_once(
    sim: DynamicsSimulator, settings: DynamicsSettings, faults: list[dict[str, Any]]
) -> None:
    ids = seed(sim, 17)
    # One write at a time: the fault rules count calls, so the pattern each record meets is the same on every run.
    with connector(settings, page_size=4, timeout=1.0, workers=1) as dyn:
        sim.set_faults(faults)
        first = dyn.read_contacts(None)
        assert sorted(ids_of(first.records)) == sorted(ids)
        etags = {r["contactid"]: r["@odata.etag"] for r in first.records}

        created = dyn.create_contacts([(f"k{i}", {"lastname": f"New {i}"}) for i in range(5)])
        updated = dyn.update_contacts({i: {"firstname": "Faulted"} for i in ids[:5]}, etags)
        deleted = dyn.delete_contacts(ids[5:8])
        sim.set_faults([])

    assert created.counts() == {"created": 5}, created.outcomes
    assert updated.counts() == {"updated": 5}, updated.outcomes
    assert deleted.counts() == {"deleted": 3}, deleted.outcomes
    new_ids = {o.record_id for o in created.outcomes}
    assert len(new_ids) == 5 and all(sim.contact(i or "") is not None for i in new_ids)
    assert sim.count() == 17 + 5 - 3  # nothing created twice, nothing lost
    for record_id in ids[:5]:
        row = sim.contact(record_id)
        assert row is not None and row["firstname"] == "Faulted"
        # Applied exactly once: one version step from the snapshot (a second PATCH would be refused by If-Match).
        assert row["@odata.etag"] != etags[record_id]


def test_updates_go_a_batch_a_call_each_with_its_own_if_match(
    sim: DynamicsSimulator, settings: DynamicsSettings
) -> None:
    ids = seed(sim, 250)
    with connector(settings) as dyn:
        etags = {r["contactid"]: r["@odata.etag"] for r in dyn.read_contacts(None).records}
        sim.edit_contact(ids[3], firstname="Edited in Dynamics")
        sim.delete_contact(ids[4])
        changes = {i: {"firstname": "Batched"} for i in ids}
        changes[ids[5]] = {"lastname": "x" * 51}  # longer than the column allows
        before = dyn.counter.total
        report = dyn.update_contacts(changes, etags)
        assert dyn.counter.total - before == 3  # 100 + 100 + 50 updates
        assert dyn.batch_offered is True
    status = {o.key: o.status for o in report.outcomes}
    assert [o.key for o in report.outcomes] == ids
    assert (status[ids[3]], status[ids[4]], status[ids[5]]) == ("changed_since_read", "changed_since_read", "failed")
    assert "lastname" in (report.outcomes[5].message or "")
    assert report.counts() == {"updated": 247, "changed_since_read": 2, "failed": 1}
    assert sim.contact(ids[3])["firstname"] == "Edited in Dynamics"  # type: ignore[index]
    assert sim.contact(ids[249])["firstname"] == "Batched"  # type: ignore[index]


def test_a_batch_whose_answer_is_lost_after_it_was_applied_is_settled_record_by_record(
    sim: DynamicsSimulator, settings: DynamicsSettings
) -> None:
    ids = seed(sim, 6)
    with connector(settings, timeout=1.0) as dyn:
        etags = {r["contactid"]: r["@odata.etag"] for r in dyn.read_contacts(None).records}
        sim.set_faults([{"kind": "slow", "path": r"/\$batch", "count": 1, "delay": 1.5}])
        report = dyn.update_contacts({i: {"firstname": "Once"} for i in ids}, etags)
        sim.set_faults([])
    time.sleep(1.6)  # let the abandoned batch finish on the server
    assert report.counts() == {"updated": 6}, report.outcomes
    versions = {i: sim.contact(i)["@odata.etag"] for i in ids}  # type: ignore[index]
    assert all(versions[i] != etags[i] for i in ids)
    assert all(sim.contact(i)["firstname"] == "Once" for i in ids)  # type: ignore[index]


def test_a_create_whose_answer_is_lost_after_it_was_applied_is_not_created_twice(
    sim: DynamicsSimulator, settings: DynamicsSettings
) -> None:
    # `slow` lets the request through after the client gave up waiting: applied, answer never seen.
    sim.set_faults([{"kind": "slow", "path": "/contacts", "method": "POST", "count": 2, "delay": 1.5}])
    with connector(settings, timeout=1.0) as dyn:
        report = dyn.create_contacts([("a", {"lastname": "Slow A"}), ("b", {"lastname": "Slow B"})])
    assert report.counts() == {"created": 2}, report.outcomes
    time.sleep(1.6)  # let the abandoned requests finish on the server
    assert sim.count() == 2
    assert {sim.contact(o.record_id or "")["lastname"] for o in report.outcomes} == {"Slow A", "Slow B"}  # type: ignore[index]


def test_a_service_that_stays_down_fails_the_rest_without_sending_them(
    sim: DynamicsSimulator, settings: DynamicsSettings
) -> None:
    sim.set_faults([{"kind": "503", "path": "/contacts", "retry_after": 0}])
    policy = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)
    with connector(settings, retry=policy, workers=1) as dyn:
        report = dyn.create_contacts([(f"k{i}", {"lastname": "Down"}) for i in range(10)])
    assert report.counts() == {"failed": 10}
    assert "not sent" in (report.outcomes[-1].message or "")
    assert sim.calls[("POST", CONTACTS)] == 0  # the fault answered before the service: nothing written
    assert report.api_calls == 1 + 3  # the token, then three attempts of the first create only


# --- secrets -------------------------------------------------------------------------------------------------------


def test_secrets_stay_out_of_reprs_errors_and_logs(
    sim: DynamicsSimulator, settings: DynamicsSettings, caplog: pytest.LogCaptureFixture
) -> None:
    secret = settings.client_secret.reveal()
    seed(sim, 2)
    with caplog.at_level(logging.DEBUG):
        with connector(settings) as dyn:
            sim.set_faults([{"kind": "expired_token", "path": "/contacts", "count": 1}])
            dyn.read_contacts(None)
            token = dyn._tokens.token()
            for text in (repr(dyn), str(dyn), repr(dyn._tokens), repr(dyn._client), repr(settings)):
                assert secret not in text and token not in text
        wrong = dataclasses.replace(settings, client_secret=Secret("wrong-" + secret))
        with connector(wrong) as dyn, pytest.raises(AuthError) as info:
            dyn.read_contacts(None)
    assert secret not in str(info.value) and "wrong-" not in str(info.value)
    assert secret not in caplog.text and token not in caplog.text
