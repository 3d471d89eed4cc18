"""Initial schema: projects, files, core metadata, dependency edges, resolutions, environments.

Revision ID: 0001
Revises:
Create Date: 2025-11-23

Types are spelled out here rather than imported from the models, so that this revision keeps
creating exactly this schema whatever the models become.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
# Version sort keys must compare byte-wise; PostgreSQL's default collation may not.
_KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("index_url", sa.String(), nullable=False),
        sa.Column("etag", sa.String(), nullable=True),
        sa.Column("fetched_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.UniqueConstraint("name", name="uq_projects_name"),
    )
    op.create_table(
        "files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("requires_python", sa.String(), nullable=True),
        sa.Column("yanked", sa.String(), nullable=True),
        sa.Column("upload_time", _TS, nullable=True),
        sa.Column("metadata_sha256", sa.String(), nullable=True),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("version_key", _KEY, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("tags", _JSON, nullable=False),
        sa.Column("index_url", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_files_project_id_projects"),
        sa.PrimaryKeyConstraint("id", name="pk_files"),
    )
    op.create_index("ix_files_project_id_version_key", "files", ["project_id", "version_key"])

    op.create_table(
        "core_metadata",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_key", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("version_key", _KEY, nullable=False),
        sa.Column("requires_python", sa.String(), nullable=True),
        sa.Column("requires_dist", _JSON, nullable=False),
        sa.Column("provides_extra", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_core_metadata"),
        sa.UniqueConstraint("file_key", name="uq_core_metadata_file_key"),
    )
    op.create_index("ix_core_metadata_name_version_key", "core_metadata", ["name", "version_key"])

    op.create_table(
        "dependency_edges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("metadata_id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(), nullable=False),
        sa.Column("dependency", sa.String(), nullable=False),
        sa.Column("requirement", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["metadata_id"], ["core_metadata.id"], ondelete="CASCADE",
                                name="fk_dependency_edges_metadata_id_core_metadata"),
        sa.PrimaryKeyConstraint("id", name="pk_dependency_edges"),
    )
    op.create_index("ix_dependency_edges_project_dependency", "dependency_edges",
                    ["project", "dependency"])
    op.create_index("ix_dependency_edges_dependency", "dependency_edges", ["dependency"])
    op.create_index("ix_dependency_edges_metadata_id", "dependency_edges", ["metadata_id"])

    op.create_table(
        "resolutions",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("request", _JSON, nullable=False),
        sa.Column("lock", _JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_resolutions"),
    )

    op.create_table(
        "environments",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("lock_id", sa.String(), nullable=False),
        sa.Column("target_key", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("roots", _JSON, nullable=False),
        sa.Column("lock", _JSON, nullable=True),
        sa.Column("request", _JSON, nullable=True),
        sa.Column("artifact_path", sa.String(), nullable=True),
        sa.Column("sha256", sa.String(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("manifest", _JSON, nullable=True),
        sa.Column("error", _JSON, nullable=True),
        sa.Column("progress", _JSON, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint("status IN ('queued', 'building', 'ready', 'failed')",
                           name="ck_environments_status"),
        sa.PrimaryKeyConstraint("id", name="pk_environments"),
    )
    op.create_index("ix_environments_status", "environments", ["status"])
    op.create_index("ix_environments_lock_id", "environments", ["lock_id"])

    op.create_table(
        "environment_packages",
        sa.Column("environment_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("version_key", _KEY, nullable=False),
        sa.ForeignKeyConstraint(["environment_id"], ["environments.id"], ondelete="CASCADE",
                                name="fk_environment_packages_environment_id_environments"),
        sa.PrimaryKeyConstraint("environment_id", "name", name="pk_environment_packages"),
    )
    op.create_index("ix_environment_packages_name", "environment_packages", ["name"])


def downgrade() -> None:
    for table in ("environment_packages", "environments", "resolutions", "dependency_edges",
                  "core_metadata", "files", "projects"):
        op.drop_table(table)
