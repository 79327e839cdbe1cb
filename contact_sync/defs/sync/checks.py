"""The gate in front of every write: a blocking check that the cohort's plan is well-formed before anything is sent.

It validates the reconciliation frame against the Pandera model `ReconciliationRow` and the plan's invariants: every
row that writes to a side names a record of that side's snapshot, no record is created twice, and a cohort's plan
touches only the cohort. A failure stops the run before `genesys_writes` and `crm_writes`.
"""

from typing import Any

import dagster as dg
import pandera.errors

from contact_sync.defs.sync.assets import reconciliation
from contact_sync.defs.sync.partitions import rollout_cohort
from contact_sync.ledger import Ledger
from contact_sync.pipeline.cohorts import cohort_members
from contact_sync.pipeline.snapshots import Snapshot
from contact_sync.sync.plan import ReconciliationRow, SyncPlan


def plan_problems(plan: SyncPlan, crm: Snapshot, genesys: Snapshot, cohort: list[str] | None) -> list[str]:
    """What is wrong with a plan, in words (empty when it may be written)."""
    problems: list[str] = []
    try:
        ReconciliationRow.validate(plan.reconciliation, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        problems.append(
            f"reconciliation frame fails ReconciliationRow: {len(cases)} failure case(s), e.g. "
            f"{cases.head(3)[['column', 'check', 'failure_case']].to_dict('records')}"
        )
    except pandera.errors.SchemaError as exc:
        problems.append(f"reconciliation frame fails ReconciliationRow: {exc}")
    recon = plan.reconciliation
    genesys_ids = set(genesys.contacts["record_id"].astype(str))
    crm_ids = set(crm.contacts["record_id"].astype(str))
    to_genesys = recon[recon["action"].isin(["write_genesys", "write_both", "delete_genesys"])]
    unknown = set(to_genesys["genesys_id"].dropna().astype(str)) - genesys_ids
    if unknown:
        problems.append(
            f"{len(unknown)} Genesys write(s) target contacts not in the snapshot, e.g. {sorted(unknown)[:3]}"
        )
    to_crm = recon[recon["action"].isin(["write_crm", "write_both"])]
    unknown = set(to_crm["crm_id"].dropna().astype(str)) - crm_ids
    if unknown:
        problems.append(f"{len(unknown)} CRM write(s) target records not in the snapshot, e.g. {sorted(unknown)[:3]}")
    twice = plan.genesys_creates["crm_id"][plan.genesys_creates["crm_id"].duplicated()]
    if len(twice):
        problems.append(f"{len(twice)} CRM record(s) would be created twice in Genesys, e.g. {list(twice[:3])}")
    if cohort is not None:
        outside = set(recon["crm_id"].dropna().astype(str)) - set(cohort)
        if outside:
            problems.append(
                f"{len(outside)} CRM record(s) outside the cohort are in its plan, e.g. {sorted(outside)[:3]}"
            )
    return problems


@dg.asset_check(
    asset=reconciliation,
    blocking=True,
    partitions_def=rollout_cohort,
    additional_ins={"crm_contacts": dg.AssetIn("crm_contacts"), "genesys_contacts": dg.AssetIn("genesys_contacts")},
    description="Blocks every write unless the plan is valid (Pandera ReconciliationRow, targets exist, no double "
    "creates, cohort respected).",
)
def reconciliation_is_valid(
    context: dg.AssetCheckExecutionContext,
    ledger: dg.ResourceParam[Ledger],
    reconciliation: SyncPlan,
    crm_contacts: Snapshot,
    genesys_contacts: Snapshot,
) -> dg.AssetCheckResult:
    cohort = cohort_members(ledger, context.partition_key) if context.has_partition_key else None
    problems = plan_problems(reconciliation, crm_contacts, genesys_contacts, cohort)
    metadata: dict[str, Any] = {"rows": len(reconciliation.reconciliation), "problems": len(problems)}
    if problems:
        metadata["details"] = dg.MetadataValue.md("\n".join(f"- {p}" for p in problems))
    return dg.AssetCheckResult(passed=not problems, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)
