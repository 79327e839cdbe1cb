"""What a connector hands back: read batches with their watermark, and per-record write outcomes for the run report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

WriteStatus = Literal["created", "updated", "deleted", "changed_since_read", "failed", "skipped", "unconfirmed"]
"""unconfirmed: a create whose answer was lost, left for the next run's read to settle (linked if it exists)."""


@dataclass
class RecordOutcome:
    """The outcome of writing one record: `key` is the caller's key (e.g. the CRM id for a Genesys create)."""

    key: str
    status: WriteStatus
    record_id: str | None = None
    message: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class WriteReport:
    """Every record a write call was given, each with exactly one outcome, plus the API calls it took."""

    outcomes: list[RecordOutcome] = field(default_factory=list)
    api_calls: int = 0

    def add(self, outcome: RecordOutcome) -> None:
        self.outcomes.append(outcome)

    def extend(self, other: WriteReport) -> None:
        self.outcomes.extend(other.outcomes)
        self.api_calls += other.api_calls

    def counts(self) -> dict[str, int]:
        return dict(Counter(o.status for o in self.outcomes))

    def by_status(self, status: WriteStatus) -> list[RecordOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def failed(self) -> list[RecordOutcome]:
        return self.by_status("failed")


@dataclass
class ReadResult:
    """Records read from a service (raw API shape) and the watermark that is safe to store after them."""

    records: list[dict[str, Any]]
    watermark: str | None = None
    api_calls: int = 0
    deleted_ids: list[str] = field(default_factory=list)
