"""API bearer tokens: name, scope (read/build/admin), sha256 of the secret, revocation.

Revision ID: 0003_tokens
Revises: 0002
Create Date: 2026-11-30

Only the token's sha256 is stored (the secret is shown once, at creation). Revoked tokens keep
their row; the name is unique among the tokens that are not revoked (a partial unique index, on
both SQLite and PostgreSQL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_tokens"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.CheckConstraint("scope IN ('read', 'build', 'admin')", name="ck_tokens_scope"),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_tokens_token_hash"),
    )
    op.create_index("ix_tokens_active_name", "tokens", ["name"], unique=True,
                    sqlite_where=sa.text("revoked_at IS NULL"),
                    postgresql_where=sa.text("revoked_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_tokens_active_name", table_name="tokens")
    op.drop_table("tokens")
