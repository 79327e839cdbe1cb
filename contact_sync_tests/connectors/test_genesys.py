"""Tests of the Genesys connector: the pure merge of planned changes, then end to end against the Genesys simulator
served over real HTTP (token, scans, bulk writes, faults, rate limit, secrets)."""

from __future__ import annotations

import dataclasses
import gzip
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from contact_sync.connectors.genesys import GenesysConnector, merge_changes
from contact_sync.connectors.genesys_exports import ExportFailed, parse_export_file
from contact_sync.connectors.http import AuthError, RetryPolicy
from contact_sync.settings import GenesysSettings, Secret
from contact_sync.simulators import serve_simulator
from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync_tests.simulators.shared_fixtures import TestClock

API = "/api/v2/externalcontacts"
FAST_RETRY = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05)


# --- merge of planned changes (pure) ---------------------------------------------------------------------------------

FETCHED: dict[str, Any] = {
    "id": "c-1",
    "firstName": "Ann",
    "lastName": "Lee",
    "workPhone": {"display": "+1 317-555-7000", "e164": "+13175557000", "userInput": "3175557000"},
    "homePhone": {"display": "+1 317-555-0100", "e164": "+13175550100"},
    "address": {"address1": "1 Main St", "city": "Indianapolis"},
    "customFields": {"tags": ["vip"], "notes": "call after 5"},
    "externalIds": [
        {"externalSource": {"id": "sf", "name": "Salesforce"}, "value": "003A"},
        {"externalSource": {"id": "zd", "name": "Zendesk"}, "value": "77"},
    ],
    "division": {"id": "d", "name": "Home"},
    "createDate": "2026-01-01T00:00:00.000Z",
    "modifyDate": "2026-01-02T00:00:00.000Z",
    "type": "Curated",
    "selfUri": "/api/v2/externalcontacts/contacts/c-1",
}


def test_merge_keeps_every_field_not_named_and_drops_server_fields() -> None:
    merged = merge_changes(FETCHED, {"firstName": "Anne"})
    assert merged["firstName"] == "Anne"
    for name in ("lastName", "workPhone", "homePhone", "address", "customFields", "externalIds", "division"):
        assert merged[name] == FETCHED[name]
    assert not {"createDate", "modifyDate", "type", "selfUri"} & set(merged)
    assert merged["id"] == "c-1"
    assert FETCHED["firstName"] == "Ann"  # the fetched contact is not changed in place


def test_merge_wraps_phone_strings_and_sets_nested_custom_fields() -> None:
    merged = merge_changes(FETCHED, {"workPhone": "317-555-9999", "customFields.tags": ["vip", "gold"]})
    assert merged["workPhone"] == {"display": "317-555-9999"}
    assert merged["homePhone"] == FETCHED["homePhone"]
    assert merged["customFields"] == {"tags": ["vip", "gold"], "notes": "call after 5"}


def test_merge_none_clears_a_field_and_removes_an_emptied_object() -> None:
    merged = merge_changes(FETCHED, {"workPhone": None, "customFields.tags": None, "customFields.notes": None})
    assert "workPhone" not in merged
    assert "customFields" not in merged
    assert merged["address"] == FETCHED["address"]


def test_merge_links_upsert_per_source_and_organization_ids() -> None:
    merged = merge_changes(
        FETCHED,
        {"externalIds": [{"externalSource": {"id": "sf"}, "value": "003B"}], "externalOrganization": "org-9"},
    )
    values = {x["externalSource"]["id"]: x["value"] for x in merged["externalIds"]}
    assert values == {"sf": "003B", "zd": "77"}
    assert merged["externalOrganization"] == {"id": "org-9"}


@pytest.mark.parametrize(
    "changes",
    [{"modifyDate": "x"}, {"id": "other"}, {"workPhone": 42}, {"firstName.x": "y"}, {"externalIds": [{"value": "1"}]}],
)
def test_merge_refuses_what_cannot_be_written(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        merge_changes(FETCHED, changes)


# --- end to end against the simulator --------------------------------------------------------------------------------


@pytest.fixture
def sim() -> Iterator[GenesysSimulator]:
    """The Genesys simulator alone, on a free loopback port, no rate limit unless a test sets one."""
    with serve_simulator(GenesysSimulator(rate_limit_per_minute=None)) as served:
        yield served  # type: ignore[misc]


@pytest.fixture
def settings(sim: GenesysSimulator) -> GenesysSettings:
    return GenesysSettings.from_env(sim.env())


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def connector(settings: GenesysSettings, sleeps: list[float]) -> Iterator[GenesysConnector]:
    with GenesysConnector(settings, retry=FAST_RETRY, rate_limit=False, timeout=5.0, sleep=sleeps.append) as conn:
        yield conn


def people(n: int, start: int = 0, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"firstName": f"P{i}", "lastName": "Person", "workEmail": f"p{i}@example.com", **extra}
        for i in range(start, start + n)
    ]


def linked(
    source: dict[str, str], keys: list[str], bad: frozenset[str] | set[str] = frozenset()
) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            key,
            {
                "firstName": f"N{key}",
                "lastName": "New",
                "workEmail": "not-an-email" if key in bad else f"{key.lower()}@example.com",
                "externalIds": [{"externalSource": {"id": source["id"]}, "value": key}],
            },
        )
        for key in keys
    ]


def links_in(sim: GenesysSimulator, connector: GenesysConnector, source_id: str) -> list[str]:
    """Every CRM link value stored in the simulator (one per contact carrying one)."""
    values = []
    for contact in connector.scan_contacts():
        values += [x["value"] for x in contact.get("externalIds") or [] if x["externalSource"]["id"] == source_id]
    return values


def test_token_is_cached_and_refreshed_when_the_service_expires_it(
    sim: GenesysSimulator, connector: GenesysConnector
) -> None:
    sim.load_contacts(people(30))
    assert len(connector.scan_contacts(limit=10)) == 30
    assert len(connector.scan_contacts(limit=10)) == 30
    assert sim.calls[("POST", "/oauth/token")] == 1
    sim.expire_tokens()
    assert len(connector.scan_contacts(limit=10)) == 30
    assert sim.calls[("POST", "/oauth/token")] == 2
    assert connector.api_calls.events["401"] == 1


def test_expired_token_mid_scan_is_refreshed_and_the_page_read_again(
    sim: GenesysSimulator, connector: GenesysConnector
) -> None:
    ids = set(sim.load_contacts(people(95)))
    sim.set_faults([{"kind": "expired_token", "path": "/scan/contacts", "skip": 3, "count": 1}])
    rows = connector.scan_contacts(limit=10)
    assert [r["id"] for r in rows if r["id"] in ids] == [r["id"] for r in rows]
    assert {r["id"] for r in rows} == ids and len(rows) == 95
    assert sim.calls[("POST", "/oauth/token")] == 2


def test_a_token_refused_twice_is_an_auth_error(sim: GenesysSimulator, connector: GenesysConnector) -> None:
    sim.load_contacts(people(3))
    sim.set_faults([{"kind": "expired_token", "path": "/scan/contacts", "count": 2}])
    with pytest.raises(AuthError):
        connector.scan_contacts()
    assert sim.calls[("POST", "/oauth/token")] == 2  # refreshed once, not in a loop
    assert len(connector.scan_contacts()) == 3  # and the next call works again


def test_token_lifetime_is_respected_without_waiting_for_a_401(settings: GenesysSettings) -> None:
    moment = [datetime(2026, 5, 1, tzinfo=UTC).timestamp()]
    with serve_simulator(GenesysSimulator(rate_limit_per_minute=None, token_lifetime_s=300)) as short:
        short.set_clock(lambda: datetime.fromtimestamp(moment[0], UTC))  # type: ignore[attr-defined]
        env_settings = GenesysSettings.from_env(short.env())
        with GenesysConnector(env_settings, rate_limit=False, clock=lambda: moment[0]) as conn:
            conn.scan_contacts()
            moment[0] += 200  # still valid (300 s lifetime, renewed 30 s early)
            conn.scan_contacts()
            assert short.calls[("POST", "/oauth/token")] == 1  # type: ignore[attr-defined]
            moment[0] += 80  # inside the renewal margin: a new token before the old one is refused
            conn.scan_contacts()
            assert short.calls[("POST", "/oauth/token")] == 2  # type: ignore[attr-defined]
            assert conn.api_calls.events["401"] == 0


def test_scan_of_several_pages_returns_every_contact_once(sim: GenesysSimulator, connector: GenesysConnector) -> None:
    ids = sim.load_contacts(people(1050))
    rows = connector.scan_contacts(limit=100)
    assert len(rows) == 1050
    assert {r["id"] for r in rows} == set(ids)
    assert sim.calls[("GET", f"{API}/scan/contacts")] == 11


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "429", "path": "/scan/", "every": 3, "retry_after": 2},
        {"kind": "500", "path": "/scan/", "every": 2},
        {"kind": "503", "path": "/scan/", "every": 3},
        {"kind": "drop", "path": "/scan/", "every": 4},
        {"kind": "slow", "path": "/scan/", "every": 5, "delay": 1.0},
    ],
    ids=lambda rule: rule["kind"],
)
def test_scan_under_faults_still_returns_every_contact_once(
    sim: GenesysSimulator, settings: GenesysSettings, rule: dict[str, Any]
) -> None:
    ids = sim.load_contacts(people(420))
    sim.set_faults([rule])
    sleeps: list[float] = []
    with GenesysConnector(settings, retry=FAST_RETRY, rate_limit=False, timeout=0.4, sleep=sleeps.append) as conn:
        rows = conn.scan_contacts(limit=50)
    assert len(rows) == 420
    assert {r["id"] for r in rows} == set(ids)
    assert sim.faults.fired, "the fault never fired: the test proved nothing"
    if rule["kind"] == "429":
        assert 2.0 in sleeps  # Retry-After was honoured


def test_organizations_scan_and_ensure_creates_only_the_missing(
    sim: GenesysSimulator, connector: GenesysConnector
) -> None:
    source = connector.ensure_external_source("Salesforce")
    assert connector.ensure_external_source("Salesforce") == source
    sim.load_organizations(
        [{"name": "Acme", "externalIds": [{"externalSource": {"id": source["id"]}, "value": "001A"}]}]
    )
    sim.load_organizations([{"name": f"Other {i}"} for i in range(25)])
    orgs = connector.ensure_organizations({"001A": "Acme Inc", "001B": "Beta", "001C": "Gamma"}, source)
    assert set(orgs) == {"001A", "001B", "001C"}
    # One scan to find the linked ones, one bulk add for the two missing: no call per organization.
    assert connector.api_calls.get(f"POST {API}/bulk/organizations/add") == 1
    assert connector.api_calls.get(f"POST {API}/organizations") == 0
    assert len(connector.scan_organizations(limit=10)) == 28
    again = connector.ensure_organizations({"001A": "Acme", "001B": "Beta"}, source)
    assert again == {"001A": orgs["001A"], "001B": orgs["001B"]}
    assert len(connector.scan_organizations()) == 28


def org_links(connector: GenesysConnector, source_id: str) -> dict[str, list[str]]:
    """CRM account id -> the ids of every organization linked to it (more than one would be a duplicate)."""
    out: dict[str, list[str]] = {}
    for org in connector.scan_organizations():
        for link in org.get("externalIds") or []:
            if link["externalSource"]["id"] == source_id:
                out.setdefault(link["value"], []).append(org["id"])
    return out


def test_organizations_are_created_in_batches_and_a_rejected_one_leaves_the_rest(
    sim: GenesysSimulator, settings: GenesysSettings, caplog: pytest.LogCaptureFixture
) -> None:
    with GenesysConnector(settings, retry=FAST_RETRY, rate_limit=False, batch_size=4, sleep=lambda s: None) as conn:
        source = conn.ensure_external_source("Salesforce")
        accounts = {f"001B{i:02d}": f"Account {i}" for i in range(10)}
        accounts["001B05"] = "x" * 1001  # longer than the service allows
        with caplog.at_level(logging.WARNING, logger="contact_sync.connectors.genesys"):
            orgs = conn.ensure_organizations(accounts, source)
        assert conn.api_calls.get(f"POST {API}/bulk/organizations/add") == 3  # ceil(10 / 4)
        assert org_links(conn, source["id"]) == {a: [orgs[a]] for a in orgs}
    assert set(orgs) == set(accounts) - {"001B05"}
    assert sim.service.get_organization(orgs["001B03"])["name"] == "Account 3"
    assert "organization for account 001B05 not created" in caplog.text and "at most 1000" in caplog.text


def test_an_organization_add_with_an_unknown_outcome_is_checked_before_it_is_sent_again(
    sim: GenesysSimulator, settings: GenesysSettings
) -> None:
    # The service creates the first batch's organizations but the answer is lost: the connector must look before
    # it sends that batch again, or each of its accounts would get two organizations.
    with GenesysConnector(settings, retry=FAST_RETRY, rate_limit=False, batch_size=3, sleep=lambda s: None) as conn:
        source = conn.ensure_external_source("Salesforce")
        sim.set_faults([{"kind": "lost", "path": "/bulk/organizations/add", "count": 1}])
        accounts = {f"001U{i}": f"Unknown {i}" for i in range(5)}
        orgs = conn.ensure_organizations(accounts, source)
        assert sim.faults.fired, "the fault never fired: the test proved nothing"
        sim.set_faults([])
        assert set(orgs) == set(accounts)
        assert org_links(conn, source["id"]) == {a: [orgs[a]] for a in accounts}


def test_bulk_create_reports_each_rejection_and_writes_the_rest(
    sim: GenesysSimulator, connector: GenesysConnector
) -> None:
    source = connector.ensure_external_source("Salesforce")
    keys = [f"003K{i:03d}" for i in range(12)]
    bad = {keys[2], keys[7], keys[9]}
    report = connector.create_contacts(linked(source, keys, bad))
    assert [o.key for o in report.outcomes] == keys
    assert report.counts() == {"created": 9, "failed": 3}
    for outcome in report.failed:
        assert outcome.key in bad
        assert "workEmail" in (outcome.message or "")
    for outcome in report.by_status("created"):
        stored = sim.contact(outcome.record_id or "")
        assert stored is not None
        assert stored["externalIds"][0]["value"] == outcome.key  # matched to the right request
    assert sim.count() == 9
    assert report.api_calls == 1


def test_create_needs_a_unique_link_per_contact(connector: GenesysConnector) -> None:
    source = connector.ensure_external_source("Salesforce")
    items = linked(source, ["003X", "003Y"])
    items.append(("003Z", {"firstName": "No link"}))
    items.append(("003W", items[0][1]))
    report = connector.create_contacts(items)
    assert report.counts() == {"created": 2, "failed": 2}
    assert "no externalIds" in (report.outcomes[2].message or "")
    assert "repeats key 003X" in (report.outcomes[3].message or "")


def test_update_skips_a_contact_edited_since_the_snapshot_and_keeps_unmanaged_fields(
    sim: GenesysSimulator, connector: GenesysConnector
) -> None:
    ids = sim.load_contacts(
        people(
            5,
            homePhone={"display": "+1 317 555 0100"},
            address={"address1": "1 Main St", "city": "Indianapolis"},
            customFields={"notes": "prefers email"},
        )
    )
    snapshot = {r["id"]: r["modifyDate"] for r in connector.scan_contacts()}
    sim.edit_contact(ids[1], {"firstName": "Agent-Edit"})
    changes = {i: {"firstName": "Synced", "workPhone": "317-555-7000", "customFields.tags": ["crm"]} for i in ids[:4]}
    report = connector.update_contacts(changes, snapshot)
    assert report.counts() == {"updated": 3, "changed_since_read": 1}
    assert report.by_status("changed_since_read")[0].key == ids[1]
    assert sim.contact(ids[1])["firstName"] == "Agent-Edit"  # type: ignore[index]
    for contact_id in (ids[0], ids[2], ids[3]):
        stored = sim.contact(contact_id)
        assert stored is not None
        assert stored["firstName"] == "Synced"
        assert stored["workPhone"]["e164"] == "+13175557000"
        assert stored["homePhone"]["e164"] == "+13175550100"
        assert stored["address"] == {"address1": "1 Main St", "city": "Indianapolis"}
        assert stored["customFields"] == {"notes": "prefers email", "tags": ["crm"]}
        assert stored["workEmail"].startswith("p")
    assert sim.contact(ids[4])["firstName"] == "P4"  # type: ignore[index]
    assert report.api_calls == 2  # one re-fetch, one update


def test_update_reports_rejections_and_unknown_contacts_with_the_service_message(
    sim: GenesysSimulator, connector: GenesysConnector
) -> None:
    ids = sim.load_contacts(people(3))
    snapshot = {r["id"]: r["modifyDate"] for r in connector.scan_contacts()}
    snapshot["00000000-0000-4000-8000-000000000000"] = "2026-01-01T00:00:00.000Z"
    changes = {
        ids[0]: {"workEmail": "broken"},
        ids[1]: {"lastName": "Fine"},
        "00000000-0000-4000-8000-000000000000": {"lastName": "Ghost"},
        ids[2]: {"lastName": "No snapshot stamp"},
    }
    del snapshot[ids[2]]
    report = connector.update_contacts(changes, snapshot)
    outcome = {o.key: o for o in report.outcomes}
    assert outcome[ids[1]].status == "updated"
    assert outcome[ids[0]].status == "failed" and "workEmail" in (outcome[ids[0]].message or "")
    assert outcome["00000000-0000-4000-8000-000000000000"].status == "failed"
    assert "Unable to find contact" in (outcome["00000000-0000-4000-8000-000000000000"].message or "")
    assert outcome[ids[2]].status == "failed"
    assert sim.contact(ids[2])["lastName"] == "Person"  # type: ignore[index]


def test_a_batch_refused_as_too_large_is_split_and_written(sleeps: list[float]) -> None:
    with serve_simulator(GenesysSimulator(rate_limit_per_minute=None, bulk_max=40)) as small:
        settings = GenesysSettings.from_env(small.env())
        with GenesysConnector(settings, retry=FAST_RETRY, rate_limit=False, batch_size=100) as conn:
            source = conn.ensure_external_source("Salesforce")
            report = conn.create_contacts(linked(source, [f"003S{i:03d}" for i in range(150)]))
            assert report.counts() == {"created": 150}
            assert small.count() == 150  # type: ignore[attr-defined]
            snapshot = {r["id"]: r["modifyDate"] for r in conn.scan_contacts()}
            updated = conn.update_contacts({i: {"title": "Split"} for i in snapshot}, snapshot)
            assert updated.counts() == {"updated": 150}
            assert all(r["title"] == "Split" for r in conn.scan_contacts())
            # Batches of 100 and 50 are refused (413) and halved until they fit: 100 -> 2 x 50 -> 4 x 25, and
            # 50 -> 2 x 25: 10 calls, 4 of them refused, for each of the add, the re-fetch and the update.
            for route in ("/bulk/contacts/enrich", "/bulk/contacts", "/bulk/contacts/update"):
                assert small.calls[("POST", f"{API}{route}")] == 10  # type: ignore[attr-defined]
            assert conn.api_calls.events["error"] == 3 * 4


@pytest.mark.parametrize(
    "rules",
    [
        [{"kind": "500", "path": "/bulk/contacts", "every": 2}],
        [{"kind": "drop", "path": "/bulk/contacts", "every": 3}],
        [{"kind": "lost", "path": "/bulk/contacts", "every": 3}],
        [{"kind": "503", "path": "/bulk/contacts", "every": 2}, {"kind": "429", "path": "/bulk/", "every": 5}],
        [{"kind": "slow", "path": "/bulk/contacts/update", "every": 2, "delay": 1.0}],
    ],
    ids=["500", "drop", "lost", "503+429", "slow-update"],
)
@pytest.mark.parametrize("use_enrich", [True, False], ids=["enrich", "bulk-add"])
def test_writes_under_faults_are_neither_lost_nor_applied_twice(
    sim: GenesysSimulator, settings: GenesysSettings, rules: list[dict[str, Any]], use_enrich: bool
) -> None:
    with GenesysConnector(
        settings,
        retry=FAST_RETRY,
        rate_limit=False,
        batch_size=25,
        recovery_lookups=25,
        timeout=0.5,
        sleep=lambda s: None,
        use_enrich=use_enrich,
    ) as conn:
        source = conn.ensure_external_source("Salesforce")
        sim.set_faults(rules)
        keys = [f"003F{i:03d}" for i in range(120)]
        created = conn.create_contacts(linked(source, keys))
        fired = len(sim.faults.fired)
        sim.set_faults([])
        assert created.counts() == {"created": 120}
        values = links_in(sim, conn, source["id"])
        assert sorted(values) == sorted(keys)  # each exactly once
        assert sim.count() == 120
        by_key = {o.key: o.record_id for o in created.outcomes}
        assert all(sim.contact(by_key[k])["externalIds"][0]["value"] == k for k in keys)  # type: ignore[index]
        lookups = conn.api_calls.get(f"POST {API}/identifierlookup/contacts")
        if use_enrich:
            # An enrich whose answer was lost is simply sent again: it updates what the first one created.
            assert lookups == 0 and conn.api_calls.get(f"POST {API}/bulk/contacts/add") == 0
        elif rules[0]["kind"] in ("500", "drop", "lost"):
            # A bulk add whose outcome is unknown is checked (lookup by the CRM link) before it is sent again.
            assert lookups > 0

        snapshot = {r["id"]: r["modifyDate"] for r in conn.scan_contacts()}
        sim.set_faults(rules)
        updated = conn.update_contacts({i: {"title": "Under fire"} for i in snapshot}, snapshot)
        fired += len(sim.faults.fired)
        sim.set_faults([])
        assert updated.counts() == {"updated": 120}
        assert all(r["title"] == "Under fire" for r in conn.scan_contacts())
        assert sim.count() == 120
    assert fired > 0, "no fault fired: the test proved nothing"


@pytest.mark.parametrize("kind", ["lost", "drop"])
def test_a_big_bulk_add_whose_answer_is_lost_is_left_unconfirmed_without_a_lookup_per_contact(
    sim: GenesysSimulator, settings: GenesysSettings, kind: str
) -> None:
    with GenesysConnector(
        settings, retry=FAST_RETRY, rate_limit=False, batch_size=50, sleep=lambda s: None, use_enrich=False
    ) as conn:
        source = conn.ensure_external_source("Salesforce")
        sim.set_faults([{"kind": kind, "path": "/bulk/contacts/add", "count": 1}])
        keys = [f"003L{i:03d}" for i in range(70)]
        report = conn.create_contacts(linked(source, keys))
        assert sim.faults.fired, "the fault never fired: the test proved nothing"
        sim.set_faults([])
    # The first batch (50 > 20 lookups) is neither re-sent nor looked up one by one; the second is created.
    assert report.counts() == {"unconfirmed": 50, "created": 20}
    assert {o.key for o in report.by_status("unconfirmed")} == set(keys[:50])
    assert "the next run links the contact if the service created it" in (report.outcomes[0].message or "")
    assert conn.api_calls.get(f"POST {API}/identifierlookup/contacts") == 0
    assert conn.api_calls.get(f"POST {API}/bulk/contacts/add") == 2
    assert sim.count() == (70 if kind == "lost" else 20)  # applied or not: never twice


@pytest.mark.parametrize("kind", ["lost", "drop"])
def test_a_bulk_enrich_whose_answer_is_lost_is_sent_again_and_creates_each_contact_once(
    sim: GenesysSimulator, settings: GenesysSettings, kind: str
) -> None:
    with GenesysConnector(settings, retry=FAST_RETRY, rate_limit=False, batch_size=50, sleep=lambda s: None) as conn:
        source = conn.ensure_external_source("Salesforce")
        sim.set_faults([{"kind": kind, "path": "/bulk/contacts/enrich", "count": 1}])
        keys = [f"003E{i:03d}" for i in range(70)]
        report = conn.create_contacts(linked(source, keys))
        assert sim.faults.fired, "the fault never fired: the test proved nothing"
        sim.set_faults([])
        assert report.counts() == {"created": 70} and sim.count() == 70  # applied or not: once
        assert sorted(links_in(sim, conn, source["id"])) == sorted(keys)
        assert conn.api_calls.get(f"POST {API}/bulk/contacts/enrich") == 3  # two batches, one sent twice
        assert conn.api_calls.get(f"POST {API}/identifierlookup/contacts") == 0


def test_creates_fall_back_to_bulk_add_where_the_service_offers_no_enrich() -> None:
    with serve_simulator(GenesysSimulator(rate_limit_per_minute=None, enrich=False)) as plain:
        settings = GenesysSettings.from_env(plain.env())
        with GenesysConnector(settings, retry=FAST_RETRY, rate_limit=False, batch_size=10) as conn:
            source = conn.ensure_external_source("Salesforce")
            report = conn.create_contacts(linked(source, [f"003P{i:03d}" for i in range(25)]))
            assert report.counts() == {"created": 25} and plain.count() == 25  # type: ignore[attr-defined]
            assert not conn.use_enrich
            assert conn.api_calls.get(f"POST {API}/bulk/contacts/enrich") == 1  # asked once, then bulk add
            assert conn.api_calls.get(f"POST {API}/bulk/contacts/add") == 3


def test_a_persistent_outage_fails_the_batch_and_the_rest_proceeds(
    sim: GenesysSimulator, settings: GenesysSettings
) -> None:
    with GenesysConnector(settings, retry=FAST_RETRY, rate_limit=False, batch_size=10, sleep=lambda s: None) as conn:
        ids = sim.load_contacts(people(20))
        snapshot = {r["id"]: r["modifyDate"] for r in conn.scan_contacts()}
        # The update of the first batch fails every time; the second batch's update gets through.
        sim.set_faults([{"kind": "503", "path": "/bulk/contacts/update", "count": FAST_RETRY.max_attempts}])
        order = sorted(ids)
        report = conn.update_contacts({i: {"title": "T"} for i in order}, snapshot)
    assert report.counts() == {"failed": 10, "updated": 10}
    assert all("gave up after" in (o.message or "") for o in report.failed)
    assert {o.key for o in report.failed} == set(order[:10])


def test_delete_and_get(sim: GenesysSimulator, connector: GenesysConnector) -> None:
    ids = sim.load_contacts(people(4))
    got = connector.get_contacts([ids[0], ids[1], "00000000-0000-4000-8000-00000000abcd"])
    assert {c["id"] for c in got} == {ids[0], ids[1]}
    report = connector.delete_contacts([ids[0], ids[1], "00000000-0000-4000-8000-00000000abcd"])
    assert report.counts() == {"deleted": 2, "skipped": 1}
    assert sim.count() == 2


def test_client_side_limit_keeps_the_service_from_answering_429(sim: GenesysSimulator) -> None:
    """The simulator and the connector share a fake clock, so a 30/minute limit is exercised over 'minutes' of
    simulated time in a fraction of a second: 45 calls paced by the limiter get no 429; without it they do."""
    moment = [datetime(2026, 5, 1, tzinfo=UTC).timestamp()]

    def fake_sleep(seconds: float) -> None:
        moment[0] += seconds

    sim.set_clock(lambda: datetime.fromtimestamp(moment[0], UTC))
    sim.load_contacts(people(5))
    sim.set_rate_limit(30)
    settings = dataclasses.replace(GenesysSettings.from_env(sim.env()), rate_limit_per_minute=30)

    def run(rate_limit: bool) -> GenesysConnector:
        with GenesysConnector(settings, rate_limit=rate_limit, clock=lambda: moment[0], sleep=fake_sleep) as conn:
            for _ in range(45):
                conn.scan_contacts()
        return conn

    start = moment[0]
    paced = run(rate_limit=True)
    assert paced.api_calls.events["429"] == 0
    minutes = (moment[0] - start) / 60
    assert 45 / minutes >= 0.9 * 30  # and the pace stays close to the limit

    sim.set_rate_limit(30)  # a fresh window
    unpaced = run(rate_limit=False)
    assert unpaced.api_calls.events["429"] > 0  # the same calls without the limiter do get 429s (then wait them out)


def test_secrets_stay_out_of_reprs_errors_and_logs(
    sim: GenesysSimulator, settings: GenesysSettings, caplog: pytest.LogCaptureFixture
) -> None:
    secret = settings.client_secret.reveal()
    with caplog.at_level(logging.DEBUG):
        with GenesysConnector(settings, retry=FAST_RETRY, rate_limit=False) as conn:
            conn.scan_contacts()
            token = conn._tokens.token()
            sim.expire_tokens()
            conn.scan_contacts()
            for text in (repr(conn), str(conn), repr(conn.settings), repr(conn._tokens), repr(conn._client)):
                assert secret not in text and token not in text
        wrong = dataclasses.replace(settings, client_secret=Secret("wrong-" + secret))
        with GenesysConnector(wrong, retry=FAST_RETRY, rate_limit=False) as bad, pytest.raises(AuthError) as info:
            bad.scan_contacts()
    assert "authentication failed" in str(info.value)
    assert secret not in str(info.value) and "wrong-" not in str(info.value)
    assert secret not in caplog.text and token not in caplog.text


# --- contact exports (incremental reads) -----------------------------------------------------------------------------


def advancing(clock: TestClock, seconds: float, also: Callable[[], None] | None = None) -> Callable[[float], None]:
    """A connector `sleep` that moves the simulator's clock instead of waiting (and may edit something meanwhile)."""

    def sleep(wait: float) -> None:
        clock.advance(max(wait, seconds))
        if also is not None:
            also()

    return sleep


def exporting(settings: GenesysSettings, clock: TestClock, also: Callable[[], None] | None = None) -> GenesysConnector:
    return GenesysConnector(settings, retry=FAST_RETRY, rate_limit=False, sleep=advancing(clock, 0.5, also))


def test_incremental_exports_lose_and_double_nothing_across_edits_during_the_read_and_on_the_boundary(
    sim: GenesysSimulator, settings: GenesysSettings
) -> None:
    clock = TestClock()
    sim.set_clock(clock)
    ids = sim.load_contacts(people(5))
    clock.advance(60)
    edited: list[str] = []

    def edit_during_the_read() -> None:
        if not edited:  # once, while the first export is still running: after it selected its contacts
            sim.edit_contact(ids[1], {"firstName": "During"})
            edited.append(ids[1])

    with exporting(settings, clock, edit_during_the_read) as connector:
        first = connector.export_contacts(None)
    assert sorted(c["id"] for c in first.contacts) == sorted(ids)
    assert first.polls >= 1 and first.api_calls == 1 + 1 + first.polls + 1  # token, create, polls, download
    assert {c["id"]: c["firstName"] for c in first.contacts}[ids[1]] == "P1"  # the copy as selected

    clock.now = datetime.fromisoformat(first.started_at.replace("Z", "+00:00"))
    sim.edit_contact(ids[2], {"firstName": "Boundary"})  # modifyDate == the watermark: must be in the next export
    clock.advance(5)
    with exporting(settings, clock) as connector:
        second = connector.export_contacts(first.started_at)
    changed = {c["id"]: c["firstName"] for c in second.contacts}
    assert changed == {ids[1]: "During", ids[2]: "Boundary"}
    assert len(second.contacts) == len(changed)

    mirror = {c["id"]: c for c in first.contacts} | {c["id"]: c for c in second.contacts}
    assert {i: c["firstName"] for i, c in mirror.items()} == {i: sim.contact(i)["firstName"] for i in ids}


def test_a_failed_or_endless_export_is_an_export_failure(sim: GenesysSimulator, settings: GenesysSettings) -> None:
    clock = TestClock()
    sim.set_clock(clock)
    sim.load_contacts(people(2))
    sim.set_faults([{"kind": "failed", "path": "/contacts/exports$", "method": "POST", "count": 1}])
    with exporting(settings, clock) as connector, pytest.raises(ExportFailed, match="FAILED"):
        connector.export_contacts(None)
    sim.exports.delay_s = 3600
    ticks = iter(range(0, 10_000, 5))
    with (
        GenesysConnector(
            settings, retry=FAST_RETRY, rate_limit=False, clock=lambda: float(next(ticks)), sleep=advancing(clock, 5)
        ) as connector,
        pytest.raises(ExportFailed, match="did not finish within 60 s"),
    ):
        connector.export_contacts(None, timeout_s=60)


def test_the_change_probe_counts_one_contact_at_most_downloads_nothing_and_says_when_it_cannot(
    sim: GenesysSimulator, settings: GenesysSettings
) -> None:
    clock = TestClock()
    sim.set_clock(clock)
    ids = sim.load_contacts(people(3))
    clock.advance(60)
    with exporting(settings, clock) as connector:
        watermark = connector.export_contacts(None).started_at
        clock.advance(5)
        before = connector.api_calls.as_dict()
        assert connector.has_changes(watermark) is False
        for contact_id in ids:
            sim.edit_contact(contact_id, {"title": "Changed"})
        assert connector.has_changes(watermark) is True
        spent = {k: v - before.get(k, 0) for k, v in connector.api_calls.as_dict().items() if v != before.get(k, 0)}
        sim.set_faults([{"kind": "failed", "path": "/contacts/exports$", "method": "POST", "count": 1}])
        with pytest.raises(ExportFailed, match="FAILED"):
            connector.has_changes(watermark)
    assert spent.pop("POST /api/v2/externalcontacts/contacts/exports") == 2
    assert set(spent) == {"GET /api/v2/externalcontacts/contacts/exports/{id}"}  # polls; no download
    probes = list(sim.exports._jobs.values())[1:3]
    assert [len(job.rows) for job in probes] == [0, 1]  # limit 1: one row, not the three changed


@pytest.mark.parametrize(
    ("data", "rows", "message"),
    [
        # mtime=0: a gzip header holds the time, and xdist workers must collect the same parameters
        (gzip.compress(b'{"id": "a"}\n{"id": "b"}\n', mtime=0)[:-6], None, "not a complete gzip file"),
        (b'{"id": "a"}\n{"id": "b', None, "line 2 of the export file is not JSON"),
        (b'{"id": "a"}\n', 2, "holds 1 contacts but the export reported 2"),
    ],
    ids=["cut-off-gzip", "cut-off-line", "fewer-rows-than-reported"],
)
def test_an_unreadable_export_file_is_refused_whole(data: bytes, rows: int | None, message: str) -> None:
    with pytest.raises(ExportFailed, match=message):
        parse_export_file(data, rows)


def test_an_export_file_reads_gzipped_or_plain() -> None:
    text = b'{"id": "a"}\n\n{"id": "b"}\n'
    assert parse_export_file(gzip.compress(text), 2) == parse_export_file(text, 2) == [{"id": "a"}, {"id": "b"}]
    assert parse_export_file(b'{"id": "a"}\n7\n[1]\n', 3) == [{"id": "a"}, 7, [1]]  # odd records, for the converter
