"""Gather what the sync decision needs from the ledger and the snapshots, and hand it to `sync.engine`: its
`match_records` for the whole snapshots, its `decide` for each cohort. This module decides nothing itself."""

from __future__ import annotations

import pandas as pd

from contact_sync.pipeline.cohorts import cohort_members
from contact_sync.pipeline.services import Services
from contact_sync.pipeline.snapshots import Snapshot
from contact_sync.sync.engine import decide, match_records
from contact_sync.sync.matching import MatchResult
from contact_sync.sync.plan import SyncPlan
from contact_sync.sync.policy import Mode


def pair_decisions(services: Services) -> pd.DataFrame:
    """crm_id, genesys_id, decision, review_id: the match review queue's answers for this CRM (accepted pairs not yet
    linked, every rejected pair, and open pairs past ``matching.review_hold_days`` as released)."""
    return services.ledger.pair_decisions(services.crm.kind, services.policy.matching.review_hold_days)


def match_snapshots(services: Services, crm: Snapshot, genesys: Snapshot) -> MatchResult:
    """Match every CRM record to at most one Genesys contact (`sync.engine.match_records`) with the ledger's links and
    the match review queue's answers; the records both snapshots' converters rejected are held and reported."""
    return match_records(
        crm.contacts,
        genesys.contacts,
        services.policy,
        links=services.ledger.links(crm_system=services.crm.kind)[["crm_id", "genesys_id"]],
        rejected=pd.concat([crm.rejected, genesys.rejected], ignore_index=True),
        pair_decisions=pair_decisions(services),
    )


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
    """The write plan of one cohort ("all" = every contact) in `mode` (`sync.engine.decide`), with the ledger's base
    values, the decisions people made on held conflicts and the delete review queue's state."""
    members = cohort_members(services.ledger, cohort)
    decisions = pending_decisions(services, members)
    plan = decide(
        match,
        crm.contacts,
        genesys.contacts,
        services.policy.with_mode(mode),
        base=services.ledger.base_values(crm_ids=members),
        decisions=decisions[["crm_id", "field", "use", "value"]],
        cohort_crm_ids=members,
        delete_decisions=services.ledger.delete_decisions(services.crm.kind),
    )
    plan.reads = {"crm": crm.read_summary(), "genesys": genesys.read_summary()}
    return plan
