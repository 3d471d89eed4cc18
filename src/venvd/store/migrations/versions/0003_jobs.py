"""Environments count their build attempts and record when their build job was last published.

Revision ID: 0003_jobs
Revises: 0003_objects
Create Date: 2026-11-30

`attempts`: builds started since the last verdict that was not a bug (a crash loop or repeated
internal errors stop after `build_max_attempts`). `published_at`: when a job for the build was last
handed to the queue (NULL: never); the relay re-publishes builds whose job was never handed over.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_jobs"
down_revision = "0003_objects"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("environments") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("environments") as batch:
        batch.drop_column("published_at")
        batch.drop_column("attempts")
