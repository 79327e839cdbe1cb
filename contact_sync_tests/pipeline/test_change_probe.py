"""The change probe on services opened on the simulators: nothing before the first sync, the CRM asked before
Genesys, a due Genesys full read as a reason of its own, a side that cannot be asked reported (no run), and its
interval setting."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from contact_sync.pipeline.change_probe import probe_changes
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.genesys_snapshot import refresh_genesys_snapshot
from contact_sync.pipeline.services import Services
from contact_sync.pipeline.snapshots import refresh_crm_snapshot
from contact_sync.settings import SettingsError
from contact_sync.simulators import RunningSimulators

CRM_PEOPLE = [{"FirstName": f"C{i}", "LastName": "Probe", "Email": f"c{i}@example.com"} for i in range(2)]
GENESYS_PEOPLE = [{"firstName": f"G{i}", "lastName": "Probe", "workEmail": f"g{i}@example.com"} for i in range(2)]


def synced(services: Services) -> None:
    """Both mirrors read and their watermarks stored, as a completed sync leaves them."""
    refresh_crm_snapshot(services.crm, services.ledger, services.settings.data_dir)
    refresh_genesys_snapshot(services.genesys_adapter, services.settings)


@pytest.mark.usefixtures("quick_exports")
def test_the_probe_asks_the_crm_first_then_genesys_and_knows_when_the_full_read_is_due(
    sims: RunningSimulators, services: Services
) -> None:
    assert "no sync has completed" in (probe_changes(services).not_probed or "")
    crm_ids = sims.salesforce.load_contacts(CRM_PEOPLE)
    genesys_ids = sims.genesys.load_contacts(GENESYS_PEOPLE)
    synced(services)

    quiet = probe_changes(services)
    assert not quiet.run_due and quiet.not_probed is None and quiet.errors == []
    assert set(quiet.api_calls) == {"salesforce", "genesys"}

    sims.salesforce.edit_contact(crm_ids[0], LastName="Edited")
    sims.genesys.edit_contact(genesys_ids[0], {"lastName": "Edited"})
    both = probe_changes(services)
    assert [reason.split(" contacts")[0] for reason in both.reasons] == ["Salesforce"]
    assert set(both.api_calls) == {"salesforce"}  # Genesys is not asked once the CRM had a change
    synced(services)
    assert not probe_changes(services).run_due

    tomorrow = datetime.now(UTC) + timedelta(hours=25)
    [due] = probe_changes(services, now=tomorrow).reasons
    assert due.startswith("the Genesys full read is due (the last full read was")
    every_run = dataclasses.replace(services, settings=dataclasses.replace(services.settings, genesys_full_read_h=0))
    assert not probe_changes(every_run, now=tomorrow).run_due  # every run reads everything: no reason of its own


@pytest.mark.usefixtures("quick_exports")
def test_a_side_that_cannot_be_asked_is_reported_and_requests_no_run(
    sims: RunningSimulators, services: Services
) -> None:
    sims.salesforce.load_contacts(CRM_PEOPLE[:1])
    synced(services)
    sims.genesys.set_faults([{"kind": "failed", "path": "/contacts/exports$", "method": "POST", "count": 1}])
    probe = probe_changes(services)
    assert not probe.run_due
    [error] = probe.errors
    assert error.startswith("Genesys could not be asked:") and "FAILED" in error


def test_the_probe_interval_is_a_setting_from_30_to_60_seconds() -> None:
    assert PipelineSettings.from_env({}).change_probe_s == 45.0
    assert PipelineSettings.from_env({"CONTACT_SYNC_CHANGE_PROBE_S": "30"}).change_probe_s == 30.0
    for bad in ("10", "61", "soon"):
        with pytest.raises(SettingsError, match="CONTACT_SYNC_CHANGE_PROBE_S must be a number from 30 to 60"):
            PipelineSettings.from_env({"CONTACT_SYNC_CHANGE_PROBE_S": bad})
