"""Plain records the ledger returns for single things: a run, a cohort, a conflict, a match review, a delete review,
an alert."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RunRecord:
    """One sync run as the ledger remembers it. `counts` and `api_calls` are the JSON the pipeline stored."""

    run_id: str
    started_at: datetime
    finished_at: datetime | None
    mode: str
    cohort: str | None
    status: str
    dry_run: bool
    counts: dict[str, Any] = field(default_factory=dict)
    errors: int = 0
    conflicts: int = 0
    duration_s: float | None = None
    api_calls: dict[str, Any] = field(default_factory=dict)
    error_summary: str | None = None


@dataclass(frozen=True)
class CohortRecord:
    """A stored rollout cohort (its members come from `Ledger.cohort_members`)."""

    name: str
    created_at: datetime
    size: int


@dataclass(frozen=True)
class ConflictRecord:
    """One field both sides changed, both versions and the base decoded to their values."""

    id: int
    run_id: str | None
    created_at: datetime
    crm_id: str
    genesys_id: str
    field: str
    base: Any
    crm_value: Any
    genesys_value: Any
    policy: str
    winner: str | None
    status: str
    decision: str | None
    decision_value: Any
    decided_by: str | None
    decided_at: datetime | None
    applied_run_id: str | None


@dataclass(frozen=True)
class MatchReviewRecord:
    """A CRM/Genesys pair matching held for a person to decide, with the evidence and both records as they were
    when a run last proposed it (`crm_record`, `genesys_record`: canonical values by field name, or None)."""

    id: int
    crm_system: str
    crm_id: str
    genesys_id: str
    rule: str
    score: float
    evidence: str | None
    reason: str | None
    crm_record: dict[str, Any] | None
    genesys_record: dict[str, Any] | None
    status: str
    created_at: datetime
    last_seen_at: datetime
    run_id: str | None
    last_run_id: str | None
    decided_by: str | None
    decided_at: datetime | None
    applied_run_id: str | None


@dataclass(frozen=True)
class DeleteReviewRecord:
    """A delete or unlink the mass-delete guard held for a person to approve or reject."""

    id: int
    crm_system: str
    crm_id: str
    genesys_id: str
    action: str
    reason: str | None
    status: str
    created_at: datetime
    last_seen_at: datetime
    run_id: str | None
    last_run_id: str | None
    decided_by: str | None
    decided_at: datetime | None
    applied_run_id: str | None


@dataclass(frozen=True)
class AlertRecord:
    """An alert raised by the pipeline, and whether it reached the webhook."""

    id: int
    at: datetime
    run_id: str | None
    kind: str
    message: str
    delivered: bool
