"""Files uploaded to private indexes: index, project, version, file name, hashes, who and when.

Revision ID: 0004_private_files
Revises: 0004_impact
Create Date: 2026-11-30

A file name is unique within its index (an upload never replaces a file). The id only grows: the
largest one is the private indexes' generation, part of every resolution key (service/_private.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_private_files"
down_revision = "0004_impact"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_VERSION_KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "private_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("index_name", sa.String(), nullable=False),
        sa.Column("project", sa.String(), nullable=False),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("version_key", _VERSION_KEY, nullable=False),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("requires_python", sa.String(), nullable=True),
        sa.Column("metadata_sha256", sa.String(), nullable=False),
        sa.Column("uploaded_at", _TS, nullable=False),
        sa.Column("uploaded_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_private_files"),
        sa.UniqueConstraint("index_name", "filename",
                            name="uq_private_files_index_name_filename"),
    )
    op.create_index("ix_private_files_index_name_project_version_key", "private_files",
                    ["index_name", "project", "version_key"])


def downgrade() -> None:
    op.drop_index("ix_private_files_index_name_project_version_key", table_name="private_files")
    op.drop_table("private_files")
