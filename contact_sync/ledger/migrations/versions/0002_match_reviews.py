"""The match review queue: pairs waiting for a person (sync_match_reviews), and why each link was made
(sync_links.evidence).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)
PENDING = sa.text("status IN ('open', 'accepted')")


def upgrade() -> None:
    op.add_column("sync_links", sa.Column("evidence", sa.Text, nullable=True))

    op.create_table(
        "sync_match_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("crm_system", sa.String(16), nullable=False),
        sa.Column("crm_id", ID, nullable=False),
        sa.Column("genesys_id", ID, nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("evidence", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("crm_record", sa.Text, nullable=True),
        sa.Column("genesys_record", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("last_run_id", ID, nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_run_id", ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sync_match_reviews"),
    )
    op.create_index(
        "uq_sync_match_reviews_pending",
        "sync_match_reviews",
        ["crm_system", "crm_id", "genesys_id"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    for column in ("status", "crm_id", "genesys_id"):
        op.create_index(f"ix_sync_match_reviews_{column}", "sync_match_reviews", [column])


def downgrade() -> None:
    op.drop_table("sync_match_reviews")
    with op.batch_alter_table("sync_links") as batch:
        batch.drop_column("evidence")
