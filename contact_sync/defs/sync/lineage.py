"""Column lineage from the policy: where each CRM field goes, through the canonical frames and the plan, to the
Genesys field it is written to (and back for fields synced both ways), as `dagster/column_lineage` metadata, so the
UI's lineage view answers "where does `Phone` go?".

The two services are external assets of their own (`crm_source_contacts`, `genesys_source_contacts`: the records as
their APIs serve them, in their own field names), upstream of the snapshots that read them."""

from typing import Final

import dagster as dg

from contact_sync.crms.plugin import CrmPlugin
from contact_sync.sync.policy import SyncPolicy

CRM_SOURCE: Final = dg.AssetKey("crm_source_contacts")
GENESYS_SOURCE: Final = dg.AssetKey("genesys_source_contacts")
CRM_CONTACTS: Final = dg.AssetKey("crm_contacts")
GENESYS_CONTACTS: Final = dg.AssetKey("genesys_contacts")
RECONCILIATION: Final = dg.AssetKey("reconciliation")
GENESYS_ID_FIELD: Final = "id"


def _dep(asset: dg.AssetKey, column: str) -> dg.TableColumnDep:
    return dg.TableColumnDep(asset_key=asset, column_name=column)


def _schema(columns: dict[str, str]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, "string", description=text) for name, text in columns.items()])


def source_specs(policy: SyncPolicy, plugin: CrmPlugin) -> list[dg.AssetSpec]:
    """The CRM's and Genesys's contact records as external assets, with the columns the policy reads and writes."""
    crm_columns = {plugin.link_field: "The record id (the link to Genesys)."}
    crm_columns |= {r.crm_fields[plugin.kind]: f"Canonical {r.name}" for r in policy.fields_for(plugin.kind)}
    genesys_columns = {GENESYS_ID_FIELD: "The external contact id.", "externalIds": "The CRM ids it is linked to."}
    genesys_columns |= {r.genesys_path: f"Canonical {r.name}" for r in policy.fields_for(plugin.kind)}
    return [
        dg.AssetSpec(
            CRM_SOURCE,
            group_name="sources",
            kinds={plugin.asset_kind},
            description=f"{plugin.label} contacts as its API serves them (its own field names); read by crm_contacts, "
            "written by crm_writes.",
            metadata={"dagster/column_schema": _schema(crm_columns)},
        ),
        dg.AssetSpec(
            GENESYS_SOURCE,
            group_name="sources",
            kinds={"genesys"},
            description="Genesys Cloud external contacts as its API serves them; read by genesys_contacts, written by "
            "genesys_writes.",
            metadata={"dagster/column_schema": _schema(genesys_columns)},
        ),
    ]


def column_lineage(policy: SyncPolicy, plugin: CrmPlugin) -> dict[str, dict[str, object]]:
    """Asset name -> the column schema (where the asset has no Pandera one) and column lineage metadata."""
    rules = policy.fields_for(plugin.kind)
    to_genesys = [r for r in rules if r.to_genesys]
    to_crm = [r for r in rules if r.to_crm]
    canonical = {r.name: f"{plugin.label} {r.crm_fields[plugin.kind]} / Genesys {r.genesys_path}" for r in rules}

    def lineage(deps: dict[str, list[dg.TableColumnDep]]) -> dg.TableColumnLineage:
        return dg.TableColumnLineage(deps_by_column=deps)

    return {
        "crm_contacts": {
            "dagster/column_schema": _schema({"record_id": "The CRM id.", **canonical}),
            "dagster/column_lineage": lineage(
                {
                    "record_id": [_dep(CRM_SOURCE, plugin.link_field)],
                    **{r.name: [_dep(CRM_SOURCE, r.crm_fields[plugin.kind])] for r in rules},
                }
            ),
        },
        "genesys_contacts": {
            "dagster/column_schema": _schema(
                {"record_id": "The Genesys id.", "crm_id": "The linked CRM id (externalIds).", **canonical}
            ),
            "dagster/column_lineage": lineage(
                {
                    "record_id": [_dep(GENESYS_SOURCE, GENESYS_ID_FIELD)],
                    "crm_id": [_dep(GENESYS_SOURCE, "externalIds")],
                    **{r.name: [_dep(GENESYS_SOURCE, r.genesys_path)] for r in rules},
                }
            ),
        },
        "reconciliation": {
            "dagster/column_lineage": lineage(
                {
                    "crm_id": [_dep(CRM_CONTACTS, "record_id")],
                    "genesys_id": [_dep(GENESYS_CONTACTS, "record_id")],
                    "crm_value": [_dep(CRM_CONTACTS, r.name) for r in rules],
                    "genesys_value": [_dep(GENESYS_CONTACTS, r.name) for r in rules],
                    "new_value": [
                        *(_dep(CRM_CONTACTS, r.name) for r in to_genesys),
                        *(_dep(GENESYS_CONTACTS, r.name) for r in to_crm),
                    ],
                }
            ),
        },
        "genesys_writes": {
            "dagster/column_schema": _schema(
                {
                    r.genesys_path: f"Canonical {r.name}, from {plugin.label} {r.crm_fields[plugin.kind]}"
                    for r in to_genesys
                }
            ),
            "dagster/column_lineage": lineage(
                {r.genesys_path: [_dep(CRM_CONTACTS, r.name), _dep(RECONCILIATION, "new_value")] for r in to_genesys}
            ),
        },
        "crm_writes": {
            "dagster/column_schema": _schema(
                {r.crm_fields[plugin.kind]: f"Canonical {r.name}, from Genesys {r.genesys_path}" for r in to_crm}
            ),
            "dagster/column_lineage": lineage(
                {
                    r.crm_fields[plugin.kind]: [_dep(GENESYS_CONTACTS, r.name), _dep(RECONCILIATION, "new_value")]
                    for r in to_crm
                }
            ),
        },
    }


def with_column_lineage(
    assets: list[dg.AssetsDefinition], policy: SyncPolicy, plugin: CrmPlugin
) -> list[dg.AssetsDefinition]:
    """The assets with the policy's column schemas and lineage in their metadata."""
    extra = column_lineage(policy, plugin)

    def described(spec: dg.AssetSpec) -> dg.AssetSpec:
        added = extra.get(spec.key.to_user_string())
        return spec.merge_attributes(metadata=added) if added else spec

    return list(dg.map_asset_specs(described, assets))


def field_lineage_markdown(policy: SyncPolicy, plugin: CrmPlugin) -> str:
    """Where each field goes, as a table a person reads on the asset page (the UI draws column lineage graphs only
    in Dagster+; the open-source UI shows this table and the metadata's `dagster/column_lineage`)."""
    lines = [
        f"| {plugin.label} field | canonical | Genesys field | flows | conflict policy |",
        "|---|---|---|---|---|",
    ]
    for rule in policy.fields_for(plugin.kind):
        crm_field = rule.crm_fields[plugin.kind]
        flows = []
        if rule.to_genesys:
            flows.append(
                f"{crm_field} → crm_contacts.{rule.name} → reconciliation → genesys_writes.{rule.genesys_path}"
            )
        if rule.to_crm:
            flows.append(
                f"{rule.genesys_path} → genesys_contacts.{rule.name} → reconciliation → crm_writes.{crm_field} "
                "(bidirectional runs)"
            )
        lines.append(
            f"| `{crm_field}` | `{rule.name}` | `{rule.genesys_path}` | {'<br>'.join(flows)} | {rule.conflict} |"
        )
    return "\n".join(lines)


def run_lineage_metadata(asset: str, policy: SyncPolicy, plugin: CrmPlugin) -> dict[str, object]:
    """The column lineage (and, for the plan, the field table) to put in a materialization's metadata: Dagster reads
    column lineage from the latest materialization, and the policy in effect is the run's."""
    metadata = {k: v for k, v in column_lineage(policy, plugin).get(asset, {}).items() if k == "dagster/column_lineage"}
    if asset == "reconciliation":
        metadata["field_lineage"] = dg.MetadataValue.md(field_lineage_markdown(policy, plugin))
    return metadata
