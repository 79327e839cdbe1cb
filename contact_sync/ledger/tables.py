"""The ledger's tables (SQLAlchemy Core), and the closed vocabularies their text columns hold.

Every table is prefixed `sync_` and Alembic's version table is `contact_sync_ledger_version`, so the ledger can share a
PostgreSQL database with Dagster's own storage (which has its own `runs` and `alembic_version` tables) without a clash.
The migration scripts under `migrations/versions/` create exactly these tables; a test compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)

from contact_sync.crms import CRM_KINDS

VERSION_TABLE = "contact_sync_ledger_version"

CRM_SYSTEMS = CRM_KINDS
SYSTEMS = (*CRM_SYSTEMS, "genesys")
AUDIT_REASONS = (
    "created",
    "crm change",
    "genesys change",
    "baseline difference",
    "conflict winner",
    "decision",
    "rollback",
    "unlink",
    "delete",
    "match accepted",
    "match rejected",
    "delete approved",
    "delete rejected",
    "found in sync",
    "link restored",
)
CONFLICT_STATUSES = ("open", "resolved", "applied")
DECISIONS = ("crm", "genesys", "value")
MATCH_REVIEW_STATUSES = ("open", "accepted", "rejected", "applied", "withdrawn")
"""withdrawn: an open pair a later run no longer proposed (a record was linked elsewhere, deleted or edited)."""
"""open: waiting for a person; accepted: a person said link, waiting for a run; rejected: never proposed again;
applied: a run linked the accepted pair."""
MATCH_DECISIONS = ("accept", "reject")
MATCH_PENDING_STATUSES = ("open", "accepted")
"""A pair has at most one review in these statuses; rejected and applied reviews stay as history."""
DELETE_REVIEW_STATUSES = ("open", "approved", "rejected", "applied", "withdrawn")
"""open: held by the mass-delete guard, waiting for a person; approved: the next run deletes/unlinks it; rejected: the
Genesys contact is kept and stays linked while its CRM record is gone; applied: a run deleted/unlinked it; withdrawn:
the question went away (the CRM record is back, or the link ended otherwise)."""
DELETE_DECISIONS = ("approve", "reject")
DELETE_ACTIONS = ("unlink", "delete_genesys")
RUN_STATUSES = ("running", "success", "failure")
ALERT_KINDS = ("run_failed", "high_errors", "slow_run", "low_health", "conflicts", "mass_delete_guard")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone; PostgreSQL does)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(64)

links = Table(
    "sync_links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("crm_system", String(16), nullable=False),
    Column("crm_id", ID, nullable=False),
    Column("genesys_id", ID, nullable=False),
    Column("rule", String(32), nullable=False),
    Column("score", Float, nullable=False),
    Column("evidence", Text, nullable=True),  # why the pair matched, in words (matching's evidence sentence)
    Column("linked_at", UtcDateTime, nullable=False),
    Column("run_id", ID, nullable=True),
    Column("unlinked_at", UtcDateTime, nullable=True),
    Column("unlink_reason", Text, nullable=True),
    Column("unlink_run_id", ID, nullable=True),
)
# One-to-one among active links only: unlinked rows stay as history and may repeat either id.
_ACTIVE = text("unlinked_at IS NULL")
Index(
    "uq_sync_links_active_crm",
    links.c.crm_system,
    links.c.crm_id,
    unique=True,
    sqlite_where=_ACTIVE,
    postgresql_where=_ACTIVE,
)
Index(
    "uq_sync_links_active_genesys",
    links.c.crm_system,
    links.c.genesys_id,
    unique=True,
    sqlite_where=_ACTIVE,
    postgresql_where=_ACTIVE,
)
Index("ix_sync_links_genesys_id", links.c.genesys_id)

base_values = Table(
    "sync_base_values",
    metadata,
    Column("crm_id", ID, primary_key=True),
    Column("genesys_id", ID, primary_key=True),
    Column("field", String(64), primary_key=True),
    Column("value", Text, nullable=True),  # JSON text; SQL NULL when the field was empty
    Column("synced_at", UtcDateTime, nullable=False),
    Column("run_id", ID, nullable=True),
)

watermarks = Table(
    "sync_watermarks",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

cohorts = Table(
    "sync_cohorts",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("size", Integer, nullable=False),
)

cohort_members = Table(
    "sync_cohort_members",
    metadata,
    Column("cohort", String(128), ForeignKey("sync_cohorts.name", ondelete="CASCADE"), primary_key=True),
    Column("crm_id", ID, primary_key=True),
)

audit = Table(
    "sync_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", ID, nullable=True),
    Column("at", UtcDateTime, nullable=False),
    Column("system", String(16), nullable=False),
    Column("record_id", ID, nullable=True),
    Column("crm_id", ID, nullable=True),
    Column("genesys_id", ID, nullable=True),
    Column("field", String(64), nullable=False),
    Column("old_value", Text, nullable=True),  # JSON text
    Column("new_value", Text, nullable=True),  # JSON text
    Column("reason", String(32), nullable=False),
)
Index("ix_sync_audit_run_id", audit.c.run_id)
Index("ix_sync_audit_record_id", audit.c.record_id)
Index("ix_sync_audit_crm_id", audit.c.crm_id)
Index("ix_sync_audit_genesys_id", audit.c.genesys_id)

conflicts = Table(
    "sync_conflicts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", ID, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("crm_id", ID, nullable=False),
    Column("genesys_id", ID, nullable=False),
    Column("field", String(64), nullable=False),
    Column("base", Text, nullable=True),  # JSON text, as are the other value columns
    Column("crm_value", Text, nullable=True),
    Column("genesys_value", Text, nullable=True),
    Column("policy", String(32), nullable=False),
    Column("winner", String(16), nullable=True),
    Column("status", String(16), nullable=False),
    Column("decision", String(16), nullable=True),
    Column("decision_value", Text, nullable=True),
    Column("decided_by", String(128), nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("applied_run_id", ID, nullable=True),
)
Index("ix_sync_conflicts_status", conflicts.c.status)
Index("ix_sync_conflicts_crm_id", conflicts.c.crm_id)
Index("ix_sync_conflicts_genesys_id", conflicts.c.genesys_id)

match_reviews = Table(
    "sync_match_reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("crm_system", String(16), nullable=False),
    Column("crm_id", ID, nullable=False),
    Column("genesys_id", ID, nullable=False),
    Column("rule", String(32), nullable=False),
    Column("score", Float, nullable=False),
    Column("evidence", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("crm_record", Text, nullable=True),  # JSON text of the CRM record's canonical values (an object)
    Column("genesys_record", Text, nullable=True),  # the same for the Genesys record
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("run_id", ID, nullable=True),  # the run that first proposed the pair
    Column("last_run_id", ID, nullable=True),  # the last run that proposed it
    Column("decided_by", String(128), nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("applied_run_id", ID, nullable=True),
)
# One waiting review per pair; rejected and applied reviews stay as history. The same text is the ON CONFLICT
# target's predicate in `LedgerBatch.add_match_reviews`.
MATCH_PENDING = "status IN ('open', 'accepted')"
_PENDING = text(MATCH_PENDING)
Index(
    "uq_sync_match_reviews_pending",
    match_reviews.c.crm_system,
    match_reviews.c.crm_id,
    match_reviews.c.genesys_id,
    unique=True,
    sqlite_where=_PENDING,
    postgresql_where=_PENDING,
)
Index("ix_sync_match_reviews_status", match_reviews.c.status)
Index("ix_sync_match_reviews_crm_id", match_reviews.c.crm_id)
Index("ix_sync_match_reviews_genesys_id", match_reviews.c.genesys_id)

delete_reviews = Table(
    "sync_delete_reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("crm_system", String(16), nullable=False),
    Column("crm_id", ID, nullable=False),
    Column("genesys_id", ID, nullable=False),
    Column("action", String(16), nullable=False),  # unlink or delete_genesys (the policy's on_crm_delete)
    Column("reason", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("run_id", ID, nullable=True),  # the run whose guard held it
    Column("last_run_id", ID, nullable=True),  # the last run that saw it still waiting
    Column("decided_by", String(128), nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("applied_run_id", ID, nullable=True),
)
DELETE_PENDING = "status IN ('open', 'approved')"
_DELETE_PENDING = text(DELETE_PENDING)
Index(
    "uq_sync_delete_reviews_pending",
    delete_reviews.c.crm_system,
    delete_reviews.c.crm_id,
    delete_reviews.c.genesys_id,
    unique=True,
    sqlite_where=_DELETE_PENDING,
    postgresql_where=_DELETE_PENDING,
)
Index("ix_sync_delete_reviews_status", delete_reviews.c.status)
Index("ix_sync_delete_reviews_crm_id", delete_reviews.c.crm_id)

runs = Table(
    "sync_runs",
    metadata,
    Column("run_id", ID, primary_key=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("mode", String(32), nullable=False),
    Column("cohort", String(128), nullable=True),
    Column("status", String(16), nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("counts", JSON, nullable=True),
    Column("errors", Integer, nullable=False),
    Column("conflicts", Integer, nullable=False),
    Column("duration_s", Float, nullable=True),
    Column("api_calls", JSON, nullable=True),
    Column("error_summary", Text, nullable=True),
)
Index("ix_sync_runs_started_at", runs.c.started_at)

run_locks = Table(
    "sync_run_locks",
    metadata,
    Column("name", String(128), primary_key=True),  # one per CRM/Genesys pair, e.g. "salesforce-genesys"
    Column("run_id", ID, nullable=False),
    Column("owner", String(256), nullable=False),  # "host:pid" of the process holding it
    Column("acquired_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

alerts = Table(
    "sync_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("run_id", ID, nullable=True),
    Column("kind", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("delivered", Boolean, nullable=False),
)
Index("ix_sync_alerts_at", alerts.c.at)
