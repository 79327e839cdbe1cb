"""The reconciliation frame (one row per link and field, Pandera-checked) and the write plan derived from it.

Rows come from three places: the field merge of live matched pairs, creates for records that exist on one side only,
and record-level actions for CRM records that were deleted or merged away (``unlink`` by default, ``delete_genesys``
with ``on_crm_delete: delete``). A mass-delete guard refuses, as a whole, to plan more new deletes/unlinks than both
``max_delete_share`` of the linked contacts and ``max_delete_count``: those rows become ``hold``, the plan says why,
and they wait in the delete review queue. What a person answered there is final for its pair: approved ones are
planned whatever the guard says, rejected ones are kept linked, open ones keep waiting (they are not re-counted, so
approving some of a held batch never lets the rest through unasked).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

from contact_sync.sync.matching import REVIEW_COLUMNS, MatchResult, duplicate_figures, unmatched_genesys_reasons
from contact_sync.sync.merge import (
    MERGE_COLUMNS,
    Columns,
    by_record_id,
    column_values,
    columns_to_frame,
    field_values,
    merge_columns,
    pair_rows,
    stamps_ns,
)
from contact_sync.sync.schema import UtcTimestamp

CHANGED_ON: Final = ("none", "crm", "genesys", "both", "baseline")
WINNERS: Final = ("crm", "genesys", "none", "held", "decision")
ACTIONS: Final = (
    "none",
    "write_genesys",
    "write_crm",
    "write_both",
    "create_genesys",
    "create_crm",
    "hold",
    "unlink",
    "delete_genesys",
)
RECONCILIATION_COLUMNS: Final = (*MERGE_COLUMNS, "note")


class ReconciliationRow(pa.DataFrameModel):
    """One row per (link, field): what each side holds, what changed, who wins and what is done about it."""

    # The descriptions are the column descriptions of the reconciliation asset's schema in the Dagster UI.
    crm_id: Series[object] = pa.Field(
        nullable=True, description="CRM record id; null only on create_crm rows (the CRM record does not exist yet)."
    )
    genesys_id: Series[object] = pa.Field(
        nullable=True, description="Genesys contact id; null only on create_genesys rows."
    )
    field: Series[object] = pa.Field(nullable=False, description="Canonical field name (first_name, email, ...).")
    base: Series[object] = pa.Field(
        nullable=True,
        description="Value last synced for this link and field (the ledger's base); null before the first sync.",
    )
    crm_value: Series[object] = pa.Field(nullable=True, description="The CRM's value in this run's snapshot.")
    genesys_value: Series[object] = pa.Field(nullable=True, description="Genesys's value in this run's snapshot.")
    changed_on: Series[object] = pa.Field(
        isin=list(CHANGED_ON),
        description="Which side moved away from the base (none, crm, genesys, both); baseline: no base yet (a first "
        "link) and the sides differ.",
    )
    conflict: Series[bool] = pa.Field(
        description="Both sides changed away from the base, to different values (a baseline difference is not one)."
    )
    policy: Series[object] = pa.Field(
        nullable=False,
        description="What decided: the field's conflict policy, direction (one-way field: its source wins), one_way "
        "(mode), create, on_crm_delete, or delete_review (a person's answer in the delete review queue).",
    )
    winner: Series[object] = pa.Field(
        isin=list(WINNERS),
        description="Whose value stands: crm, genesys, decision (a person's), held (waits for one) or none.",
    )
    action: Series[object] = pa.Field(
        isin=list(ACTIONS),
        description="What the run does: write_genesys, write_crm, write_both (only after a decision that typed a "
        "value differing from both sides), create_*, unlink, delete_genesys, hold or none.",
    )
    new_value: Series[object] = pa.Field(
        nullable=True, description="Value to write (creates and writes) or agreed on; null when held or unresolved."
    )
    base_update: Series[bool] = pa.Field(description="Store new_value as the next base once the writes succeed.")
    crm_modified_at: Series[UtcTimestamp] = pa.Field(
        nullable=True, description="The CRM record's modify stamp (last write wins compares these)."
    )
    genesys_modified_at: Series[UtcTimestamp] = pa.Field(
        nullable=True, description="The Genesys contact's modifyDate (last write wins compares these)."
    )
    note: Series[object] = pa.Field(
        nullable=True,
        description="Why a record-level action happened (deleted, merged into ..., refused by the mass-delete guard).",
    )

    class Config:
        strict = True
        ordered = False

    # ignore_na=False: the row-wise result is final, so Pandera need not scan the whole frame for all-null rows.
    @pa.dataframe_check(ignore_na=False)
    def ids_present(cls, frame: pd.DataFrame) -> pd.Series:
        """Only a create may lack the id of the side it creates on."""
        crm_ok = frame["crm_id"].notna() | (frame["action"] == "create_crm")
        genesys_ok = frame["genesys_id"].notna() | (frame["action"] == "create_genesys")
        return crm_ok & genesys_ok


def _frame(columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=object) for name in columns})


def _empty_reconciliation() -> pd.DataFrame:
    frame = _frame(RECONCILIATION_COLUMNS)
    for name in ("conflict", "base_update"):
        frame[name] = frame[name].astype(bool)
    for name in ("crm_modified_at", "genesys_modified_at"):
        frame[name] = pd.Series([], dtype="datetime64[ns, UTC]")
    return frame


@dataclass
class SyncPlan:
    """Everything one run should write, hold or report, derived from the reconciliation frame."""

    reconciliation: pd.DataFrame
    genesys_creates: pd.DataFrame
    """crm_id + one column per mapped field: Genesys contacts to create, linked to crm_id through externalIds."""
    genesys_updates: pd.DataFrame
    """genesys_id, crm_id, field, value, old_value: only the fields that change."""
    crm_updates: pd.DataFrame
    """crm_id, genesys_id, field, value, old_value (bidirectional mode only)."""
    crm_creates: pd.DataFrame
    """genesys_id + one column per mapped field (only with create_crm_from_genesys, bidirectional mode)."""
    conflicts: pd.DataFrame
    """crm_id, genesys_id, field, base, crm_value, genesys_value, crm_modified_at, genesys_modified_at, policy,
    winner, value, held, baseline: the conflicts (both sides changed since the last sync), and the baseline differences
    a person must settle (manual policy), which wait in the same review queue (`baseline` True)."""
    unlinks: pd.DataFrame
    """crm_id, genesys_id, reason: links to drop (with their base) because the CRM record was deleted or merged
    away. The Genesys contact keeps the CRM id in its externalIds, so it is neither matched again nor copied into the
    CRM as a new contact."""
    deletes: pd.DataFrame
    """crm_id, genesys_id, reason: Genesys contacts to delete (on_crm_delete: delete)."""
    refused_deletes: pd.DataFrame
    """crm_id, genesys_id, action (unlink or delete_genesys), reason: deletes/unlinks held for the delete review
    queue (refused by the guard in this run, or still waiting there)."""
    new_links: pd.DataFrame
    """crm_id, genesys_id, rule, score: links to record (not yet in the ledger); the writer also puts the CRM id in
    the Genesys contact's externalIds when it is not there yet."""
    base_updates: pd.DataFrame
    """crm_id, genesys_id, field, value: the next base once the writes succeed. genesys_id is null for rows of a
    Genesys create (the writer fills in the new id), crm_id null for rows of a CRM create."""
    ambiguous: pd.DataFrame
    crm_duplicates: pd.DataFrame
    genesys_duplicates: pd.DataFrame
    rejected: pd.DataFrame
    review: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(REVIEW_COLUMNS)))
    """crm_id, genesys_id, rule, score, evidence, reason: pairs held in the match review queue (nothing written)."""
    delete_guard: str | None = None
    """Why this run's guard refused deletes/unlinks, or None (also None when only earlier held ones wait)."""
    kept_deletes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["crm_id", "genesys_id", "reason"]))
    """crm_id, genesys_id, reason: links whose CRM record is gone, kept because a person rejected the delete."""
    fields: tuple[str, ...] = field(default=())
    baseline_differences: int = 0
    """(link, field) rows whose sides differ on a first link: settled by the field's policy, not conflicts."""
    reads: dict[str, dict[str, Any]] = field(default_factory=dict)
    """How each side was read for this plan, by system ("crm", "genesys"): records read and `how` (incremental or
    full). Set by the pipeline, which knows the snapshots; empty from the engine."""
    decision: dict[str, Any] = field(default_factory=dict)
    """How this plan was decided: records decided, `how` (incremental or full) and why a decision was full. Set by
    the pipeline; empty from the engine (which decides what it is given)."""

    def conflict_count(self) -> int:
        """Fields both sides changed since the last sync (baseline differences not included)."""
        return int((~self.conflicts["baseline"].astype(bool)).sum()) if len(self.conflicts) else 0

    def held_count(self) -> int:
        """Conflicts and baseline differences waiting for a person's decision."""
        return int(self.conflicts["held"].astype(bool).sum()) if len(self.conflicts) else 0

    def decided_records(self) -> int:
        """How many records this plan decided field by field: linked pairs and one-sided records of the cohort."""
        return len(self.reconciliation[["crm_id", "genesys_id"]].drop_duplicates())

    def is_empty(self) -> bool:
        """True when nothing has to be written anywhere (systems or ledger); reports and held items may remain."""
        return all(
            len(frame) == 0
            for frame in (
                self.genesys_creates,
                self.genesys_updates,
                self.crm_updates,
                self.crm_creates,
                self.unlinks,
                self.deletes,
                self.new_links,
                self.base_updates,
            )
        )

    def summary(self) -> dict[str, int]:
        """Counts for reports and run metadata."""
        return {
            "genesys_creates": len(self.genesys_creates),
            "genesys_updates": len(self.genesys_updates),
            "genesys_contacts_updated": int(self.genesys_updates["genesys_id"].nunique()),
            "crm_updates": len(self.crm_updates),
            "crm_contacts_updated": int(self.crm_updates["crm_id"].nunique()),
            "crm_creates": len(self.crm_creates),
            "conflicts": self.conflict_count(),
            "conflicts_held": self.held_count(),
            "baseline_differences": self.baseline_differences,
            "unlinks": len(self.unlinks),
            "deletes": len(self.deletes),
            "refused_deletes": len(self.refused_deletes),
            "new_links": len(self.new_links),
            "base_updates": len(self.base_updates),
            "ambiguous_records": len(self.ambiguous),
            **duplicate_figures(self.crm_duplicates, "crm"),
            **duplicate_figures(self.genesys_duplicates, "genesys"),
            "rejected": len(self.rejected),
            "match_review_pairs": len(self.review),
            "decided_records": self.decided_records(),
        }


def _live_ids(crm: pd.DataFrame) -> pd.DataFrame:
    """record_id, live, note (why not live) for each CRM record."""
    deleted = crm["is_deleted"].fillna(False).astype(bool).to_numpy()
    merged_into = crm["merged_into"].to_numpy(dtype=object)
    merged = pd.notna(merged_into)
    note = np.where(merged, "merged into " + pd.Series(merged_into).fillna("").astype(str), "deleted in CRM")
    return pd.DataFrame(
        {"record_id": crm["record_id"].to_numpy(dtype=object), "live": ~deleted & ~merged, "note": note}
    ).drop_duplicates(subset=["record_id"], keep=False)


def _one_side_rows(ids: pd.Series, frame: pd.DataFrame, policy: object, side: str, action: str) -> list[Columns]:
    """create_genesys / create_crm rows: one per record and mapped field, carrying the source side's values."""
    source = by_record_id(frame)
    at = source.index.get_indexer(ids)
    modified = stamps_ns(source, at)
    missing = np.full(len(at), np.iinfo(np.int64).min, dtype=np.int64)
    none = np.full(len(at), None, dtype=object)
    own_ids = ids.to_numpy(dtype=object)
    n = len(at)
    parts = []
    for rule in policy.fields:  # type: ignore[attr-defined]
        values = column_values(source, rule.name, at)
        parts.append(
            {
                "crm_id": own_ids if side == "crm" else none,
                "genesys_id": own_ids if side == "genesys" else none,
                "field": np.full(n, rule.name, dtype=object),
                "base": none,
                "crm_value": values if side == "crm" else none,
                "genesys_value": values if side == "genesys" else none,
                "changed_on": np.full(n, side, dtype=object),
                "conflict": np.zeros(n, dtype=bool),
                "policy": np.full(n, "create", dtype=object),
                "winner": np.full(n, side, dtype=object),
                "action": np.full(n, action, dtype=object),
                "new_value": values,
                "base_update": np.ones(n, dtype=bool),
                "crm_modified_at": modified if side == "crm" else missing,
                "genesys_modified_at": modified if side == "genesys" else missing,
                "note": none,
            }
        )
    return parts


def build_reconciliation(
    match: MatchResult,
    crm: pd.DataFrame,
    genesys: pd.DataFrame,
    policy: object,
    base: pd.DataFrame | None = None,
    decisions: pd.DataFrame | None = None,
    delete_decisions: pd.DataFrame | None = None,
    links_outside: int = 0,
) -> tuple[pd.DataFrame, str | None]:
    """The validated reconciliation frame and the mass-delete guard's refusal message (None when not tripped).

    `delete_decisions` (crm_id, genesys_id, decision: approve, reject or wait) is the delete review queue's state.
    `links_outside`: links of the cohort an incremental decision left out, which the guard's share counts too."""
    mode = getattr(policy, "mode", "one_way")
    status = _live_ids(crm).set_index("record_id")
    pairs = match.matches[["crm_id", "genesys_id"]]
    live = status["live"].reindex(pairs["crm_id"]).fillna(False).to_numpy(dtype=bool)
    crm_clean = by_record_id(crm)
    genesys_clean = by_record_id(genesys)
    parts: list[Columns] = []

    if live.any():
        for part in merge_columns(pairs[live], crm_clean, genesys_clean, base, decisions, policy):
            part["note"] = np.full(len(part["crm_id"]), None, dtype=object)
            parts.append(part)

    guard: str | None = None
    gone = pairs[~live]
    if len(gone):
        action = _delete_action(policy)
        decided = _delete_decision_of(gone, delete_decisions)
        # Several links merged into one record (matching holds it): which Genesys contact goes is a person's call.
        crowded = _merged_with_others(gone, crm, match)
        new = pd.isna(decided) & ~crowded
        share = float(getattr(policy, "max_delete_share", 0.05))
        count = int(getattr(policy, "max_delete_count", 10))
        linked = len(pairs) + links_outside
        allowed = max(share * linked, count)
        # Above both the share and the count: a share alone would trip on every small org (1 of 3 links).
        refused = int(new.sum()) > allowed
        if refused:
            guard = (
                f"mass-delete guard: {int(new.sum())} of {linked} linked contacts would be "
                f"{'deleted' if action == 'delete_genesys' else 'unlinked'}, more than max_delete_share {share:g} "
                f"({share * linked:g}) and max_delete_count {count} allow; nothing was planned for them: they "
                "wait in the delete review queue (contact-sync deletes list)"
            )
        approved, rejected = decided == "approve", decided == "reject"
        acts = approved | (new & (not refused))
        suffix = np.select(
            [approved, rejected, decided == "wait", new & refused, crowded],
            [
                "; approved in the delete review queue",
                "; delete rejected in the delete review queue: the Genesys contact is kept",
                "; waiting in the delete review queue",
                "; refused by the mass-delete guard",
                " with another linked record: waiting in the delete review queue for a person to choose which "
                "Genesys contact goes (the other's link moves to the merged record)",
            ],
            default="",
        )
        note = status["note"].reindex(gone["crm_id"]).to_numpy(dtype=object) + suffix.astype(object)
        ci, gi = pair_rows(gone, crm_clean, genesys_clean)
        n = len(gone)
        for part in field_values(gone, crm_clean, genesys_clean, policy, ci, gi):
            part.update(
                base=np.full(n, None, dtype=object),
                changed_on=np.full(n, "crm", dtype=object),
                conflict=np.zeros(n, dtype=bool),
                policy=np.where(approved | rejected, "delete_review", "on_crm_delete").astype(object),
                winner=np.where(acts, "crm", "held").astype(object),
                action=np.where(acts, action, "hold").astype(object),
                new_value=np.full(n, None, dtype=object),
                base_update=np.zeros(n, dtype=bool),
                note=note,
            )
            parts.append(part)

    creatable = match.unmatched_crm[match.unmatched_crm["duplicate_of"].isna() & ~match.unmatched_crm["held"]]
    if len(creatable):
        parts.extend(_one_side_rows(creatable["crm_id"], crm_clean, policy, "crm", "create_genesys"))
    if mode == "bidirectional" and getattr(policy, "create_crm_from_genesys", False):
        lone = match.unmatched_genesys
        orphans = lone[unmatched_genesys_reasons(lone).isna()]
        if len(orphans):
            parts.extend(_one_side_rows(orphans["genesys_id"], genesys_clean, policy, "genesys", "create_crm"))

    parts = [part for part in parts if len(part["crm_id"])]
    recon = columns_to_frame(parts, RECONCILIATION_COLUMNS) if parts else _empty_reconciliation()
    # inplace: the frame was just built here, so Pandera need not copy millions of rows before checking them.
    return ReconciliationRow.validate(recon, inplace=True), guard


def _merged_with_others(gone: pd.DataFrame, crm: pd.DataFrame, match: MatchResult) -> np.ndarray:
    """Whether each gone pair's CRM record was merged into a record matching reported ambiguous for taking the
    links of several merged records."""
    amb = match.ambiguous
    survivors = amb.loc[(amb["rule"] == "merged") & (amb["system"] == "crm"), "record_id"]
    if survivors.empty:
        return np.zeros(len(gone), dtype=bool)
    merged_into = by_record_id(crm)["merged_into"].reindex(gone["crm_id"]).to_numpy(dtype=object)
    return pd.Series(merged_into).isin(set(survivors)).to_numpy()


def _delete_decision_of(gone: pd.DataFrame, decisions: pd.DataFrame | None) -> np.ndarray:
    """The delete review queue's decision (approve, reject, wait) for each gone pair, None where it has none."""
    if decisions is None or decisions.empty:
        return np.full(len(gone), None, dtype=object)
    keyed = decisions.astype({"crm_id": object, "genesys_id": object}).drop_duplicates(["crm_id", "genesys_id"])
    found = gone[["crm_id", "genesys_id"]].merge(keyed, on=["crm_id", "genesys_id"], how="left")
    return found["decision"].to_numpy(dtype=object)


def _wide(rows: pd.DataFrame, id_column: str, fields: tuple[str, ...]) -> pd.DataFrame:
    if rows.empty:
        return _frame([id_column, *fields])
    wide = rows.pivot(index=id_column, columns="field", values="new_value")
    wide = wide.reindex(columns=list(fields)).reset_index()
    wide.columns.name = None
    return wide


def _record_rows(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.drop_duplicates(subset=["crm_id", "genesys_id"])[["crm_id", "genesys_id", "note"]]
    return out.rename(columns={"note": "reason"}).reset_index(drop=True)


def _moved_rows(match: MatchResult) -> pd.DataFrame:
    """crm_id, genesys_id, reason of the stored links matching moved to the record their CRM record was merged into:
    the old link is closed (the new one is among the plan's new links)."""
    moved = match.moved_links
    reason = "merged into " + moved["merged_into"].astype(str) + ": the link moved to it"
    return pd.DataFrame(
        {"crm_id": moved["crm_id"].to_numpy(dtype=object), "genesys_id": moved["genesys_id"].to_numpy(dtype=object),
         "reason": reason.to_numpy(dtype=object)}
    )  # fmt: skip


def _delete_action(policy: object) -> str:
    """The record action a CRM delete or merge means under the policy's on_crm_delete."""
    return "delete_genesys" if getattr(policy, "on_crm_delete", "unlink") == "delete" else "unlink"


def _held_deletes(rows: pd.DataFrame, policy: object) -> pd.DataFrame:
    held = _record_rows(rows)
    return held.assign(action=_delete_action(policy))[["crm_id", "genesys_id", "action", "reason"]]


def build_plan(recon: pd.DataFrame, match: MatchResult, policy: object, guard: str | None = None) -> SyncPlan:
    """Derive the write plan from a validated reconciliation frame."""
    fields = tuple(rule.name for rule in policy.fields)  # type: ignore[attr-defined]
    # One hashing pass over the action column; every selection below is then an integer comparison.
    codes, labels = pd.factorize(recon["action"].to_numpy(dtype=object))
    position = {label: code for code, label in enumerate(labels)}

    def acting(*names: str) -> np.ndarray:
        return np.isin(codes, [position[name] for name in names if name in position])

    to_genesys = recon[acting("write_genesys", "write_both")]
    to_crm = recon[acting("write_crm", "write_both")]
    baseline = recon["changed_on"].eq("baseline").to_numpy(dtype=bool)
    # A baseline difference a person must settle (manual policy) waits in the same review queue as a conflict.
    conflicts = recon[recon["conflict"].to_numpy(dtype=bool) | (baseline & recon["policy"].eq("manual").to_numpy())]
    # Every link has one row per mapped field, so the rows of the first field name each link once.
    first_field = recon["field"].to_numpy(dtype=object) == fields[0]
    live_links = recon.loc[~acting("unlink", "delete_genesys", "create_genesys", "create_crm") & first_field]
    live_pairs = live_links[["crm_id", "genesys_id"]].drop_duplicates()
    new_links = match.matches[match.matches["rule"] != "link"].merge(live_pairs, on=["crm_id", "genesys_id"])
    base_rows = recon[recon["base_update"]]
    return SyncPlan(
        reconciliation=recon,
        genesys_creates=_wide(recon[acting("create_genesys")], "crm_id", fields),
        genesys_updates=pd.DataFrame(
            {
                "genesys_id": to_genesys["genesys_id"],
                "crm_id": to_genesys["crm_id"],
                "field": to_genesys["field"],
                "value": to_genesys["new_value"],
                "old_value": to_genesys["genesys_value"],
            }
        ).reset_index(drop=True),
        crm_updates=pd.DataFrame(
            {
                "crm_id": to_crm["crm_id"],
                "genesys_id": to_crm["genesys_id"],
                "field": to_crm["field"],
                "value": to_crm["new_value"],
                "old_value": to_crm["crm_value"],
            }
        ).reset_index(drop=True),
        crm_creates=_wide(recon[acting("create_crm")], "genesys_id", fields),
        conflicts=pd.DataFrame(
            {
                "crm_id": conflicts["crm_id"],
                "genesys_id": conflicts["genesys_id"],
                "field": conflicts["field"],
                "base": conflicts["base"],
                "crm_value": conflicts["crm_value"],
                "genesys_value": conflicts["genesys_value"],
                "crm_modified_at": conflicts["crm_modified_at"],
                "genesys_modified_at": conflicts["genesys_modified_at"],
                "policy": conflicts["policy"],
                "winner": conflicts["winner"],
                "value": conflicts["new_value"],
                "held": conflicts["action"] == "hold",
                "baseline": conflicts["changed_on"] == "baseline",
            }
        ).reset_index(drop=True),
        baseline_differences=int(baseline.sum()),
        unlinks=pd.concat([_record_rows(recon[acting("unlink")]), _moved_rows(match)], ignore_index=True),
        deletes=_record_rows(recon[acting("delete_genesys")]),
        refused_deletes=_held_deletes(recon[acting("hold") & (recon["policy"] == "on_crm_delete").to_numpy()], policy),
        kept_deletes=_record_rows(recon[acting("hold") & (recon["policy"] == "delete_review").to_numpy()]),
        new_links=new_links.reset_index(drop=True),
        base_updates=pd.DataFrame(
            {
                "crm_id": base_rows["crm_id"],
                "genesys_id": base_rows["genesys_id"],
                "field": base_rows["field"],
                "value": base_rows["new_value"],
            }
        ).reset_index(drop=True),
        ambiguous=match.ambiguous,
        crm_duplicates=match.crm_duplicates,
        genesys_duplicates=match.genesys_duplicates,
        rejected=match.rejected,
        review=match.review,
        delete_guard=guard,
        fields=fields,
    )
