"""Environments record the process that owns their build (host, pid, start identity, token).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

A server that starts finds the builds a dead process of its own host left `queued`/`building` and
requeues them at once instead of waiting for the stale timeout. Rows written before this revision
have no owner (NULL) and keep the stale-timeout rule.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = ("owner_host", "owner_pid", "owner_start", "owner_token")


def upgrade() -> None:
    with op.batch_alter_table("environments") as batch:
        batch.add_column(sa.Column("owner_host", sa.String(), nullable=True))
        batch.add_column(sa.Column("owner_pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("owner_start", sa.String(), nullable=True))
        batch.add_column(sa.Column("owner_token", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("environments") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
