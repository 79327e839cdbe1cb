"""Gather what the sync decision needs from the ledger and the snapshots, and hand it to the engine:
`sync.incremental.decision_scope` (what can have changed since the cohort's last decision), then `sync.engine`'s
`match_records` for those records, `decide` for the cohort and `settle` for the state the next run starts from.
This module decides nothing itself.

The decision state is kept per CRM kind and cohort in `<data_dir>/decisions/<kind>_<cohort>.parquet` beside the
mirrors; a dry run never writes it, and a rollback forgets it (the next run decides everything)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from contact_sync.pipeline.cohorts import cohort_members
from contact_sync.pipeline.services import Services
from contact_sync.pipeline.snapshots import Snapshot
from contact_sync.sync.engine import decide, match_records, settle
from contact_sync.sync.incremental import DecisionState, decision_scope, state_key
from contact_sync.sync.matching import MatchResult
from contact_sync.sync.plan import SyncPlan
from contact_sync.sync.policy import Mode


def pair_decisions(services: Services) -> pd.DataFrame:
    """crm_id, genesys_id, decision, review_id: the match review queue's answers for this CRM (accepted pairs not yet
    linked, every rejected pair, and open pairs past ``matching.review_hold_days`` as released)."""
    return services.ledger.pair_decisions(services.crm.kind, services.policy.matching.review_hold_days)


_STATE_KEY = b"contact_sync_decision_key"


def decision_state_path(services: Services, cohort: str) -> Path:
    return Path(services.settings.data_dir) / "decisions" / f"{services.crm.kind}_{cohort}.parquet"


def load_decision_state(path: Path) -> DecisionState | None:
    """The stored state, None when there is none or it cannot be read (the run then decides everything)."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException):
        return None
    key = (table.schema.metadata or {}).get(_STATE_KEY, b"").decode()
    return DecisionState(table.to_pandas(), key)


def save_decision_state(path: Path, state: DecisionState) -> None:
    """Write through a temporary name and rename, so a crash never leaves half a state."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(state.records, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _STATE_KEY: state.key.encode()})
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


def forget_decisions(services: Services) -> None:
    """Drop every cohort's decision state of this CRM: what wrote the ledger or the systems outside a sync run
    (a rollback) makes the next run of each cohort decide everything."""
    for path in (Path(services.settings.data_dir) / "decisions").glob(f"{services.crm.kind}_*.parquet"):
        path.unlink(missing_ok=True)


def match_snapshots(
    services: Services, crm: Snapshot, genesys: Snapshot, mode: str, cohort: str, *, full: bool = False
) -> MatchResult:
    """Match the CRM records that can have changed since the cohort's last decision (every record when `full`, or
    without a usable state) to at most one Genesys contact each (`sync.engine.match_records`), with the ledger's
    links and the match review queue's answers; the records both snapshots' converters rejected are held and
    reported."""
    members = cohort_members(services.ledger, cohort)
    links = services.ledger.links(crm_system=services.crm.kind)[["crm_id", "genesys_id"]]
    rejected = pd.concat([crm.rejected, genesys.rejected], ignore_index=True)
    pairs = pair_decisions(services)
    policy = services.policy.with_mode(mode)  # type: ignore[arg-type]
    scope = decision_scope(
        crm.contacts,
        genesys.contacts,
        policy,
        load_decision_state(decision_state_path(services, cohort)),
        state_key(policy, mode, cohort),
        links=links,
        decisions=pending_decisions(services, members),
        cohort_crm_ids=members,
        rejected=rejected,
        pair_decisions=pairs,
        delete_decisions=services.ledger.delete_decisions(services.crm.kind),
        full=full,
    )
    return match_records(
        crm.contacts, genesys.contacts, services.policy, links=links, rejected=rejected, pair_decisions=pairs,
        scope=scope,
    )  # fmt: skip


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
    services: Services,
    crm: Snapshot,
    genesys: Snapshot,
    match: MatchResult,
    mode: Mode,
    cohort: str,
    *,
    persist: bool = True,
) -> SyncPlan:
    """The write plan of one cohort ("all" = every contact) in `mode` (`sync.engine.decide`), with the ledger's base
    values, the decisions people made on held conflicts and the delete review queue's state. With `persist` (not a
    dry run) the cohort's decision state is stored for the next run."""
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
    if match.scope is not None:
        scope = match.scope
        why = {"why": scope.why} if scope.why else {}
        plan.decision = {"records": plan.decided_records(), "how": scope.how, **why}
        if persist:
            state = settle(match, plan, crm.contacts, genesys.contacts, members)
            save_decision_state(decision_state_path(services, cohort), state)
    return plan
