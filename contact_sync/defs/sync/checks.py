"""The asset checks of a sync run.

- `reconciliation_is_valid`, the gate in front of every write: it validates the reconciliation frame against the
  Pandera model `ReconciliationRow` and the plan's invariants (every row that writes to a side names a record of that
  side's snapshot, no record is created twice, a cohort's plan touches only the cohort). A failure stops the run
  before `genesys_writes` and `crm_writes`.
- `errors_within_limit`, on the run report: red when the run had more failed records than the guide's 10, with the
  failed records in its metadata.
- `no_unexplained_blanks`, `every_crm_contact_has_a_counterpart`, `no_genesys_contact_linked_twice`: the loss
  guards, on the run report (one step, `loss_guards`): red when the run blanked a field on a side with no reason,
  left a CRM contact in scope without a Genesys counterpart (linked, created, held or in review), or two links name
  one Genesys contact; each lists the records (`contact_sync.sync.loss`).
- `health_above_threshold`, on `sync_health`: red when the health score of the last 10 runs is below
  `CONTACT_SYNC_HEALTH_THRESHOLD`, with the runs that pulled it down.

So the asset pages show what the alerts said.
"""

from collections.abc import Iterator
from typing import Any, Final

import dagster as dg
import pandas as pd
import pandera.errors

from contact_sync.defs.resources import ContactSyncResource
from contact_sync.defs.sync.assets import reconciliation, sync_health, sync_report
from contact_sync.defs.sync.partitions import rollout_cohort
from contact_sync.ledger import Ledger
from contact_sync.ledger.store import HEALTH_WINDOW
from contact_sync.pipeline.alerts import MAX_ERRORS
from contact_sync.pipeline.cohorts import cohort_members
from contact_sync.pipeline.snapshots import Snapshot
from contact_sync.pipeline.writes import WriteSummary
from contact_sync.sync.loss import crm_without_counterpart, genesys_linked_twice, unexplained_blanks
from contact_sync.sync.matching import MatchResult
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


@dg.asset_check(
    asset=sync_report,
    partitions_def=rollout_cohort,
    description=f"The run failed at most {MAX_ERRORS} records (the guide's threshold); the failed records are in the "
    "metadata.",
)
def errors_within_limit(sync_report: dict[str, Any]) -> dg.AssetCheckResult:
    errors = int(sync_report.get("errors") or 0)
    failures = sync_report.get("failures") or []
    metadata: dict[str, Any] = {"errors": errors, "error_limit": MAX_ERRORS}
    if errors > MAX_ERRORS:
        metadata["problem"] = f"{errors} records failed (more than {MAX_ERRORS})"
    if failures:
        lines = [f"- {f['system']} {f['record']}: {f['reason']}" for f in failures[:20]]
        metadata["failed_records"] = dg.MetadataValue.md("\n".join(lines))
    return dg.AssetCheckResult(passed=errors <= MAX_ERRORS, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)


LOSS_CHECKS: Final = {
    "no_unexplained_blanks": "No field was blanked on either side without a reason (a person cleared it on the "
    "winning side, or decided it) and an audit row.",
    "every_crm_contact_has_a_counterpart": "Every live CRM contact in the cohort ends the run linked to a Genesys "
    "contact, created, held for review, a duplicate of another record, rejected at the read, or failed and reported.",
    "no_genesys_contact_linked_twice": "No Genesys contact is named by two active links.",
}
LISTED: Final = 20
LOSS_CHECK_INPUTS: Final = ("reconciliation", "contact_matches", "crm_contacts", "genesys_writes", "crm_writes")


def _listing(frame: pd.DataFrame) -> dict[str, Any]:
    metadata: dict[str, Any] = {"records": len(frame)}
    if len(frame):
        metadata["listed"] = dg.MetadataValue.md(frame.head(LISTED).astype(str).to_markdown(index=False))
    return metadata


@dg.multi_asset_check(
    name="loss_guards",
    specs=[
        dg.AssetCheckSpec(
            name,
            asset=sync_report,
            description=text,
            partitions_def=rollout_cohort,
            additional_deps=LOSS_CHECK_INPUTS,
        )
        for name, text in LOSS_CHECKS.items()
    ],
    ins={name: dg.AssetIn(name) for name in LOSS_CHECK_INPUTS},
    description="The loss guards of a run, read from its plan, matches, writes and the ledger after its writes.",
)
def loss_guards(
    context: dg.AssetCheckExecutionContext,
    contact_sync: ContactSyncResource,
    ledger: dg.ResourceParam[Ledger],
    reconciliation: SyncPlan,
    contact_matches: MatchResult,
    crm_contacts: Snapshot,
    genesys_writes: WriteSummary,
    crm_writes: WriteSummary,
) -> Iterator[dg.AssetCheckResult]:
    kind = contact_sync.services.settings.crm
    run_id = context.run.run_id
    audit = ledger.audit_for_run(run_id)
    failed = {*genesys_writes.failed_ids, *crm_writes.failed_ids}
    blanks = unexplained_blanks(reconciliation.reconciliation, audit, kind, failed)

    contacts = crm_contacts.contacts
    in_scope = set(contacts.loc[~contacts["is_deleted"].astype(bool), "record_id"].astype(str))
    members = cohort_members(ledger, context.partition_key) if context.has_partition_key else None
    if members is not None:
        in_scope &= set(members)
    every_link = ledger.links()  # every CRM's: the ledger refuses a double link only within one
    links = every_link[every_link["crm_system"] == kind]
    unmatched = contact_matches.unmatched_crm
    held = unmatched["held"].astype(bool) | unmatched["duplicate_of"].notna()
    accounted = {
        *links["crm_id"].astype(str),
        *contact_matches.review["crm_id"].astype(str),
        *unmatched.loc[held, "crm_id"].astype(str),
        *contact_matches.ambiguous.loc[contact_matches.ambiguous["system"] == "crm", "record_id"].astype(str),
        *crm_contacts.rejected["record_id"].dropna().astype(str),
        *audit.loc[audit["reason"] == "created", "crm_id"].dropna().astype(str),  # a create still to confirm
        *failed,
    }
    orphans = crm_without_counterpart(in_scope, accounted)
    twice = genesys_linked_twice(every_link)

    for name, found in zip(LOSS_CHECKS, (blanks, orphans, twice), strict=True):
        yield dg.AssetCheckResult(
            asset_key=sync_report.key,
            check_name=name,
            passed=found.empty,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=_listing(found),
        )


@dg.asset_check(
    asset=sync_health,
    description=f"The health score of the last {HEALTH_WINDOW} runs is at or above CONTACT_SYNC_HEALTH_THRESHOLD; "
    "the runs that pulled it down are in the metadata.",
)
def health_above_threshold(
    contact_sync: ContactSyncResource, ledger: dg.ResourceParam[Ledger], sync_health: pd.DataFrame
) -> dg.AssetCheckResult:
    threshold = contact_sync.services.settings.health_threshold
    score = ledger.health_score()
    window = sync_health.head(HEALTH_WINDOW)
    low = window[window["run_score"] < threshold]
    metadata: dict[str, Any] = {
        "health_score": dg.MetadataValue.null() if score is None else round(score, 1),
        "health_threshold": threshold,
        "runs_below_threshold": len(low),
    }
    if score is not None and score < threshold:
        metadata["problem"] = f"health score {score:.1f} is below {threshold:g} (last {HEALTH_WINDOW} runs)"
    if len(low):
        columns = ["run_id", "cohort", "status", "errors", "duration_s", "run_score"]
        metadata["low_runs"] = dg.MetadataValue.md(low[columns].astype(str).to_markdown(index=False))
    passed = score is None or score >= threshold
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)


SYNC_CHECKS: Final = [reconciliation_is_valid, errors_within_limit, loss_guards, health_above_threshold]
