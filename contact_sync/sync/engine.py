"""The sync decision, in the two steps a run takes: `match_records` (who is who, over both whole snapshots) and
`decide` (one cohort's field merge and plan). `reconcile` is both in one call. Production (``pipeline.planning``)
and the tests call these same functions; the pipeline only gathers their inputs from the ledger and the services."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from contact_sync.sync.incremental import DecisionScope, DecisionState, decision_scope, next_state
from contact_sync.sync.matching import MatchResult, match_contacts
from contact_sync.sync.plan import SyncPlan, build_plan, build_reconciliation


def restrict_to_cohort(match: MatchResult, cohort_crm_ids: Iterable[str]) -> MatchResult:
    """Keep only what concerns the cohort's CRM records and the Genesys contacts matched to them.

    Matching itself always runs on the full snapshots, so a cohort never changes who matches whom (a CRM duplicate
    outside the cohort still makes its cohort twin a secondary). Genesys-only contacts belong to no cohort.
    """
    cohort = pd.Index(list(cohort_crm_ids), dtype=object)
    matches = match.matches[match.matches["crm_id"].isin(cohort)]
    amb = match.ambiguous
    keys_in_cohort = amb.loc[(amb["system"] == "crm") & amb["record_id"].isin(cohort), ["rule", "key"]]
    ambiguous = amb.merge(keys_in_cohort.drop_duplicates(), on=["rule", "key"])
    crm_groups = match.crm_duplicates.loc[match.crm_duplicates["record_id"].isin(cohort), "group_id"]
    gen_groups = match.genesys_duplicates.loc[
        match.genesys_duplicates["record_id"].isin(matches["genesys_id"]), "group_id"
    ]
    return MatchResult(
        matches=matches.reset_index(drop=True),
        ambiguous=ambiguous.reset_index(drop=True),
        crm_duplicates=match.crm_duplicates[match.crm_duplicates["group_id"].isin(crm_groups)].reset_index(drop=True),
        genesys_duplicates=match.genesys_duplicates[match.genesys_duplicates["group_id"].isin(gen_groups)].reset_index(
            drop=True
        ),
        unmatched_crm=match.unmatched_crm[match.unmatched_crm["crm_id"].isin(cohort)].reset_index(drop=True),
        unmatched_genesys=match.unmatched_genesys.iloc[0:0],
        rejected=match.rejected,
        review=match.review[match.review["crm_id"].isin(cohort)].reset_index(drop=True),
        shared_keys=match.shared_keys,
        kept_apart=match.kept_apart,
        moved_links=match.moved_links[match.moved_links["merged_into"].isin(cohort)].reset_index(drop=True),
        scope=match.scope,
    )


def match_records(
    crm: pd.DataFrame,
    genesys: pd.DataFrame,
    policy: object,
    links: pd.DataFrame | None = None,
    rejected: pd.DataFrame | None = None,
    pair_decisions: pd.DataFrame | None = None,
    scope: DecisionScope | None = None,
) -> MatchResult:
    """Who is who across the two whole snapshots, or only the records of an incremental `scope`
    (``incremental_scope``; see ``reconcile`` for the other arguments); the records the converters rejected are
    reported with the matching's own rejections."""
    if scope is not None:
        crm, genesys = crm[scope.crm], genesys[scope.genesys]
        links = None if links is None else links[links["crm_id"].isin(crm["record_id"])]
    held = None
    if rejected is not None and len(rejected) and "crm_id" in rejected.columns:
        unreadable = rejected[(rejected["system"] == "genesys") & rejected["crm_id"].notna()]
        held = pd.Index(unreadable["crm_id"].astype(object))
    unreadable_genesys = rejected[rejected["system"] == "genesys"] if rejected is not None and len(rejected) else None
    match = match_contacts(
        crm,
        genesys,
        links,
        policy,
        held_crm_ids=held,
        pair_decisions=pair_decisions,
        unreadable_genesys=unreadable_genesys,
    )
    if rejected is not None and len(rejected):
        reported = rejected[["system", "record_id", "reason"]].astype(object)
        match = MatchResult(**{**match.__dict__, "rejected": pd.concat([reported, match.rejected], ignore_index=True)})
    if scope is not None:
        match = MatchResult(**{**match.__dict__, "scope": scope})
    return match


def decide(
    match: MatchResult,
    crm: pd.DataFrame,
    genesys: pd.DataFrame,
    policy: object,
    base: pd.DataFrame | None = None,
    decisions: pd.DataFrame | None = None,
    cohort_crm_ids: Iterable[str] | None = None,
    delete_decisions: pd.DataFrame | None = None,
) -> SyncPlan:
    """One cohort's plan (every record when `cohort_crm_ids` is None) from a `match_records` result (see
    ``reconcile`` for the arguments); of an incremental match, the plan of the records it matched."""
    links_outside = 0
    if match.scope is not None:
        crm, genesys = crm[match.scope.crm], genesys[match.scope.genesys]
        base = None if base is None else base[base["crm_id"].isin(crm["record_id"])]
        links_outside = match.scope.links_outside
    if cohort_crm_ids is not None:
        match = restrict_to_cohort(match, cohort_crm_ids)
    recon, guard = build_reconciliation(
        match,
        crm,
        genesys,
        policy,
        base=base,
        decisions=decisions,
        delete_decisions=delete_decisions,
        links_outside=links_outside,
    )
    return build_plan(recon, match, policy, guard)


def reconcile(
    crm: pd.DataFrame,
    genesys: pd.DataFrame,
    policy: object,
    links: pd.DataFrame | None = None,
    base: pd.DataFrame | None = None,
    decisions: pd.DataFrame | None = None,
    cohort_crm_ids: Iterable[str] | None = None,
    rejected: pd.DataFrame | None = None,
    pair_decisions: pd.DataFrame | None = None,
    delete_decisions: pd.DataFrame | None = None,
) -> SyncPlan:
    """Decide everything one run must write, hold or report: `match_records`, then `decide`.

    crm, genesys: canonical frames (``contact_sync.sync.schema.CanonicalContact``). links: the ledger's
    (crm_id, genesys_id). base: (crm_id, genesys_id, field, value) last synced. decisions: (crm_id, field, use,
    value) for held conflicts. cohort_crm_ids: restrict the plan to these CRM records and their matches.
    rejected: records the converters could not read (``RejectedRecord``); a Genesys record among them that names a
    CRM id holds that CRM record (it is neither matched anew nor created), and all of them are reported.
    pair_decisions: (crm_id, genesys_id, decision) answers of the match review queue (``match_contacts``).
    delete_decisions: (crm_id, genesys_id, decision: approve, reject, wait) the delete review queue's state.
    """
    match = match_records(crm, genesys, policy, links, rejected, pair_decisions)
    return decide(match, crm, genesys, policy, base, decisions, cohort_crm_ids, delete_decisions)


def settle(
    match: MatchResult, plan: SyncPlan, crm: pd.DataFrame, genesys: pd.DataFrame, cohort_crm_ids: Iterable[str] | None
) -> DecisionState:
    """The state to keep after deciding `match.scope` (``sync.incremental.next_state``); `crm` and `genesys` are the
    frames the scope was computed on."""
    if match.scope is None:
        raise ValueError("settle needs an incremental match (match_records with a scope)")
    # What the cohort's plan saw: a record outside the cohort is settled for it (its own cohort's state decides it).
    seen = match if cohort_crm_ids is None else restrict_to_cohort(match, cohort_crm_ids)
    return next_state(match.scope, crm["record_id"], genesys["record_id"], plan, seen)


def reconcile_incremental(
    crm: pd.DataFrame,
    genesys: pd.DataFrame,
    policy: object,
    state: DecisionState | None,
    key: str,
    links: pd.DataFrame | None = None,
    base: pd.DataFrame | None = None,
    decisions: pd.DataFrame | None = None,
    cohort_crm_ids: Iterable[str] | None = None,
    rejected: pd.DataFrame | None = None,
    pair_decisions: pd.DataFrame | None = None,
    delete_decisions: pd.DataFrame | None = None,
    full: bool = False,
) -> tuple[SyncPlan, DecisionScope, DecisionState]:
    """`reconcile` on only the records that can have changed since `state` (``sync.incremental.decision_scope``;
    `key`: its ``state_key`` of this run): the same plan (writes, holds, reviews and reports; the reconciliation rows
    of undecided links with nothing to do are left out), the scope it decided and the state to keep for the next
    run. The pipeline takes the same steps (``pipeline.planning``)."""
    cohort = None if cohort_crm_ids is None else list(cohort_crm_ids)
    scope = decision_scope(
        crm, genesys, policy, state, key, links=links, cohort_crm_ids=cohort, rejected=rejected,
        decisions=decisions, pair_decisions=pair_decisions, delete_decisions=delete_decisions, full=full,
    )  # fmt: skip
    match = match_records(crm, genesys, policy, links, rejected, pair_decisions, scope=scope)
    plan = decide(match, crm, genesys, policy, base, decisions, cohort, delete_decisions)
    return plan, scope, settle(match, plan, crm, genesys, cohort)
