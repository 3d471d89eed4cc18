"""Leases on cached objects: what a running build or an in-flight download uses, GC keeps.

Revision ID: 0003_objects
Revises: 0003_tokens
Create Date: 2026-11-30

A lease names an object key or a key prefix ending in "/" (a build leases the directories of the
wheels and fragments its lock names), a holder (one build or one download) and an expiry, so a
holder that dies without releasing stops protecting anything after a while.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_objects"
down_revision = "0003_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "object_leases",
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("holder", "key", name="pk_object_leases"),
    )
    op.create_index("ix_object_leases_expires_at", "object_leases", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_object_leases_expires_at", table_name="object_leases")
    op.drop_table("object_leases")
