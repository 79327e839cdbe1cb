"""Tests of the Dynamics CRM port against the Dynamics simulator over HTTP: canonical reads with ETag stamps, canonical
creates and updates (the If-Match stamp protects a concurrent edit), deletes through the delta."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contact_sync.connectors.http import RetryPolicy
from contact_sync.crms import build_crm_adapter
from contact_sync.crms.dynamics import PLUGIN
from contact_sync.crms.dynamics.connector import DynamicsConnector
from contact_sync.crms.dynamics.settings import DynamicsSettings
from contact_sync.crms.port import ConnectorAdapter
from contact_sync.settings import SettingsError
from contact_sync.simulators import serve_simulator
from contact_sync.simulators.dynamics import DynamicsSimulator
from contact_sync.sync.policy import load_policy


@pytest.fixture
def sim() -> Iterator[DynamicsSimulator]:
    with serve_simulator(DynamicsSimulator()) as served:
        yield served  # type: ignore[misc]


def test_the_port_reads_canonical_rows_and_writes_with_the_snapshot_etag(sim: DynamicsSimulator) -> None:
    (account,) = sim.load_accounts([{"name": "Acme"}])
    ids = sim.load_contacts(
        [
            {"firstname": "Ann", "lastname": "Lee", "emailaddress1": "ann@example.com", "parentcustomerid": account},
            {"firstname": "Bo", "lastname": "Park", "telephone1": "+1 317 555 0100"},
        ]
    )
    connector = DynamicsConnector(DynamicsSettings.from_env(sim.env()), retry=RetryPolicy(base_delay=0.01))
    adapter = ConnectorAdapter("dynamics", connector, load_policy(), PLUGIN.to_canonical, PLUGIN.to_api)
    assert adapter.external_source == "Dynamics 365"
    try:
        read = adapter.read_changes(None)
        frame, stamps, rejected = adapter.to_canonical(read.records)
        assert rejected.empty
        rows = frame.set_index("record_id")
        assert rows.loc[ids[0], "email"] == "ann@example.com" and rows.loc[ids[0], "account_id"] == account
        assert rows.loc[ids[1], "last_name"] == "Park"
        etags = dict(zip(stamps["record_id"], stamps["stamp"], strict=True))
        assert etags[ids[0]] == sim.contact(ids[0])["@odata.etag"]  # type: ignore[index]
        assert adapter.account_names([account]) == {account: "Acme"}

        sim.edit_contact(ids[1], firstname="Edited in Dynamics")
        report = adapter.update({ids[0]: {"first_name": "Annie"}, ids[1]: {"first_name": "From Genesys"}}, etags)
        assert {o.key: o.status for o in report.outcomes} == {ids[0]: "updated", ids[1]: "changed_since_read"}
        assert sim.contact(ids[1])["firstname"] == "Edited in Dynamics"  # type: ignore[index]

        created = adapter.create([("g-1", {"first_name": "Cy", "last_name": "New", "account_id": account})])
        new_id = created.outcomes[0].record_id
        assert created.outcomes[0].status == "created"
        assert sim.contact(new_id or "")["_parentcustomerid_value"] == account  # type: ignore[index]

        assert adapter.delete([ids[1]]).outcomes[0].status == "deleted"
        delta = adapter.read_changes(read.watermark)
        frame, stamps, _ = adapter.to_canonical(delta.records)
        deleted = frame.set_index("record_id")["is_deleted"]
        assert bool(deleted[ids[1]]) and not bool(deleted[ids[0]]) and not bool(deleted[new_id])
        assert ids[1] not in set(stamps["record_id"])
        assert adapter.api_calls()["POST /api/data/v9.2/$batch"] == 1  # both updates, each with its If-Match
    finally:
        adapter.close()


def test_the_registry_entry_builds_from_the_environment(sim: DynamicsSimulator) -> None:
    adapter = build_crm_adapter("dynamics", sim.env(), load_policy())
    try:
        assert isinstance(adapter, ConnectorAdapter) and adapter.kind == "dynamics"
        assert adapter.read_changes(None).records == []
    finally:
        adapter.close()


def test_missing_settings_are_refused_before_any_call() -> None:
    with pytest.raises(SettingsError, match="DYNAMICS_URL is not set"):
        build_crm_adapter("dynamics", {}, load_policy())
