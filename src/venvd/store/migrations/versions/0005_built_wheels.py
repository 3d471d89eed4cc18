"""Wheels built from sdists: sdist sha256, build key, the wheel's name, hashes, size, when.

Revision ID: 0005_built_wheels
Revises: 0004_private_files
Create Date: 2026-12-01

One row per (sdist sha256, build key): the wheel the builders' cache holds for that pair, whatever
machine built it, so that every API node's `/simple/` lists it (service/_simple.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_built_wheels"
down_revision = "0004_private_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "built_wheels",
        sa.Column("sdist_sha256", sa.String(), nullable=False),
        sa.Column("build_key", sa.String(), nullable=False),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("requires_python", sa.String(), nullable=True),
        sa.Column("metadata_sha256", sa.String(), nullable=True),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sdist_sha256", "build_key", name="pk_built_wheels"),
    )


def downgrade() -> None:
    op.drop_table("built_wheels")
