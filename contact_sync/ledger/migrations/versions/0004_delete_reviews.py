"""The delete review queue: deletes and unlinks the mass-delete guard held, waiting for a person
(sync_delete_reviews).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)
PENDING = sa.text("status IN ('open', 'approved')")


def upgrade() -> None:
    op.create_table(
        "sync_delete_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("crm_system", sa.String(16), nullable=False),
        sa.Column("crm_id", ID, nullable=False),
        sa.Column("genesys_id", ID, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("last_run_id", ID, nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_run_id", ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sync_delete_reviews"),
    )
    op.create_index(
        "uq_sync_delete_reviews_pending",
        "sync_delete_reviews",
        ["crm_system", "crm_id", "genesys_id"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    for column in ("status", "crm_id"):
        op.create_index(f"ix_sync_delete_reviews_{column}", "sync_delete_reviews", [column])


def downgrade() -> None:
    op.drop_table("sync_delete_reviews")
