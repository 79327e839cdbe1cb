"""Each sync asset names the systems it talks to (the `crm`, `genesys` and `ledger` resources); the resources say
which CRM and which deployment they are, and one run opens its services once however many assets use them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from contact_sync.crms.port import CrmAdapter
from contact_sync.defs.resources import ContactSyncResource, sync_resources
from contact_sync.defs.sync.assets import SYNC_ASSETS
from contact_sync.ledger import Ledger
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.genesys_adapter import GenesysAdapter

SYSTEMS = {"crm", "genesys", "ledger"}


def test_each_asset_names_the_systems_it_talks_to() -> None:
    used = {asset.key.to_user_string(): set(asset.required_resource_keys) & SYSTEMS for asset in SYNC_ASSETS}
    assert used == {
        "crm_contacts": {"crm", "ledger"},
        "genesys_contacts": {"genesys"},
        "contact_matches": set(),
        "reconciliation": {"ledger"},
        "genesys_writes": {"genesys", "ledger"},
        "crm_writes": {"crm", "ledger"},
        "conflict_report": {"ledger"},
        "sync_report": {"ledger"},
        "sync_health": {"ledger"},
    }


@pytest.mark.parametrize(
    ("env", "crm", "where"),
    [
        ({"CONTACT_SYNC_CRM": "hubspot", "CONTACT_SYNC_DEPLOYMENT": "simulated"}, "HubSpot", "the built-in simulator"),
        ({"CONTACT_SYNC_CRM": "dynamics", "CONTACT_SYNC_DEPLOYMENT": "live"}, "Dynamics 365", "the live service"),
        ({"CONTACT_SYNC_CRM": "salesforce"}, "Salesforce", "the built-in simulator"),
    ],
)
def test_the_system_resources_say_which_crm_and_which_deployment(
    tmp_path: Path, env: dict[str, str], crm: str, where: str
) -> None:
    env = {**env, "CONTACT_SYNC_DATA_DIR": str(tmp_path)}
    resources = sync_resources(PipelineSettings.from_env(env), env)
    assert resources["crm"].description.startswith(f"{crm} ({where})")
    assert f"({where})" in resources["genesys"].description
    assert "sqlite" in resources["ledger"].description


def test_a_run_opens_its_services_once_for_every_system_resource(sync_env: dict[str, str]) -> None:
    seen: list[tuple[int, ...]] = []

    @dg.asset
    def first(
        contact_sync: ContactSyncResource,
        crm: dg.ResourceParam[CrmAdapter],
        genesys: dg.ResourceParam[GenesysAdapter],
        ledger: dg.ResourceParam[Ledger],
    ) -> int:
        services = contact_sync.services
        assert (crm, genesys, ledger) == (services.crm, services.genesys_adapter, services.ledger)
        seen.append((id(services), id(crm), id(genesys), id(ledger)))
        return 1

    @dg.asset
    def second(contact_sync: ContactSyncResource, crm: dg.ResourceParam[CrmAdapter], first: int) -> int:
        seen.append((id(contact_sync.services), id(crm)))
        return first

    result = dg.materialize([first, second], resources=sync_resources(PipelineSettings.from_env()))
    assert result.success
    assert seen[0][:2] == seen[1]
