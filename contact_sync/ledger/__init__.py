"""The sync ledger: links, merge base values, watermarks, cohorts, audit log, conflicts, runs and alerts, kept in a
SQLAlchemy database (SQLite by default, PostgreSQL in production) with an Alembic-versioned schema."""

from contact_sync.ledger.batch import LedgerBatch
from contact_sync.ledger.errors import LedgerError
from contact_sync.ledger.records import AlertRecord, CohortRecord, ConflictRecord, RunRecord
from contact_sync.ledger.store import Ledger, health_score

__all__ = [
    "AlertRecord",
    "CohortRecord",
    "ConflictRecord",
    "Ledger",
    "LedgerBatch",
    "LedgerError",
    "RunRecord",
    "health_score",
]
