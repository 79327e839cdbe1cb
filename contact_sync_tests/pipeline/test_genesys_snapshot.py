"""The Genesys mirror: refreshed from exports of what changed, rebuilt by a full read on its cadence (which finds
deletes), falling back to the scan when an export fails, and never trusting a watermark ahead of Genesys's clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from contact_sync.pipeline.genesys_snapshot import (
    GenesysMirror,
    forget_genesys_contacts,
    refresh_genesys_snapshot,
    remember_genesys_organizations,
)
from contact_sync.pipeline.services import Services
from contact_sync.simulators import RunningSimulators
from contact_sync.sync.policy import load_policy
from contact_sync_tests.simulators.shared_fixtures import TestClock


@pytest.fixture
def genesys_clock(sims: RunningSimulators) -> Iterator[TestClock]:
    clock = TestClock()
    sims.genesys.set_clock(clock)
    yield clock
    sims.genesys.set_clock(None)


def people(n: int) -> list[dict[str, object]]:
    return [{"firstName": f"G{i}", "lastName": "Mirror", "workEmail": f"g{i}@example.com"} for i in range(n)]


def live_ids(contacts: pd.DataFrame) -> set[str]:
    return set(contacts["record_id"][~contacts["is_deleted"].astype(bool)])


@pytest.mark.usefixtures("quick_exports")
def test_later_runs_read_only_what_changed_and_the_mirror_holds_everything(
    sims: RunningSimulators, services: Services, genesys_clock: TestClock
) -> None:
    ids = sims.genesys.load_contacts(people(30))
    genesys_clock.advance(3600)
    first = refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    assert first.info["read"] == "full" and first.info["full_read_by"] == "export"
    assert first.info["full_read_reason"] == "no Genesys mirror yet"
    assert len(first.contacts) == 30

    genesys_clock.advance(600)
    sims.genesys.edit_contact(ids[3], {"firstName": "Changed"})
    genesys_clock.advance(60)
    second = refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    assert second.info["read"] == "incremental"
    assert second.info["records_read"] == 1
    assert live_ids(second.contacts) == set(ids)
    names = dict(zip(second.contacts["record_id"], second.contacts["first_name"], strict=True))
    assert names[ids[3]] == "Changed"
    assert second.info["organizations_read"] == "cache"
    assert second.info["api_calls"] <= 4  # export create, poll, download (+ token on the first call)


@pytest.mark.usefixtures("quick_exports")
def test_a_delete_in_genesys_leaves_the_mirror_at_the_next_full_read(
    sims: RunningSimulators, services: Services
) -> None:
    ids = sims.genesys.load_contacts(people(5))
    refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    services.genesys.delete_contacts([ids[0]])
    incremental = refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    assert incremental.info["read"] == "incremental"
    assert ids[0] in live_ids(incremental.contacts)  # an export cannot tell of a delete

    tomorrow = datetime.now(UTC) + timedelta(hours=25)
    full = refresh_genesys_snapshot(services.genesys_adapter, services.settings, now=tomorrow)
    assert full.info["read"] == "full" and "cadence 24 h" in full.info["full_read_reason"]
    assert full.info["gone_since_last_read"] == 1
    assert live_ids(full.contacts) == set(ids[1:])


@pytest.mark.usefixtures("quick_exports")
def test_contacts_the_sync_deletes_leave_the_mirror_at_once(sims: RunningSimulators, services: Services) -> None:
    ids = sims.genesys.load_contacts(people(3))
    refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    services.genesys.delete_contacts([ids[1]])
    assert forget_genesys_contacts(services.settings.data_dir, [ids[1], "not-mirrored"]) == 1
    after = refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    assert after.info["read"] == "incremental"
    assert live_ids(after.contacts) == {ids[0], ids[2]}


@pytest.mark.usefixtures("quick_exports")
def test_a_failed_export_falls_back_to_the_scan_and_says_so(sims: RunningSimulators, services: Services) -> None:
    ids = sims.genesys.load_contacts(people(4))
    refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    sims.genesys.edit_contact(ids[2], {"lastName": "Edited"})
    sims.genesys.set_faults([{"kind": "failed", "path": "/contacts/exports$", "method": "POST", "count": 1}])
    fallback = refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    assert fallback.info["read"] == "full" and fallback.info["full_read_by"] == "scan"
    assert "the export failed" in fallback.info["full_read_reason"]
    assert "FAILED" in fallback.info["full_read_reason"]
    assert live_ids(fallback.contacts) == set(ids)
    assert dict(zip(fallback.contacts["record_id"], fallback.contacts["last_name"], strict=True))[ids[2]] == "Edited"
    # The scan's newest modifyDate is the next watermark: the next run is incremental again.
    sims.genesys.edit_contact(ids[0], {"lastName": "Later"})
    again = refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    assert again.info["read"] == "incremental"
    assert dict(zip(again.contacts["record_id"], again.contacts["last_name"], strict=True))[ids[0]] == "Later"


@pytest.mark.usefixtures("quick_exports")
def test_a_watermark_ahead_of_genesys_or_a_new_policy_means_a_full_read(
    sims: RunningSimulators, services: Services
) -> None:
    sims.genesys.load_contacts(people(2))
    refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    mirror = GenesysMirror(services.settings.data_dir)
    stored = mirror.load()
    assert stored is not None
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    mirror.save(dataclasses.replace(stored, state=dataclasses.replace(stored.state, watermark=future)))
    ahead = refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    assert ahead.info["read"] == "full"
    assert "is after Genesys's clock" in ahead.info["full_read_reason"]
    assert len(ahead.contacts) == 2

    adapter = dataclasses.replace(services.genesys_adapter, policy=load_policy(None).with_mode("bidirectional"))
    changed = refresh_genesys_snapshot(adapter, services.settings)
    assert changed.info["full_read_reason"] == "the policy or the CRM source changed since the mirror was built"


@pytest.mark.usefixtures("quick_exports")
def test_a_dry_run_leaves_the_mirror_as_it_was(sims: RunningSimulators, services: Services) -> None:
    sims.genesys.load_contacts(people(2))
    refresh_genesys_snapshot(services.genesys_adapter, services.settings, persist=False)
    assert GenesysMirror(services.settings.data_dir).load() is None


def test_the_scan_setting_reads_everything_every_run(sims: RunningSimulators, services: Services) -> None:
    sims.genesys.load_contacts(people(3))
    scanning = dataclasses.replace(services.settings, genesys_read="scan")
    for _ in range(2):
        snapshot = refresh_genesys_snapshot(services.genesys_adapter, scanning)
        assert snapshot.info["full_read_by"] == "scan" and snapshot.info["records_read"] == 3


def organization_scans(services: Services) -> int:
    return services.genesys.api_calls.get("GET /api/v2/externalcontacts/scan/organizations")


@pytest.mark.usefixtures("quick_exports")
def test_organizations_are_cached_and_scanned_again_only_when_a_changed_contact_names_an_unknown_one(
    sims: RunningSimulators, services: Services
) -> None:
    source = services.genesys.ensure_external_source(services.crm.external_source)
    orgs = services.genesys.ensure_organizations({"001ACME": "Acme", "001GLOBEX": "Globex"}, source)
    [unlinked] = sims.genesys.load_organizations([{"name": "Made by an agent"}])
    ids = sims.genesys.load_contacts(people(3))
    sims.genesys.edit_contact(ids[0], {"externalOrganization": {"id": orgs["001ACME"]}})
    sims.genesys.edit_contact(ids[1], {"externalOrganization": {"id": unlinked}})
    adapter, settings = services.genesys_adapter, services.settings
    scans = organization_scans(services)  # ensure_organizations looks before it creates

    first = refresh_genesys_snapshot(adapter, settings)
    assert first.info["organizations_read"] == "scan" and organization_scans(services) == scans + 1
    assert sorted(first.organizations["account_id"]) == ["001ACME", "001GLOBEX"]

    # An edit naming organizations the cache knows (linked or not) costs no scan.
    sims.genesys.edit_contact(ids[0], {"firstName": "Renamed"})
    sims.genesys.edit_contact(ids[2], {"externalOrganization": {"id": unlinked}})
    cached = refresh_genesys_snapshot(adapter, settings)
    assert cached.info["organizations_read"] == "cache" and organization_scans(services) == scans + 1
    accounts = dict(zip(cached.contacts["record_id"], cached.contacts["account_id"], strict=True))
    assert accounts[ids[0]] == "001ACME" and pd.isna(accounts[ids[2]])

    # An organization made since (by an agent or by this sync) is found by the scan its contact triggers.
    later = services.genesys.ensure_organizations({"001INITECH": "Initech"}, source)
    sims.genesys.edit_contact(ids[2], {"externalOrganization": {"id": later["001INITECH"]}})
    scans = organization_scans(services)
    rescanned = refresh_genesys_snapshot(adapter, settings)
    assert rescanned.info["organizations_read"] == "scan" and organization_scans(services) == scans + 1
    assert "1 organization(s)" in rescanned.info["organizations_scan_reason"]
    accounts = dict(zip(rescanned.contacts["record_id"], rescanned.contacts["account_id"], strict=True))
    assert accounts[ids[2]] == "001INITECH"

    tomorrow = datetime.now(UTC) + timedelta(hours=25)
    full = refresh_genesys_snapshot(adapter, settings, now=tomorrow)
    assert full.info["read"] == "full" and full.info["organizations_read"] == "scan"


@pytest.mark.usefixtures("quick_exports")
def test_a_mirror_without_its_organization_cache_scans_them_and_stays_incremental(
    sims: RunningSimulators, services: Services
) -> None:
    sims.genesys.load_contacts(people(2))
    refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    GenesysMirror(services.settings.data_dir).organizations_path.unlink()  # as a mirror of an earlier release
    again = refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    assert again.info["read"] == "incremental" and again.info["organizations_read"] == "scan"
    assert GenesysMirror(services.settings.data_dir).organizations_path.is_file()


@pytest.mark.usefixtures("quick_exports")
def test_organizations_this_sync_made_are_remembered_so_their_contacts_cost_no_scan(
    sims: RunningSimulators, services: Services
) -> None:
    [gid] = sims.genesys.load_contacts(people(1))
    refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    [account] = sims.salesforce.load_accounts([{"Name": "New Co"}])
    made = services.genesys_adapter.organizations([account])  # as the write step finds or creates them
    data_dir = services.settings.data_dir
    assert remember_genesys_organizations(data_dir, made) == 1
    assert remember_genesys_organizations(data_dir, made) == 0  # already known
    sims.genesys.edit_contact(gid, {"externalOrganization": {"id": made[account]}})
    scans = organization_scans(services)
    after = refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    assert after.info["organizations_read"] == "cache" and organization_scans(services) == scans
    assert after.contacts.set_index("record_id").loc[gid, "account_id"] == account
