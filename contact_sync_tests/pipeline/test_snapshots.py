"""The CRM mirror refreshed incrementally, the watermark stored only after it, and the Genesys snapshot."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.genesys_snapshot import refresh_genesys_snapshot
from contact_sync.pipeline.services import Services, open_services
from contact_sync.pipeline.snapshots import Mirror, refresh_crm_snapshot, watermark_name
from contact_sync.simulators import RunningSimulators


def test_mirror_refreshes_incrementally_and_keeps_deleted_and_merged_rows(
    sims: RunningSimulators, services: Services
) -> None:
    a, b, c = sims.salesforce.load_contacts([{"LastName": "A"}, {"LastName": "B"}, {"LastName": "C"}])
    first = refresh_crm_snapshot(services.crm, services.ledger, services.settings.data_dir)
    assert first.info["read"] == "full" and len(first.contacts) == 3
    assert services.ledger.watermark(watermark_name("salesforce")) == first.info["watermark_after"]

    sims.salesforce.edit_contact(a, LastName="A2")
    sims.salesforce.delete_contact(b)
    sims.salesforce.merge(a, [c])
    second = refresh_crm_snapshot(services.crm, services.ledger, services.settings.data_dir)
    assert second.info["read"] == "incremental"
    assert second.info["records_read"] < 3 + 3  # only the overlap window and the changes, not a second full load
    rows = second.contacts.set_index("record_id")
    assert rows.loc[a, "last_name"] == "A2" and not rows.loc[a, "is_deleted"]
    assert rows.loc[b, "is_deleted"]
    assert rows.loc[c, "is_deleted"] and rows.loc[c, "merged_into"] == a
    assert len(rows) == 3
    stored = Mirror(services.settings.data_dir, "salesforce").load()
    assert stored is not None and len(stored[0]) == 3


def test_a_dry_refresh_moves_neither_the_mirror_nor_the_watermark(sims: RunningSimulators, services: Services) -> None:
    sims.salesforce.load_contacts([{"LastName": "Dry"}])
    snapshot = refresh_crm_snapshot(services.crm, services.ledger, services.settings.data_dir, persist=False)
    assert len(snapshot.contacts) == 1
    assert not Mirror(services.settings.data_dir, "salesforce").exists()
    assert services.ledger.watermark(watermark_name("salesforce")) is None


def test_genesys_snapshot_maps_links_and_organizations(sims: RunningSimulators, services: Services) -> None:
    [account] = sims.salesforce.load_accounts([{"Name": "Acme"}])
    [crm_id] = sims.salesforce.load_contacts([{"LastName": "Linked", "AccountId": account}])
    source = services.genesys.ensure_external_source("Salesforce")
    orgs = services.genesys.ensure_organizations({account: "Acme"}, source)
    [gid] = sims.genesys.load_contacts(
        [
            {
                "lastName": "Linked",
                "workPhone": {"display": "(415) 555-0101"},
                "externalOrganization": {"id": orgs[account]},
                "externalIds": [{"externalSource": {"id": source["id"]}, "value": crm_id}],
            }
        ]
    )
    snapshot = refresh_genesys_snapshot(services.genesys_adapter, services.settings)
    row = snapshot.contacts.set_index("record_id").loc[gid]
    assert row["crm_id"] == crm_id and row["account_id"] == account and row["phone_e164"] == "+14155550101"
    assert snapshot.stamp_map()[gid] == sims.genesys.contact(gid)["modifyDate"]


def test_a_full_re_read_marks_mirrored_contacts_missing_from_it_deleted(
    sims: RunningSimulators, tmp_path: Path
) -> None:
    env = {**sims.env, "CONTACT_SYNC_DATA_DIR": str(tmp_path / "data"), "CONTACT_SYNC_CRM": "dynamics"}
    with open_services(PipelineSettings.from_env(env), env) as services:
        kept, gone = sims.dynamics.load_contacts([{"lastname": "Kept"}, {"lastname": "Gone"}])
        refresh_crm_snapshot(services.crm, services.ledger, services.settings.data_dir)
        sims.dynamics.delete_contact(gone)
        # Eight days on, the stored delta token has expired: the connector reads every contact again, and the deleted
        # one is simply not there (no $deletedEntity row tells of it).
        later = datetime.now(UTC) + timedelta(days=8)
        sims.dynamics.set_clock(lambda: later)
        second = refresh_crm_snapshot(services.crm, services.ledger, services.settings.data_dir)
    assert services.crm.last_read_full  # type: ignore[attr-defined]
    rows = second.contacts.set_index("record_id")
    assert rows.loc[gone, "is_deleted"] and not rows.loc[kept, "is_deleted"]
