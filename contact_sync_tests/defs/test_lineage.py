"""Column lineage from the policy: the code location's lineage says where each CRM field goes."""

from __future__ import annotations

import dataclasses
import warnings

import dagster as dg

from contact_sync.crms import crm_plugin
from contact_sync.defs.sync.lineage import column_lineage, source_specs
from contact_sync.ledger import Ledger
from contact_sync.simulators import RunningSimulators
from contact_sync.sync.policy import load_policy
from contact_sync_tests.defs.conftest import PEOPLE, run_job


def _upstream(graph: dg.AssetGraph | object, key: str, column: str) -> set[tuple[str, str]]:
    lineage = graph.get(dg.AssetKey(key)).metadata["dagster/column_lineage"]  # type: ignore[attr-defined]
    return {(d.asset_key.to_user_string(), d.column_name) for d in lineage.deps_by_column.get(column, [])}


def test_the_code_location_traces_phone_from_salesforce_to_genesys_and_back() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from contact_sync.definitions import defs
    graph = defs.resolve_asset_graph()
    assert _upstream(graph, "crm_contacts", "phone") == {("crm_source_contacts", "Phone")}
    assert ("crm_contacts", "phone") in _upstream(graph, "reconciliation", "crm_value")
    assert _upstream(graph, "genesys_writes", "workPhone") == {
        ("crm_contacts", "phone"),
        ("reconciliation", "new_value"),
    }
    # phone is synced both ways: Genesys's workPhone comes back to the CRM's Phone.
    assert _upstream(graph, "genesys_contacts", "phone") == {("genesys_source_contacts", "workPhone")}
    assert ("genesys_contacts", "phone") in _upstream(graph, "crm_writes", "Phone")
    # Every column a lineage names exists upstream, and the upstream asset is a parent in the graph.
    for node in graph.asset_nodes:
        lineage = node.metadata.get("dagster/column_lineage")
        for deps in lineage.deps_by_column.values() if lineage else []:
            for dep in deps:
                assert dep.asset_key in node.parent_keys, (node.key, dep.asset_key)
                schema = graph.get(dep.asset_key).metadata.get("dagster/column_schema")
                assert dep.column_name in {c.name for c in schema.columns}, (node.key, dep)


def test_lineage_follows_the_policy_and_the_crm() -> None:
    policy = load_policy()
    one_way_phone = dataclasses.replace(
        policy, fields=tuple(dataclasses.replace(r, direction="crm_to_genesys") if r.name == "phone" else r
                             for r in policy.fields)
    )  # fmt: skip
    dynamics = crm_plugin("dynamics")
    lineage = column_lineage(one_way_phone, dynamics)
    assert set(lineage["crm_contacts"]["dagster/column_lineage"].deps_by_column["phone"]) == {  # type: ignore[attr-defined]
        dg.TableColumnDep(asset_key=dg.AssetKey("crm_source_contacts"), column_name="telephone1")
    }
    assert "telephone1" not in lineage["crm_writes"]["dagster/column_lineage"].deps_by_column  # type: ignore[attr-defined]
    assert "firstname" in lineage["crm_writes"]["dagster/column_lineage"].deps_by_column  # type: ignore[attr-defined]
    # Dynamics maps no lead score or tags: neither appears on either side.
    [crm_source, genesys_source] = source_specs(one_way_phone, dynamics)
    assert "LeadScore__c" not in {c.name for c in crm_source.metadata["dagster/column_schema"].columns}
    assert "customFields.leadScore" not in {c.name for c in genesys_source.metadata["dagster/column_schema"].columns}
    assert crm_source.kinds == {dynamics.asset_kind}


def test_each_run_records_the_lineage_of_its_policy_in_its_materializations(
    sims: RunningSimulators, sync_env: dict[str, str], sync_ledger: Ledger, dagster_instance: dg.DagsterInstance
) -> None:
    sims.salesforce.load_contacts(PEOPLE[:1])
    result, _ = run_job(dagster_instance)
    assert result.success
    latest = dagster_instance.get_latest_materialization_event
    for asset, column in (("crm_contacts", "phone"), ("reconciliation", "crm_value"), ("genesys_writes", "workPhone")):
        event = latest(dg.AssetKey(asset))
        assert event is not None and event.run_id == result.run_id
        lineage = event.asset_materialization.metadata["dagster/column_lineage"].value  # type: ignore[union-attr]
        assert column in lineage.deps_by_column, asset
    plan = latest(dg.AssetKey("reconciliation")).asset_materialization  # type: ignore[union-attr]
    table = plan.metadata["field_lineage"].value  # type: ignore[union-attr]
    assert "| `Phone` | `phone` | `workPhone` |" in table
    assert "Phone → crm_contacts.phone → reconciliation → genesys_writes.workPhone" in table
    assert "workPhone → genesys_contacts.phone → reconciliation → crm_writes.Phone" in table
    assert "crm_writes.AccountId" not in table  # account_id is synced one way
