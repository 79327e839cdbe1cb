"""The first ledger schema: links, base values, watermarks, cohorts, audit log, conflicts, runs and alerts.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)
ACTIVE = sa.text("unlinked_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "sync_links",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("crm_system", sa.String(16), nullable=False),
        sa.Column("crm_id", ID, nullable=False),
        sa.Column("genesys_id", ID, nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("unlinked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unlink_reason", sa.Text, nullable=True),
        sa.Column("unlink_run_id", ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sync_links"),
    )
    op.create_index(
        "uq_sync_links_active_crm",
        "sync_links",
        ["crm_system", "crm_id"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_index(
        "uq_sync_links_active_genesys",
        "sync_links",
        ["crm_system", "genesys_id"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_index("ix_sync_links_genesys_id", "sync_links", ["genesys_id"])

    op.create_table(
        "sync_base_values",
        sa.Column("crm_id", ID, nullable=False),
        sa.Column("genesys_id", ID, nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", ID, nullable=True),
        sa.PrimaryKeyConstraint("crm_id", "genesys_id", "field", name="pk_sync_base_values"),
    )

    op.create_table(
        "sync_watermarks",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_sync_watermarks"),
    )

    op.create_table(
        "sync_cohorts",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_sync_cohorts"),
    )
    op.create_table(
        "sync_cohort_members",
        sa.Column("cohort", sa.String(128), nullable=False),
        sa.Column("crm_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("cohort", "crm_id", name="pk_sync_cohort_members"),
        sa.ForeignKeyConstraint(
            ["cohort"],
            ["sync_cohorts.name"],
            name="fk_sync_cohort_members_cohort_sync_cohorts",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "sync_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("system", sa.String(16), nullable=False),
        sa.Column("record_id", ID, nullable=True),
        sa.Column("crm_id", ID, nullable=True),
        sa.Column("genesys_id", ID, nullable=True),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("old_value", sa.Text, nullable=True),
        sa.Column("new_value", sa.Text, nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sync_audit"),
    )
    for column in ("run_id", "record_id", "crm_id", "genesys_id"):
        op.create_index(f"ix_sync_audit_{column}", "sync_audit", [column])

    op.create_table(
        "sync_conflicts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("crm_id", ID, nullable=False),
        sa.Column("genesys_id", ID, nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("base", sa.Text, nullable=True),
        sa.Column("crm_value", sa.Text, nullable=True),
        sa.Column("genesys_value", sa.Text, nullable=True),
        sa.Column("policy", sa.String(32), nullable=False),
        sa.Column("winner", sa.String(16), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("decision_value", sa.Text, nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_run_id", ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sync_conflicts"),
    )
    for column in ("status", "crm_id", "genesys_id"):
        op.create_index(f"ix_sync_conflicts_{column}", "sync_conflicts", [column])

    op.create_table(
        "sync_runs",
        sa.Column("run_id", ID, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("cohort", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("counts", sa.JSON, nullable=True),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("conflicts", sa.Integer, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("api_calls", sa.JSON, nullable=True),
        sa.Column("error_summary", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_sync_runs"),
    )
    op.create_index("ix_sync_runs_started_at", "sync_runs", ["started_at"])

    op.create_table(
        "sync_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("delivered", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sync_alerts"),
    )
    op.create_index("ix_sync_alerts_at", "sync_alerts", ["at"])


def downgrade() -> None:
    for table in (
        "sync_alerts",
        "sync_runs",
        "sync_conflicts",
        "sync_audit",
        "sync_cohort_members",
        "sync_cohorts",
        "sync_watermarks",
        "sync_base_values",
        "sync_links",
    ):
        op.drop_table(table)
