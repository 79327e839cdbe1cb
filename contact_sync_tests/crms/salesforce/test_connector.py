"""End-to-end tests of the Salesforce connector: real simple-salesforce against the Salesforce simulator over TLS."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from contact_sync.connectors.http import AuthError, RequestRejected, RetryPolicy
from contact_sync.crms.salesforce.auth import login
from contact_sync.crms.salesforce.connector import ApiLimitExceeded, SalesforceConnector
from contact_sync.crms.salesforce.settings import SalesforceSettings
from contact_sync.settings import Secret
from contact_sync.simulators import RunningSimulators, run_simulators


@pytest.fixture(scope="module")
def served() -> Iterator[RunningSimulators]:
    """The simulators, started once for this module (starting TLS servers per test would dominate the run time)."""
    with run_simulators() as running:
        yield running


@pytest.fixture
def sims(served: RunningSimulators) -> Iterator[RunningSimulators]:
    """The module's simulators with an empty Salesforce org, no faults, the real clock (overrides the shared one)."""
    served.salesforce.reset()
    served.salesforce.set_clock(None)
    yield served
    served.salesforce.reset()
    served.salesforce.set_clock(None)


FAST_RETRY = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05, max_rate_limited=40)


def connector(settings: SalesforceSettings, **options: Any) -> SalesforceConnector:
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("bulk_poll_seconds", 0.02)
    return SalesforceConnector(settings, **options)


def client_settings(sims: RunningSimulators) -> SalesforceSettings:
    """Client credentials only (the settings may hold every kind; each test picks one)."""
    full = SalesforceSettings.from_env(sims.env)
    return replace(full, username=None, password=None, security_token=None, session_id=None)


def password_settings(sims: RunningSimulators) -> SalesforceSettings:
    full = SalesforceSettings.from_env(sims.env)
    return replace(full, client_id=None, client_secret=None, session_id=None)


def seed_contacts(sims: RunningSimulators, n: int, start: int = 0) -> list[str]:
    """Create `n` contacts in the simulator (one write transaction) and return their ids."""
    rows = [
        {
            "FirstName": f"First{start + i}",
            "LastName": f"Last{start + i}",
            "Email": f"person{start + i}@example.org",
            "Phone": f"+1555{start + i:07d}",
            "LeadScore__c": float(i % 100),
            "Tags__c": "a;b" if i % 2 else None,
        }
        for i in range(n)
    ]
    return list(sims.salesforce.load_contacts(rows))


def after_pages(session: requests.Session, pages: dict[int, Any]) -> Counter[str]:
    """Run `pages[n]()` right after the n-th query page (1-based) arrives: a requests response hook, no fault."""
    seen: Counter[str] = Counter()

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        paged = "Sforce-Query-Options" in response.request.headers  # the contact read, not COUNT() or Id lookups
        if paged and response.status_code == 200:
            seen["pages"] += 1
            action = pages.get(seen["pages"])
            if action is not None:
                action()

    session.hooks["response"].append(hook)
    return seen


def ids_of(records: list[dict[str, Any]]) -> list[str]:
    return [r["Id"] for r in records]


# --- logins ----------------------------------------------------------------------------------------------------


def test_login_with_client_credentials(sims: RunningSimulators) -> None:
    ids = seed_contacts(sims, 5)
    with connector(client_settings(sims)) as sf:
        result = sf.read_contacts(None)
        assert sorted(ids_of(result.records)) == sorted(ids)
        assert sf.method == "client_credentials"
        assert sf.api_calls.get("POST /services/oauth2/token") == 1


def test_login_with_username_password_and_token(sims: RunningSimulators) -> None:
    ids = seed_contacts(sims, 3)
    settings = password_settings(sims)
    assert settings.security_token  # the simulator's env gives one
    with connector(settings) as sf:
        assert sorted(ids_of(sf.read_contacts(None).records)) == sorted(ids)
        assert sf.method == "password"
        assert any(k.startswith("POST /services/Soap/u/") for k in sf.api_calls)


def test_login_with_a_refresh_token_renews_an_expired_session_and_keeps_the_token_secret(
    sims: RunningSimulators,
) -> None:
    ids = seed_contacts(sims, 2)
    refresh = Secret(sims.salesforce.refresh_token)
    settings = replace(password_settings(sims), username=None, password=None, client_secret=None, refresh_token=refresh)
    settings = replace(settings, client_id=sims.salesforce.client_id)
    with connector(settings) as sf:
        assert sf.method == "refresh_token"
        assert sorted(ids_of(sf.read_contacts(None).records)) == sorted(ids)
        sims.salesforce.expire_sessions()
        assert sorted(ids_of(sf.read_contacts(None).records)) == sorted(ids)  # refreshed, not failed
        assert sf.api_calls.get("POST /services/oauth2/token") == 2
        assert refresh.reveal() not in repr(sf) and refresh.reveal() not in repr(settings)
    stale = replace(settings, refresh_token=Secret("5Aep861stale-refresh-token"))
    with connector(stale) as sf, pytest.raises(AuthError, match=r"refresh_token.*expired access/refresh token") as err:
        sf.read_contacts(None)
    assert "5Aep861stale-refresh-token" not in str(err.value)


def test_login_with_a_given_session_id_and_its_expiry(sims: RunningSimulators) -> None:
    ids = seed_contacts(sims, 3)
    base = client_settings(sims)
    http = requests.Session()
    http.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment replaces `verify`
    http.verify = base.ca_bundle or True
    session = login(base, http)
    settings = replace(base, client_id=None, client_secret=None, session_id=session.session_id)
    with connector(settings) as sf:
        assert sorted(ids_of(sf.read_contacts(None).records)) == sorted(ids)
        assert not any("oauth2" in k for k in sf.api_calls)
        sims.salesforce.expire_sessions()
        with pytest.raises(AuthError, match="allow no new login") as err:
            sf.read_contacts(None)
        assert session.session_id.reveal() not in str(err.value)


def test_wrong_credentials_are_an_auth_error_without_the_secret(sims: RunningSimulators) -> None:
    wrong = replace(client_settings(sims), client_secret=Secret("not-the-secret-123"))
    with connector(wrong) as sf, pytest.raises(AuthError, match="client_credentials") as err:
        sf.read_contacts(None)
    assert "not-the-secret-123" not in str(err.value)
    wrong_pw = replace(password_settings(sims), password=Secret("wrong-password-456"))
    with connector(wrong_pw) as sf, pytest.raises(AuthError, match="INVALID_LOGIN") as err:
        sf.read_contacts(None)
    assert "wrong-password-456" not in str(err.value)


def test_login_waits_out_429_from_the_token_endpoint(sims: RunningSimulators) -> None:
    sims.salesforce.set_faults([{"kind": "429", "path": "/services/oauth2/token", "count": 2, "retry_after": 0}])
    with connector(client_settings(sims)) as sf:
        sf.connect()
        assert sf.api_calls["POST /services/oauth2/token"] == 3


def test_a_rejected_query_is_a_typed_error_with_the_service_message(sims: RunningSimulators) -> None:
    fields = ["Id", "SystemModstamp", "Nope__c"]
    with (
        connector(client_settings(sims), fields=fields) as sf,
        pytest.raises(RequestRejected, match="INVALID_FIELD") as err,
    ):
        sf.read_contacts("2026-01-01T00:00:00.000Z")
    assert err.value.status == 400
    assert "Nope__c" in str(err.value)


# --- incremental reads -----------------------------------------------------------------------------------------


def test_incremental_read_across_pages_with_edits_during_the_read(sims: RunningSimulators) -> None:
    ids = seed_contacts(sims, 700)
    sim = sims.salesforce
    with connector(client_settings(sims), page_size=200, overlap=timedelta(0)) as sf:
        # Edit one record already read (page 1) and one not yet read (last page) between pages 2 and 3.
        def edit() -> None:
            sim.edit_contact(ids[10], Email="edited.early@example.org")
            sim.edit_contact(ids[690], Email="edited.late@example.org")

        pages = after_pages(sf.http, {2: edit})
        first = sf.read_contacts(None)
        assert pages["pages"] == 4  # 700 records in pages of 200
        assert sf.api_calls["GET /services/data/v59.0/queryAll/{locator}"] == 3
        assert len(first.records) == 700
        assert sorted(ids_of(first.records)) == sorted(ids)  # none lost, none doubled
        assert first.watermark is not None

        second = sf.read_contacts(first.watermark)
        by_id = {r["Id"]: r for r in second.records}
        # Both edits are after the first read's snapshot: the next read picks them up with the new values.
        assert by_id[ids[10]]["Email"] == "edited.early@example.org"
        assert by_id[ids[690]]["Email"] == "edited.late@example.org"
        assert len(second.records) == len(set(ids_of(second.records)))
        assert second.watermark is not None and second.watermark >= first.watermark

        # Nothing lost across the two reads: the latest version of every record is known.
        final = {r["Id"]: r for r in first.records} | by_id
        assert sorted(final) == sorted(ids)
        assert final[ids[10]]["Email"] == "edited.early@example.org"


def test_records_on_the_watermark_millisecond_are_neither_lost_nor_doubled(sims: RunningSimulators) -> None:
    sim = sims.salesforce
    sim.set_clock(lambda: datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC))
    batch_one = seed_contacts(sims, 5)  # one transaction: five records on one millisecond
    with connector(client_settings(sims), page_size=200, overlap=timedelta(0)) as sf:
        first = sf.read_contacts(None)
        assert sorted(ids_of(first.records)) == sorted(batch_one)
        stamps = {r["SystemModstamp"] for r in first.records}
        assert len(stamps) == 1
        watermark = first.watermark
        assert watermark is not None

        # More records written later but stamped within the same second as the watermark.
        batch_two = seed_contacts(sims, 3, start=100)
        second = sf.read_contacts(watermark)
        second_ids = ids_of(second.records)
        assert set(batch_two) <= set(second_ids)
        assert len(second_ids) == len(set(second_ids))
        # The boundary records are read again (>= watermark), never skipped.
        assert set(batch_one) <= set(second_ids)

        third = sf.read_contacts(second.watermark)
        assert set(batch_two) <= set(ids_of(third.records))
        assert len(third.records) == len(set(ids_of(third.records)))


def test_overlap_window_reaches_back_before_the_watermark(sims: RunningSimulators) -> None:
    sim = sims.salesforce
    sim.set_clock(lambda: datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))
    early = seed_contacts(sims, 2)
    sim.set_clock(lambda: datetime(2026, 3, 1, 12, 3, 0, tzinfo=UTC))
    late = seed_contacts(sims, 2, start=10)
    watermark = "2026-03-01T12:04:00.000Z"
    with connector(client_settings(sims), overlap=timedelta(minutes=2)) as sf:
        assert sorted(ids_of(sf.read_contacts(watermark).records)) == sorted(late)
    with connector(client_settings(sims), overlap=timedelta(minutes=5)) as sf:
        assert sorted(ids_of(sf.read_contacts(watermark).records)) == sorted(early + late)


def test_deletes_and_merges_are_read(sims: RunningSimulators) -> None:
    ids = seed_contacts(sims, 6)
    sim = sims.salesforce
    with connector(client_settings(sims), overlap=timedelta(0)) as sf:
        first = sf.read_contacts(None)
        sim.delete_contact(ids[0])
        sim.merge(ids[1], [ids[2], ids[3]])
        second = sf.read_contacts(first.watermark)
        by_id = {r["Id"]: r for r in second.records}
        assert by_id[ids[0]]["IsDeleted"] is True
        assert by_id[ids[2]]["IsDeleted"] is True and by_id[ids[2]]["MasterRecordId"] == ids[1]
        assert by_id[ids[3]]["MasterRecordId"] == ids[1]
        assert by_id[ids[1]]["IsDeleted"] is False  # the master is touched, not deleted
        assert sorted(second.deleted_ids) == sorted([ids[0], ids[2], ids[3]])
        assert not any(r["IsDeleted"] for r in first.records)


def test_the_change_probe_sees_edits_and_deletes_to_the_millisecond_in_one_call(sims: RunningSimulators) -> None:
    sim = sims.salesforce
    moment = datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)
    sim.set_clock(lambda: moment)
    ids = seed_contacts(sims, 3)
    with connector(client_settings(sims)) as sf:
        watermark = sf.read_contacts(None).watermark
        before = sf.counter.total
        assert sf.has_changes(watermark) is False  # the records the watermark came from are no change
        assert sf.counter.total - before == 1
        moment += timedelta(milliseconds=300)  # the same second, later: a literal of whole seconds cannot tell
        sim.edit_contact(ids[0], LastName="Later")
        assert sf.has_changes(watermark) is True
        latest = sf.read_contacts(watermark).watermark
        assert sf.has_changes(latest) is False
        moment += timedelta(seconds=1)
        sim.delete_contact(ids[1])
        assert sf.has_changes(latest) is True  # through queryAll: a delete is a change


def test_first_load_above_the_threshold_uses_bulk_api_2(sims: RunningSimulators) -> None:
    ids = seed_contacts(sims, 450)
    sims.salesforce.delete_contact(ids[0])
    with connector(client_settings(sims), bulk_threshold=100) as sf:
        bulk = sf.read_contacts(None)
        assert any(k.startswith("POST /services/data/") and k.endswith("/jobs/query") for k in sf.api_calls)
    with connector(client_settings(sims), bulk_threshold=10_000) as sf:
        rest = sf.read_contacts(None)
        assert not any("jobs" in k for k in sf.api_calls)
    assert sorted(ids_of(bulk.records)) == sorted(ids) == sorted(ids_of(rest.records))
    assert bulk.watermark == rest.watermark
    assert bulk.deleted_ids == rest.deleted_ids == [ids[0]]
    rest_by_id = {r["Id"]: r for r in rest.records}
    for record in bulk.records:
        twin = rest_by_id[record["Id"]]
        for name in ("FirstName", "LastName", "Email", "Phone", "LeadScore__c", "Tags__c", "IsDeleted", "AccountId"):
            assert record[name] == twin[name], (name, record[name], twin[name])
    assert isinstance(bulk.records[1]["IsDeleted"], bool)


def test_read_accounts(sims: RunningSimulators) -> None:
    account_ids = list(sims.salesforce.load_accounts([{"Name": "Acme"}, {"Name": "Globex"}]))
    with connector(client_settings(sims)) as sf:
        assert sf.read_accounts([*account_ids, account_ids[0]]) == {account_ids[0]: "Acme", account_ids[1]: "Globex"}
        with pytest.raises(ValueError, match="not a Salesforce id"):
            sf.read_accounts(["nope'"])


# --- writes ----------------------------------------------------------------------------------------------------


def test_batched_creates_report_each_rejection_and_write_the_rest(sims: RunningSimulators) -> None:
    items = [(f"key-{i}", {"LastName": f"Made{i}", "Email": f"made{i}@example.org"}) for i in range(250)]
    items[3] = ("key-3", {"LastName": "BadEmail", "Email": "not-an-email"})
    items[240] = ("key-240", {"LastName": "x" * 81})
    with connector(client_settings(sims)) as sf:
        report = sf.create_contacts(items)
        assert sf.api_calls.get("POST /services/data/v59.0/composite/sobjects") == 2  # 200 + 50
    assert len(report.outcomes) == 250
    assert report.counts() == {"created": 248, "failed": 2}
    failed = {o.key: o.message or "" for o in report.failed}
    assert "INVALID_EMAIL_ADDRESS" in failed["key-3"]
    assert "STRING_TOO_LONG" in failed["key-240"]
    created = report.by_status("created")
    assert sims.salesforce.count() == 248
    one = sims.salesforce.contact(created[0].record_id)
    assert one["LastName"] == "Made0"


INGEST = "/services/data/v59.0/jobs/ingest"


def test_creates_from_the_threshold_go_through_one_bulk_ingest_job_with_per_row_results(
    sims: RunningSimulators,
) -> None:
    items = [(f"key-{i}", {"LastName": f"Bulk{i}", "Email": f"bulk{i}@example.org", "Phone": None}) for i in range(30)]
    items[4] = ("key-4", {"LastName": "BadEmail", "Email": "not-an-email"})
    items[7] = ("key-7", {"LastName": "", "Email": "nolast@example.org"})
    items[9] = ("key-9", dict(items[8][1]))  # the same values twice: two rows, two records, told apart by order
    with connector(client_settings(sims), bulk_write_threshold=20) as sf:
        assert sf.write_batch_size == 20
        report = sf.create_contacts(items)
        calls = sf.api_calls
        small = sf.create_contacts(items[20:22])  # under the threshold: sObject Collections
    assert calls[f"POST {INGEST}"] == 1 and calls[f"PUT {INGEST}/{{id}}/batches"] == 1
    assert "POST /services/data/v59.0/composite/sobjects" not in calls
    assert report.api_calls == sum(calls.values()) == 9  # login, create, upload, close, 2 polls, 3 result sets
    assert [o.key for o in report.outcomes] == [k for k, _ in items]
    assert report.counts() == {"created": 28, "failed": 2}
    by_key = {o.key: o for o in report.outcomes}
    assert "INVALID_EMAIL_ADDRESS" in (by_key["key-4"].message or "") and "(Email)" in (by_key["key-4"].message or "")
    assert "REQUIRED_FIELD_MISSING" in (by_key["key-7"].message or "")
    assert by_key["key-8"].record_id != by_key["key-9"].record_id
    for o in report.by_status("created"):
        row = sims.salesforce.contact(o.record_id)
        assert (row["LastName"], row["Email"]) == (o.fields["LastName"], o.fields["Email"])
    assert small.counts() == {"created": 2}
    assert sims.salesforce.count() == 30


def test_bulk_creates_with_an_external_id_are_upserts_so_a_lost_answer_is_safe_to_resend(
    sims: RunningSimulators,
) -> None:
    sim = sims.salesforce
    # Every answer of the upload and of the close is lost once after the org applied it; the session sends each
    # again and the job still runs exactly once.
    sim.set_faults(
        [
            {"kind": "lost", "path": "/jobs/ingest/[^/]+/batches$", "count": 1},
            {"kind": "lost", "path": "/jobs/ingest/[^/]+$", "method": "PATCH", "count": 1},
            {"kind": "500", "path": "/jobs/ingest/[^/]+$", "method": "GET", "count": 1},
        ]
    )
    items = [(f"g-{i}", {"LastName": f"Made{i}", "Genesys_Id__c": f"g-{i}"}) for i in range(25)]
    with connector(client_settings(sims), bulk_write_threshold=10, external_id_field="Genesys_Id__c") as sf:
        report = sf.create_contacts(items)
        again = sf.create_contacts(items)  # a whole re-run of the same creates (a crash before the ledger knew)
    assert Counter(f.kind for f in sim.faults.fired) == {"lost": 2, "500": 1}
    assert report.counts() == {"created": 25} and again.counts() == {"created": 25}
    assert {o.record_id for o in report.outcomes} == {o.record_id for o in again.outcomes}
    assert sim.count() == 25
    jobs = sim.api.ingest.all()
    assert [j.operation for j in jobs] == ["upsert", "upsert"]


def test_bulk_updates_check_the_snapshot_and_report_failed_rows(sims: RunningSimulators) -> None:
    ids = seed_contacts(sims, 12)
    sim = sims.salesforce
    with connector(client_settings(sims), bulk_write_threshold=10) as sf:
        snapshot = {r["Id"]: r["SystemModstamp"] for r in sf.read_contacts(None).records}
        sim.edit_contact(ids[1], Phone="+15550009999")
        sim.delete_contact(ids[2])
        changes = {i: {"Email": f"new{n}@example.org"} for n, i in enumerate(ids)}
        changes[ids[3]] = {"Email": "broken"}
        changes[ids[4]] = {"Tags__c": None}  # cleared: sent as #N/A
        report = sf.update_contacts(changes, snapshot)
        calls = sf.api_calls
    assert calls[f"POST {INGEST}"] == 1 and "PATCH /services/data/v59.0/composite/sobjects" not in calls
    status = {o.key: o for o in report.outcomes}
    assert len(status) == 12
    assert status[ids[1]].status == "changed_since_read" and status[ids[2]].status == "changed_since_read"
    assert status[ids[3]].status == "failed" and "INVALID_EMAIL_ADDRESS" in (status[ids[3]].message or "")
    assert report.counts() == {"updated": 9, "changed_since_read": 2, "failed": 1}
    assert sim.contact(ids[0])["Email"] == "new0@example.org"
    assert sim.contact(ids[1])["Email"] == "person1@example.org"
    assert sim.contact(ids[5])["Tags__c"] == "a;b"
    assert sim.contact(ids[4])["Tags__c"] is None
    assert sim.contact(ids[4])["Email"] == "person4@example.org"  # a field not sent stays as it was


def test_a_bulk_job_whose_outcome_is_unknown_leaves_creates_unconfirmed(sims: RunningSimulators) -> None:
    # Polls keep failing after the job was closed: Salesforce may be creating the records, so none is reported
    # failed (which would invite a resend) and none is reported created without an id.
    sims.salesforce.set_faults([{"kind": "500", "path": "/jobs/ingest/[^/]+$", "method": "GET", "count": 100}])
    items = [(f"k{i}", {"LastName": f"L{i}"}) for i in range(12)]
    with connector(client_settings(sims), bulk_write_threshold=10) as sf:
        report = sf.create_contacts(items)
    assert report.counts() == {"unconfirmed": 12}
    assert "outcome is unknown" in (report.outcomes[0].message or "")


def test_a_bulk_job_the_org_refuses_whole_fails_every_row_with_its_reason(sims: RunningSimulators) -> None:
    items = [(f"k{i}", {"LastName": f"L{i}", "Nickname__c": "x"}) for i in range(12)]  # a column the org lacks
    with connector(client_settings(sims), bulk_write_threshold=10) as sf:
        report = sf.create_contacts(items)
    assert report.counts() == {"failed": 12}
    assert "Field name not found : Nickname__c" in (report.outcomes[0].message or "")
    assert sims.salesforce.count() == 0


def test_update_skips_records_edited_since_the_snapshot(sims: RunningSimulators) -> None:
    ids = seed_contacts(sims, 4)
    sim = sims.salesforce
    with connector(client_settings(sims)) as sf:
        snapshot = {r["Id"]: r["SystemModstamp"] for r in sf.read_contacts(None).records}
        sim.edit_contact(ids[1], Phone="+15550009999")  # someone edits after our snapshot
        changes = {
            ids[0]: {"Email": "new0@example.org"},
            ids[1]: {"Email": "new1@example.org"},
            ids[2]: {"Email": "broken"},
            ids[3]: {"LastName": "Renamed"},
        }
        report = sf.update_contacts(changes, snapshot)
    status = {o.key: o for o in report.outcomes}
    assert status[ids[0]].status == "updated"
    assert status[ids[1]].status == "changed_since_read"
    assert status[ids[2]].status == "failed" and "INVALID_EMAIL_ADDRESS" in (status[ids[2]].message or "")
    assert status[ids[3]].status == "updated"
    assert sim.contact(ids[0])["Email"] == "new0@example.org"
    assert sim.contact(ids[1])["Email"] == "person1@example.org"  # not overwritten
    assert sim.contact(ids[1])["Phone"] == "+15550009999"
    assert sim.contact(ids[3])["LastName"] == "Renamed"


def test_deletes_are_batched_and_repeatable(sims: RunningSimulators) -> None:
    ids = seed_contacts(sims, 3)
    with connector(client_settings(sims)) as sf:
        first = sf.delete_contacts(ids[:2])
        again = sf.delete_contacts(ids[:2])
    assert first.counts() == {"deleted": 2}
    assert again.counts() == {"deleted": 2}
    assert sims.salesforce.count() == 1


# --- faults ----------------------------------------------------------------------------------------------------


def test_read_survives_429_storms_5xx_drops_and_session_expiry(sims: RunningSimulators) -> None:
    ids = seed_contacts(sims, 700)
    sim = sims.salesforce
    sim.set_faults(
        [
            # The first query call meets a 429 storm; the next pages meet 500, 503, two drops and an expired token.
            {"kind": "slow", "path": "/queryAll/.", "count": 1, "delay": 1.5},  # past the client's timeout
            {"kind": "429", "path": "/queryAll/$", "count": 6, "retry_after": 0},
            {"kind": "500", "path": "/queryAll/.", "count": 1},
            {"kind": "503", "path": "/queryAll/.", "count": 1, "retry_after": 0},
            {"kind": "drop", "path": "/queryAll/.", "every": 2, "count": 2},
            {"kind": "expired_token", "path": "/queryAll/.", "skip": 2, "count": 1},
        ]
    )
    with connector(client_settings(sims), page_size=200, timeout=0.5) as sf:
        pages = after_pages(sf.http, {1: sim.expire_sessions})
        result = sf.read_contacts(None)
        assert pages["pages"] >= 4
        assert sf.api_calls["POST /services/oauth2/token"] >= 2  # logged in again after expiry
    assert sorted(ids_of(result.records)) == sorted(ids)
    fired = Counter(f.kind for f in sim.faults.fired)
    assert fired == {"slow": 1, "429": 6, "500": 1, "503": 1, "drop": 2, "expired_token": 1}


def test_writes_under_faults_are_neither_lost_nor_applied_twice(sims: RunningSimulators) -> None:
    sim = sims.salesforce
    sim.set_faults(
        [
            {"kind": "slow", "path": "/composite/sobjects", "method": "POST", "skip": 1, "count": 1, "delay": 1.5},
            {"kind": "429", "path": "/composite/sobjects", "count": 3, "retry_after": 0},
            {"kind": "drop", "path": "/composite/sobjects", "method": "POST", "every": 2, "count": 1},
            {"kind": "500", "path": "/composite/sobjects", "method": "PATCH", "count": 1},
            {"kind": "drop", "path": "/composite/sobjects", "method": "PATCH", "every": 2, "count": 1},
            {"kind": "expired_token", "path": "/composite/sobjects", "skip": 4, "count": 1},
        ]
    )
    items = [(f"g-{i}", {"LastName": f"Made{i}", "Genesys_Id__c": f"g-{i}"}) for i in range(450)]
    with connector(client_settings(sims), external_id_field="Genesys_Id__c", timeout=0.5) as sf:
        report = sf.create_contacts(items)
        assert report.counts() == {"created": 450}
        assert sim.count() == 450  # nothing created twice
        created = {o.key: o.record_id for o in report.outcomes}
        assert len(set(created.values())) == 450

        snapshot = {r["Id"]: r["SystemModstamp"] for r in sf.read_contacts(None).records}
        changes = {record_id: {"Email": f"{key}@example.org"} for key, record_id in created.items()}
        updated = sf.update_contacts(changes, snapshot)
    assert updated.counts() == {"updated": 450}
    for key, record_id in list(created.items())[::50]:
        assert sim.contact(record_id)["Email"] == f"{key}@example.org"
    fired = Counter(f.kind for f in sim.faults.fired)
    assert fired["drop"] == 2 and fired["slow"] == 1
    time.sleep(1.5)
    assert sim.count() == 450, "a timed-out create landed late"


def test_a_create_applied_whose_answer_was_lost_is_found_by_external_id(sims: RunningSimulators) -> None:
    items = [(f"g-{i}", {"LastName": f"Made{i}", "Genesys_Id__c": f"g-{i}"}) for i in range(5)]
    lost: Counter[str] = Counter()

    def lose_the_answer(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # The org applied the create; the connection breaks before the answer arrives (no fault rule does this).
        if response.request.method == "POST" and response.url.endswith("/composite/sobjects") and not lost:
            lost["answers"] += 1
            _ = response.content
            raise requests.exceptions.ConnectionError("connection reset while reading the answer")

    with connector(client_settings(sims), external_id_field="Genesys_Id__c") as sf:
        sf.http.hooks["response"].append(lose_the_answer)
        report = sf.create_contacts(items)
        assert sf.api_calls["POST /services/data/v59.0/composite/sobjects"] == 1  # not sent again
    assert lost["answers"] == 1
    assert report.counts() == {"created": 5}
    assert sims.salesforce.count() == 5
    for key, record_id in ((o.key, o.record_id) for o in report.outcomes):
        assert record_id is not None and sims.salesforce.contact(record_id)["Genesys_Id__c"] == key


def test_create_without_an_external_id_is_not_repeated_after_an_unknown_outcome(sims: RunningSimulators) -> None:
    sims.salesforce.set_faults([{"kind": "drop", "path": "/composite/sobjects", "method": "POST", "count": 1}])
    items = [(f"k{i}", {"LastName": f"L{i}"}) for i in range(5)]
    with connector(client_settings(sims)) as sf:
        report = sf.create_contacts(items)
    assert report.counts() == {"failed": 5}
    assert all("outcome unknown" in (o.message or "") for o in report.outcomes)
    assert sims.salesforce.count() == 0  # the dropped call never reached the org here, and was not sent again


def test_daily_api_limit_stops_the_run_with_a_clear_error(sims: RunningSimulators) -> None:
    seed_contacts(sims, 50)
    sim = sims.salesforce
    sim.api_usage = sim.daily_api_limit - 6  # six calls left today
    with connector(client_settings(sims), page_size=200) as sf:
        reads = 0
        with pytest.raises(ApiLimitExceeded, match="REQUEST_LIMIT_EXCEEDED"):
            for _ in range(10):
                sf.read_contacts(None)
                reads += 1
        assert 1 <= reads < 10
        assert sf.api_usage is not None
        assert sf.api_usage.total == sim.daily_api_limit and sf.api_usage.remaining <= 2

        # A write stopped by the limit says what it wrote before stopping.
        sim.api_usage = sim.daily_api_limit - 1  # one call left: the first batch of 200
        items = [(f"k{i}", {"LastName": f"L{i}"}) for i in range(450)]
        with pytest.raises(ApiLimitExceeded) as stopped:
            sf.create_contacts(items)
        partial = stopped.value.report
        assert partial is not None and partial.counts() == {"created": 200}
        assert sim.count() == 50 + 200


def test_secrets_never_appear_in_logs_reprs_or_errors(
    sims: RunningSimulators, caplog: pytest.LogCaptureFixture
) -> None:
    seed_contacts(sims, 3)
    settings = SalesforceSettings.from_env(sims.env)
    secrets = [s.reveal() for s in settings.secrets if s]
    caplog.set_level(logging.DEBUG)
    with connector(client_settings(sims)) as sf:
        sf.read_contacts(None)
        sims.salesforce.expire_sessions()
        sf.read_contacts(None)
        session_id = sf.http.session_id.reveal() if sf.http.session_id else ""
        texts = [repr(sf), repr(settings), repr(sf.http), caplog.text]
    assert settings.password is not None
    with connector(replace(password_settings(sims), password=Secret("Wrong-" + settings.password.reveal()))) as bad:
        with pytest.raises(AuthError) as err:
            bad.read_contacts(None)
        texts.append(str(err.value))
    assert session_id
    for text in texts:
        for secret in [*secrets, session_id]:
            assert secret not in text
