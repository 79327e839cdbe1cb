"""Decide a run: match the two snapshots with the ledger's links, then plan one cohort with its base values and the
decisions people made on held conflicts. Pure sync logic decides; this module feeds it from the ledger."""

from __future__ import annotations

import pandas as pd

from contact_sync.pipeline.cohorts import cohort_members
from contact_sync.pipeline.services import Services
from contact_sync.pipeline.snapshots import Snapshot
from contact_sync.sync.engine import restrict_to_cohort
from contact_sync.sync.matching import MatchResult, match_contacts
from contact_sync.sync.plan import SyncPlan, build_plan, build_reconciliation
from contact_sync.sync.policy import Mode


def pair_decisions(services: Services) -> pd.DataFrame:
    """crm_id, genesys_id, decision, review_id: the match review queue's answers for this CRM (accepted pairs not yet
    linked, every rejected pair, and open pairs past ``matching.review_hold_days`` as released)."""
    return services.ledger.pair_decisions(services.crm.kind, services.policy.matching.review_hold_days)


def match_snapshots(services: Services, crm: Snapshot, genesys: Snapshot) -> MatchResult:
    """Match every CRM record to at most one Genesys contact (stored links and accepted pairs first, rejected pairs
    never); rejected records of both snapshots are reported, and a Genesys record that names a CRM id but could
    not be read holds that CRM id."""
    links = services.ledger.links(crm_system=services.crm.kind)[["crm_id", "genesys_id"]]
    unreadable = genesys.rejected[genesys.rejected["crm_id"].notna()] if "crm_id" in genesys.rejected else None
    held = pd.Index(unreadable["crm_id"].astype(object)) if unreadable is not None and len(unreadable) else None
    match = match_contacts(
        crm.contacts,
        genesys.contacts,
        links,
        services.policy,
        held_crm_ids=held,
        pair_decisions=pair_decisions(services),
        unreadable_genesys=genesys.rejected,
    )
    rejected = pd.concat([crm.rejected, genesys.rejected], ignore_index=True)
    if len(rejected):
        reported = rejected[["system", "record_id", "reason"]].astype(object)
        match = MatchResult(**{**match.__dict__, "rejected": pd.concat([reported, match.rejected], ignore_index=True)})
    return match


def pending_decisions(services: Services, crm_ids: list[str] | None) -> pd.DataFrame:
    """id, crm_id, genesys_id, field, use, value: decided conflicts no run has applied yet (of the cohort)."""
    pending = services.ledger.pending_decisions()
    if crm_ids is not None:
        pending = pending[pending["crm_id"].isin(crm_ids)]
    return pd.DataFrame(
        {
            "id": pending["id"],
            "crm_id": pending["crm_id"],
            "genesys_id": pending["genesys_id"],
            "field": pending["field"],
            "use": pending["decision"],
            "value": pending["decision_value"],
        }
    ).reset_index(drop=True)


def plan_cohort(
    services: Services, crm: Snapshot, genesys: Snapshot, match: MatchResult, mode: Mode, cohort: str
) -> SyncPlan:
    """The write plan of one cohort ("all" = every contact) in `mode`."""
    policy = services.policy.with_mode(mode)
    members = cohort_members(services.ledger, cohort)
    if members is not None:
        match = restrict_to_cohort(match, members)
    base = services.ledger.base_values(crm_ids=members)
    decisions = pending_decisions(services, members)
    recon, guard = build_reconciliation(
        match,
        crm.contacts,
        genesys.contacts,
        policy,
        base=base,
        decisions=decisions[["crm_id", "field", "use", "value"]],
        delete_decisions=services.ledger.delete_decisions(services.crm.kind),
    )
    return build_plan(recon, match, policy, guard)
