"""The sync assets. Each is a few lines of wiring around a `contact_sync.pipeline` step, plus the metadata that lets
the Dagster UI tell the run's story (row counts, created/updated/skipped/errors/conflicts, markdown previews)."""

import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Final

import dagster as dg
import dagster_pandera
import pandas as pd

from contact_sync.connectors.http import RetriesExhausted
from contact_sync.crms import crm_plugin
from contact_sync.crms.port import CrmAdapter
from contact_sync.defs.resources import ContactSyncResource
from contact_sync.defs.sync.lineage import run_lineage_metadata
from contact_sync.defs.sync.partitions import rollout_cohort
from contact_sync.ledger import Ledger
from contact_sync.pipeline import alerts, runs
from contact_sync.pipeline.cohorts import cohort_members
from contact_sync.pipeline.config import ALL_COHORT, PARTITION_TAG
from contact_sync.pipeline.genesys_adapter import GenesysAdapter
from contact_sync.pipeline.genesys_snapshot import (
    forget_genesys_contacts,
    refresh_genesys_snapshot,
    remember_genesys_organizations,
)
from contact_sync.pipeline.locks import pair_name, release_run_lock
from contact_sync.pipeline.planning import match_snapshots, plan_cohort
from contact_sync.pipeline.progress import ProgressEvent, progress_to
from contact_sync.pipeline.services import SIMULATOR_WARNING
from contact_sync.pipeline.snapshots import Snapshot, refresh_crm_snapshot
from contact_sync.pipeline.status import health_rows
from contact_sync.pipeline.writes import (
    WriteSummary,
    apply_to_crm,
    apply_to_genesys,
    planned_crm,
    planned_genesys,
)
from contact_sync.sync.matching import TRUSTED_EVIDENCE, MatchResult, duplicate_figures, unmatched_genesys_reasons
from contact_sync.sync.plan import ReconciliationRow, SyncPlan

MODE_TAG: Final = "contact_sync/mode"
CRM_KIND: Final = "crm"
"""The kind of the assets that talk to the CRM until `for_crm` names the configured one."""
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # beta API
    RECONCILIATION_COLUMNS: Final = dagster_pandera.pandera_schema_to_dagster_type(ReconciliationRow).metadata["schema"]
    """The Pandera model's columns as Dagster table schema metadata (shown on the asset page)."""
PREVIEW_ROWS: Final = 10
HEALTH_RUNS_SHOWN: Final = 20
DRY_RUN_REPORT: Final = dg.AssetSpec(
    "sync_dry_run_report",
    group_name="reports",
    kinds={"python"},
    description="What the last dry runs would have done (the run report of a run that wrote nothing). Its own asset, "
    "so dry runs are never the latest sync_report nor a point on its plots or on sync_health's.",
)
WRITE_RETRIES: Final = 3
WRITE_RETRY_WAIT_S: Final = 5.0


def run_mode(context: dg.AssetExecutionContext, sync: ContactSyncResource) -> str:
    """The run's mode: the job's tag (one job per mode), else the configured default."""
    return context.run.tags.get(MODE_TAG) or sync.services.settings.mode


def _run_start_time(context: dg.AssetExecutionContext) -> float | None:
    """When the run started (seconds since the epoch, from the instance's run record), None before it is known."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    return record.start_time if record is not None and record.start_time else None


def _preview(frame: pd.DataFrame, columns: list[str] | None = None) -> dg.MetadataValue:
    shown = frame[columns] if columns else frame
    if shown.empty:
        return dg.MetadataValue.md("_(none)_")
    return dg.MetadataValue.md(shown.head(PREVIEW_ROWS).astype(str).to_markdown(index=False))


def _log_read(context: dg.AssetExecutionContext, snapshot: Snapshot, label: str, sync: ContactSyncResource) -> None:
    """The read in the run's log: what an operator scanning the Runs page wants before the metadata."""
    if sync.services.simulated:
        context.log.warning(SIMULATOR_WARNING.format(state_dir=sync.services.settings.data_dir / "simulators"))
    read = snapshot.read_summary()
    why = f": {read['why']}" if read.get("why") else ""
    context.log.info(
        f"{label}: read {read['records']:,} records ({read['how']}{why}) in {snapshot.info.get('api_calls', 0)} API "
        f"calls; the snapshot holds {len(snapshot.contacts):,}, {len(snapshot.rejected):,} rejected"
    )


def _lineage(asset: str, sync: ContactSyncResource) -> dict[str, Any]:
    services = sync.services
    return run_lineage_metadata(asset, services.policy, crm_plugin(services.crm.kind))


def _snapshot_metadata(snapshot: Snapshot, sync: ContactSyncResource, asset: str) -> dict[str, Any]:
    contacts = snapshot.contacts
    meta: dict[str, Any] = {
        **_lineage(asset, sync),
        "dagster/row_count": len(contacts),
        "live": int((~contacts["is_deleted"]).sum()),
        "deleted_or_merged": int(contacts["is_deleted"].sum()),
        "rejected": len(snapshot.rejected),
        "rejected_records": _preview(snapshot.rejected, ["record_id", "crm_id", "reason"]),
        "simulated_services": sync.services.simulated,
        **{k if k == "read" else f"read_{k}": v for k, v in snapshot.info.items() if v is not None},
        "preview": _preview(
            contacts, ["record_id", "crm_id", "first_name", "last_name", "email", "phone", "modified_at"]
        ),
    }
    if sync.services.simulated:
        meta["WARNING"] = "BUILT-IN SIMULATORS, not real services (no CRM or Genesys credentials are set)"
    return meta


@dg.asset(
    group_name="snapshots",
    kinds={CRM_KIND, "pandas", "parquet"},
    deps=["crm_source_contacts"],
    description="Every CRM contact (deleted and merged ones flagged) as canonical rows; refreshed incrementally "
    "from the stored watermark into the mirror in the data folder.",
)
def crm_contacts(
    context: dg.AssetExecutionContext,
    contact_sync: ContactSyncResource,
    crm: dg.ResourceParam[CrmAdapter],
    ledger: dg.ResourceParam[Ledger],
) -> dg.Output[Snapshot]:
    data_dir = contact_sync.services.settings.data_dir
    snapshot = refresh_crm_snapshot(crm, ledger, data_dir, persist=not contact_sync.dry_run)
    _log_read(context, snapshot, crm_plugin(crm.kind).label, contact_sync)
    return dg.Output(snapshot, metadata=_snapshot_metadata(snapshot, contact_sync, "crm_contacts"))


@dg.asset(
    group_name="snapshots",
    kinds={"genesys", "pandas", "parquet"},
    deps=["genesys_source_contacts"],
    description="Every Genesys Cloud external contact as canonical rows, organizations mapped to CRM accounts; "
    "the mirror in the data folder is refreshed from a contacts export of what changed, with a full read (which finds "
    "deletes) daily, when the mirror is missing, or when an export fails.",
)
def genesys_contacts(
    context: dg.AssetExecutionContext, contact_sync: ContactSyncResource, genesys: dg.ResourceParam[GenesysAdapter]
) -> dg.Output[Snapshot]:
    snapshot = refresh_genesys_snapshot(
        genesys, contact_sync.services.settings, persist=not contact_sync.dry_run, full=contact_sync.full_genesys_read
    )
    _log_read(context, snapshot, "Genesys", contact_sync)
    return dg.Output(snapshot, metadata=_snapshot_metadata(snapshot, contact_sync, "genesys_contacts"))


@dg.asset(
    group_name="sync",
    kinds={"pandas"},
    description="Each CRM contact linked to at most one Genesys contact: stored links, accepted pairs and external "
    "ids first, then pairs proposed by email, phone or name + account and scored on all their evidence: linked, "
    "held in the match review queue (`contact-sync matches`), or kept apart; duplicates grouped the same way.",
)
def contact_matches(
    context: dg.AssetExecutionContext,
    contact_sync: ContactSyncResource,
    crm_contacts: Snapshot,
    genesys_contacts: Snapshot,
) -> dg.Output[MatchResult]:
    services = contact_sync.services
    cohort = context.run.tags.get(PARTITION_TAG) or ALL_COHORT
    mode = run_mode(context, contact_sync)
    match = match_snapshots(services, crm_contacts, genesys_contacts, mode, cohort, full=contact_sync.full_decision)
    scope = match.scope
    if scope is not None:
        how = f"{scope.how} ({scope.why})" if scope.why else scope.how
        context.log.info(
            f"deciding {scope.records:,} of {len(crm_contacts.contacts) + len(genesys_contacts.contacts):,} records "
            f"for cohort {cohort}: {how}, from {scope.seeds:,} changed or unsettled"
        )
    queued = 0
    if not contact_sync.dry_run:
        queued = runs.record_match_reviews(
            services, match, crm_contacts.contacts, genesys_contacts.contacts, context.run.run_id
        )
    counts = match.matches["rule"].value_counts().to_dict()
    reasons = unmatched_genesys_reasons(match.unmatched_genesys)
    lone_genesys = match.unmatched_genesys.assign(reason=reasons.fillna("only in Genesys"))
    scored = match.matches[~match.matches["rule"].isin(list(TRUSTED_EVIDENCE))]
    return dg.Output(
        match,
        metadata={
            "dagster/row_count": len(match.matches),
            "decided": scope.how if scope is not None else "full",
            "records_matched_this_run": scope.records if scope is not None else len(crm_contacts.contacts),
            "linked": len(match.matches),
            "linked_by_score": len(scored),
            "held_for_review": len(match.review),
            "review_queue_recorded": queued,
            "review_reasons": dg.MetadataValue.json(
                {str(k): int(v) for k, v in match.review["reason"].value_counts().items()}
            ),
            "kept_apart": int(match.kept_apart["pairs"].sum()),
            "kept_apart_reasons": dg.MetadataValue.json(
                {str(r): int(n) for r, n in zip(match.kept_apart["reason"], match.kept_apart["pairs"], strict=True)}
            ),
            "keys_too_common_to_propose": len(match.shared_keys),
            **{f"matched_by_{rule}": int(n) for rule, n in counts.items()},
            "review_queue": _preview(match.review, ["evidence", "score", "reason", "crm_id", "genesys_id"]),
            "lowest_scoring_links": _preview(
                scored.nsmallest(10, "score"), ["crm_id", "genesys_id", "rule", "score", "evidence"]
            ),
            "unmatched_crm": len(match.unmatched_crm),
            "unmatched_genesys": len(match.unmatched_genesys),
            "unmatched_genesys_only_in_genesys": int(reasons.isna().sum()),
            "ambiguous_records": len(match.ambiguous),
            **duplicate_figures(match.crm_duplicates, "crm"),
            **duplicate_figures(match.genesys_duplicates, "genesys"),
            "rejected": len(match.rejected),
            "crm_duplicates": _preview(match.crm_duplicates),
            "ambiguous": _preview(match.ambiguous),
            "unmatched_genesys_reasons": _preview(lone_genesys, ["genesys_id", "reason"]),
        },
    )


@dg.asset(
    group_name="sync",
    kinds={"pandas", "pandera"},
    partitions_def=rollout_cohort,
    metadata={"dagster/column_schema": RECONCILIATION_COLUMNS.schema},
    description="One row per (link, field) of the cohort: base, CRM and Genesys values, who changed, conflict, "
    "policy, winner and action (Pandera model ReconciliationRow), and the write plan derived from it.",
)
def reconciliation(
    context: dg.AssetExecutionContext,
    contact_sync: ContactSyncResource,
    ledger: dg.ResourceParam[Ledger],
    crm_contacts: Snapshot,
    genesys_contacts: Snapshot,
    contact_matches: MatchResult,
) -> dg.Output[SyncPlan]:
    services = contact_sync.services
    mode, cohort = run_mode(context, contact_sync), context.partition_key
    if not contact_sync.dry_run:
        start_time = _run_start_time(context)
        started = datetime.fromtimestamp(start_time, tz=UTC) if start_time else None
        runs.begin_run(ledger, context.run.run_id, mode, cohort, started)
    plan = plan_cohort(
        services, crm_contacts, genesys_contacts, contact_matches, mode, cohort,  # type: ignore[arg-type]
        persist=not contact_sync.dry_run,
    )  # fmt: skip
    if not contact_sync.dry_run:
        runs.record_delete_reviews(services, plan, context.run.run_id, cohort_members(ledger, cohort))
    recon = plan.reconciliation
    summary = plan.summary()
    context.log.info(
        f"decided {plan.decided_records():,} records of cohort {cohort} ({mode}, "
        f"{plan.decision.get('how', 'full')}): "
        f"{summary['genesys_contacts_updated']:,} Genesys and {summary['crm_contacts_updated']:,} CRM contacts to "
        f"update, {summary['genesys_creates']:,} to create in Genesys, {summary['conflicts']:,} conflicts "
        f"({summary['conflicts_held']:,} held), {summary['baseline_differences']:,} baseline differences"
    )
    return dg.Output(
        plan,
        metadata={
            "dagster/row_count": len(recon),
            "mode": mode,
            "cohort": cohort,
            "dry_run": contact_sync.dry_run,
            **_lineage("reconciliation", contact_sync),
            **summary,
            "delete_guard": plan.delete_guard or "",
            "held_deletes": _preview(plan.refused_deletes),
            "kept_deletes": _preview(plan.kept_deletes),
            "actions": dg.MetadataValue.json({str(k): int(v) for k, v in recon["action"].value_counts().items()}),
            "writes_preview": _preview(
                recon[~recon["action"].isin(["none"])],
                ["crm_id", "genesys_id", "field", "crm_value", "genesys_value", "winner", "action", "new_value"],
            ),
        },
    )


def _retried_when_transient(
    write: Callable[[], WriteSummary], retry_number: int, warn: Callable[[str], None]
) -> WriteSummary:
    """Run a write step, retried (up to 3 times, waiting 5, 10, 20 s) only when a service was still failing after the
    connector's own retries (`RetriesExhausted`: 5xx, timeouts, dropped connections, 429s): a service down for a
    minute. Retrying is safe, the write steps are idempotent. Anything else (refused credentials, a ledger error, a
    bug) fails the step at once: a retry would only do it again, later."""
    try:
        return write()
    except RetriesExhausted as exc:
        wait = WRITE_RETRY_WAIT_S * 2**retry_number
        warn(f"a service is still failing ({exc}); retrying the step in {wait:.0f} s")
        raise dg.RetryRequested(max_retries=WRITE_RETRIES, seconds_to_wait=wait) from exc


def _log_progress(context: dg.AssetExecutionContext) -> Callable[[ProgressEvent], None]:
    """Progress reports as run log lines: one per written batch, so a long write shows how far it is."""

    def log(event: ProgressEvent) -> None:
        context.log.info(f"{event.label}: {event.message}")

    return log


def _log_writes(context: dg.AssetExecutionContext, summary: WriteSummary, label: str) -> None:
    verb = "would write" if summary.dry_run else "wrote"
    context.log.info(
        f"{label}: {verb} {summary.created:,} created, {summary.updated:,} updated, {summary.deleted:,} deleted, "
        f"{summary.unlinked:,} unlinked; {summary.errors:,} failed, {summary.changed_since_read:,} changed since the "
        f"read (left for the next run); {summary.api_calls} API calls"
    )
    if summary.errors:
        context.log.warning(f"{label}: {summary.errors} record(s) failed; see the failures metadata and the report")


def _write_metadata(summary: WriteSummary) -> dict[str, Any]:
    data = summary.as_dict()
    failures = pd.DataFrame(data.pop("failures"), columns=["key", "message"])
    return {**{k: v for k, v in data.items() if k != "system"}, "failures": _preview(failures)}


@dg.asset(
    group_name="writes",
    kinds={"genesys"},
    partitions_def=rollout_cohort,
    deps=["crm_contacts"],  # column lineage: what it writes comes from the CRM's fields
    description="Applies the plan to Genesys: creates (linked by externalIds), changed fields only, unlinks and "
    "deletes by policy; each written batch recorded in the ledger in one transaction.",
)
def genesys_writes(
    context: dg.AssetExecutionContext,
    contact_sync: ContactSyncResource,
    genesys: dg.ResourceParam[GenesysAdapter],
    ledger: dg.ResourceParam[Ledger],
    reconciliation: SyncPlan,
    genesys_contacts: Snapshot,
) -> dg.Output[WriteSummary]:
    if contact_sync.dry_run:
        summary = planned_genesys(reconciliation)
    else:
        with progress_to(_log_progress(context)):
            summary = _retried_when_transient(
                lambda: apply_to_genesys(genesys, ledger, reconciliation, genesys_contacts, context.run.run_id),
                context.retry_number,
                context.log.warning,
            )
        data_dir = contact_sync.services.settings.data_dir
        forget_genesys_contacts(data_dir, summary.deleted_ids)
        remember_genesys_organizations(data_dir, summary.organizations)
    _log_writes(context, summary, "Genesys")
    return dg.Output(summary, metadata={**_write_metadata(summary), **_lineage("genesys_writes", contact_sync)})


@dg.asset(
    group_name="writes",
    kinds={CRM_KIND},
    partitions_def=rollout_cohort,
    deps=["genesys_contacts"],  # column lineage: what it writes comes from the Genesys fields
    description="Applies the plan to the CRM (bidirectional mode only; nothing in one-way mode): changed fields "
    "guarded by the snapshot's SystemModstamp, recorded in the ledger batch by batch.",
)
def crm_writes(
    context: dg.AssetExecutionContext,
    contact_sync: ContactSyncResource,
    crm: dg.ResourceParam[CrmAdapter],
    ledger: dg.ResourceParam[Ledger],
    reconciliation: SyncPlan,
    crm_contacts: Snapshot,
    genesys_writes: WriteSummary,
) -> dg.Output[WriteSummary]:
    kind = crm.kind
    if run_mode(context, contact_sync) == "one_way":
        summary = WriteSummary(system=kind, dry_run=contact_sync.dry_run)
    elif contact_sync.dry_run:
        summary = planned_crm(reconciliation, kind)
    else:
        run_id, failed = context.run.run_id, genesys_writes.failed_ids
        with progress_to(_log_progress(context)):
            summary = _retried_when_transient(
                lambda: apply_to_crm(crm, ledger, reconciliation, crm_contacts, run_id, failed),
                context.retry_number,
                context.log.warning,
            )
    _log_writes(context, summary, crm_plugin(kind).label)
    return dg.Output(summary, metadata={**_write_metadata(summary), **_lineage("crm_writes", contact_sync)})


@dg.asset(
    group_name="reports",
    kinds={"pandas"},
    partitions_def=rollout_cohort,
    description="The run's conflicts with both versions, the base, the policy and the winner; held ones wait in "
    "the ledger's review queue, decisions written by this run are marked applied.",
)
def conflict_report(
    context: dg.AssetExecutionContext,
    contact_sync: ContactSyncResource,
    ledger: dg.ResourceParam[Ledger],
    reconciliation: SyncPlan,
    genesys_writes: WriteSummary,
    crm_writes: WriteSummary,
) -> dg.Output[pd.DataFrame]:
    services = contact_sync.services
    table = runs.conflict_table(reconciliation)
    recorded, applied = 0, 0
    if not contact_sync.dry_run:
        recorded = len(runs.record_conflicts(services, reconciliation, context.run.run_id))
        failed = set(genesys_writes.failed_ids) | set(crm_writes.failed_ids)
        members = cohort_members(ledger, context.partition_key)
        applied = runs.apply_decisions(services, reconciliation, context.run.run_id, failed, members)
        applied += runs.apply_match_decisions(services, reconciliation, context.run.run_id, failed)
        applied += runs.apply_delete_decisions(services, reconciliation, context.run.run_id, failed)
    held = int(table["held"].astype(bool).sum()) if len(table) else 0
    return dg.Output(
        table.astype(str),
        metadata={
            "dagster/row_count": len(table),
            "held_for_review": held,
            "recorded_in_ledger": recorded,
            "decisions_applied": applied,
            "preview": _preview(table),
        },
    )


@dg.asset(
    group_name="reports",
    kinds={"python"},
    partitions_def=rollout_cohort,
    output_required=False,
    description="The run report (created/updated/deleted/unlinked/skipped/errors/conflicts, duration, API calls), "
    "run history in the ledger, health score and alerts. A dry run materializes sync_dry_run_report instead.",
)
def sync_report(
    context: dg.AssetExecutionContext,
    contact_sync: ContactSyncResource,
    ledger: dg.ResourceParam[Ledger],
    reconciliation: SyncPlan,
    genesys_writes: WriteSummary,
    crm_writes: WriteSummary,
    conflict_report: pd.DataFrame,
) -> Iterator[dg.Output[dict[str, Any]] | dg.AssetMaterialization]:
    services = contact_sync.services
    started = _run_start_time(context) or time.time()
    report = runs.run_report(
        run_id=context.run.run_id,
        status="success",
        mode=run_mode(context, contact_sync),
        cohort=context.partition_key,
        plan=reconciliation,
        genesys=genesys_writes,
        crm=crm_writes,
        duration_s=max(0.0, time.time() - started),
        api_calls=services.api_calls(),
        cohort_ids=cohort_members(ledger, context.partition_key),
    )
    health = None
    if not contact_sync.dry_run:
        runs.finish_run(ledger, report)
        health = ledger.health_score()
        raised = alerts.run_alerts(report)
        low = alerts.health_alert(health, services.settings.health_threshold, context.run.run_id)
        alerts.send_alerts(
            [*raised, *([low] if low else [])], ledger, services.settings.alert_webhook, logger=context.log
        )
    # The run's last step: the pair's lock goes back (a failed run's is taken over by the next one).
    release_run_lock(ledger, pair_name(), context.run.run_id)
    flat = {k: v for k, v in report.items() if not isinstance(v, dict | list)}
    metadata = {
        **flat,
        **{f"{k}_{side}": n for k in ("created", "updated", "deleted") for side, n in report[k].items()},
        **{f"read_{side}_records": read["records"] for side, read in report["read"].items()},
        **{f"read_{side}": read["how"] for side, read in report["read"].items()},
        "decided_records": report["decided"]["records"],
        "decided": report["decided"]["how"],
        "dry_run": contact_sync.dry_run,
        "health_score": health if health is not None else "n/a",
        "simulated_services": services.simulated,
        "api_calls": dg.MetadataValue.json(report["api_calls"]),
        "report": dg.MetadataValue.json(report),
    }
    if contact_sync.dry_run:
        # The report's figures are what this dry run would do; the UI keeps them apart from real runs.
        yield dg.AssetMaterialization(DRY_RUN_REPORT.key, metadata=metadata)
    else:
        yield dg.Output(report, metadata=metadata)


@dg.asset(
    group_name="reports",
    kinds={"python"},
    deps=[sync_report],
    output_required=False,
    description=f"The health of the sync over its last {HEALTH_RUNS_SHOWN} finished runs (dry runs excluded): a "
    "table of each run's figures and score, and the latest run's figures and the health score as numbers that plot "
    "one point per run; its checks turn red on low health.",
)
def sync_health(
    context: dg.AssetExecutionContext, contact_sync: ContactSyncResource, ledger: dg.ResourceParam[Ledger]
) -> Iterator[dg.Output[pd.DataFrame]]:
    if contact_sync.dry_run:
        return  # nothing happened to the sync's health
    table = health_rows(ledger.recent_runs(HEALTH_RUNS_SHOWN))
    score = ledger.health_score()
    threshold = contact_sync.services.settings.health_threshold
    latest = table.iloc[0].to_dict() if len(table) else {}
    figures = ("created", "updated", "errors", "conflicts", "duration_s", "api_calls")
    context.log.info(
        f"health score {'n/a' if score is None else f'{score:.1f}'} (threshold {threshold:g}) over "
        f"{min(len(table), 10)} runs"
    )
    yield dg.Output(
        table,
        metadata={
            "dagster/row_count": len(table),
            "health_score": float(round(score, 1)) if score is not None else dg.MetadataValue.null(),
            "health_threshold": float(threshold),
            "healthy": dg.MetadataValue.null() if score is None else bool(score >= threshold),
            **{f"latest_{k}": latest[k] for k in figures if k in latest},
            "latest_run": str(latest.get("run_id", "")),
            "latest_cohort": str(latest.get("cohort") or ""),
            "runs": dg.MetadataValue.table(
                [dg.TableRecord({k: _table_cell(v) for k, v in row.items()}) for row in table.to_dict("records")],
                schema=dg.TableSchema(
                    columns=[dg.TableColumn(str(c), _TABLE_TYPES.get(str(c), "string")) for c in table.columns]
                ),
            ),
        },
    )


_TABLE_TYPES: Final = {
    **dict.fromkeys(("created", "updated", "skipped", "errors", "conflicts", "api_calls"), "int"),
    "duration_s": "float",
    "run_score": "float",
}


def _table_cell(value: Any) -> str | int | float | bool | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def for_crm(assets: list[dg.AssetsDefinition], asset_kind: str) -> list[dg.AssetsDefinition]:
    """The assets with the configured CRM's kind (its plug-in's `asset_kind`) where they say `CRM_KIND`, so the UI
    shows which CRM each asset talks to."""

    def named(spec: dg.AssetSpec) -> dg.AssetSpec:
        if CRM_KIND not in spec.kinds:
            return spec
        tags = {k: v for k, v in spec.tags.items() if k != f"dagster/kind/{CRM_KIND}"}
        return spec.replace_attributes(tags=tags, kinds={asset_kind if k == CRM_KIND else k for k in spec.kinds})

    return list(dg.map_asset_specs(named, assets))


SYNC_ASSETS: Final = [
    crm_contacts,
    genesys_contacts,
    contact_matches,
    reconciliation,
    genesys_writes,
    crm_writes,
    conflict_report,
    sync_report,
    sync_health,
]
