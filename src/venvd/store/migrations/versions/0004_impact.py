"""Impact queries: when each environment was last served, and imported security advisories (OSV).

Revision ID: 0004_impact
Revises: 0003_jobs
Create Date: 2026-11-30

`environments.last_used_at`: when the environment was last served (status of a ready build,
artifact download, create cache hit), written at most once a minute per environment and process.
`advisories`: one row per OSV id (the newest `modified` wins; the whole document kept).
`advisory_ranges`: the affected version intervals of each advisory and PyPI package, as version
sort keys (`low` inclusive, NULL: from the first version; `high` exclusive, or inclusive when
`high_inclusive`, NULL: no end), so SQL matches them against environment_packages exactly.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_impact"
down_revision = "0003_jobs"
branch_labels = None
depends_on = None

# Spelled out, not imported from the models, so this revision keeps meaning what it meant.
_TS = sa.DateTime(timezone=True)
_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
_KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("environments") as batch:
        batch.add_column(sa.Column("last_used_at", _TS, nullable=True))
    op.create_table(
        "advisories",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("modified", _TS, nullable=False),
        sa.Column("published", _TS, nullable=True),
        sa.Column("summary", sa.String(), nullable=False),
        sa.Column("aliases", _JSON, nullable=False),
        sa.Column("document", _JSON, nullable=False),
        sa.Column("imported_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_advisories"),
    )
    op.create_table(
        "advisory_ranges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("advisory_id", sa.String(), nullable=False),
        sa.Column("package", sa.String(), nullable=False),
        sa.Column("low", sa.String(), nullable=True),
        sa.Column("low_key", _KEY, nullable=True),
        sa.Column("high", sa.String(), nullable=True),
        sa.Column("high_key", _KEY, nullable=True),
        sa.Column("high_inclusive", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["advisory_id"], ["advisories.id"], ondelete="CASCADE",
                                name="fk_advisory_ranges_advisory_id_advisories"),
        sa.PrimaryKeyConstraint("id", name="pk_advisory_ranges"),
    )
    op.create_index("ix_advisory_ranges_package", "advisory_ranges", ["package"])
    op.create_index("ix_advisory_ranges_advisory_id", "advisory_ranges", ["advisory_id"])


def downgrade() -> None:
    op.drop_index("ix_advisory_ranges_advisory_id", table_name="advisory_ranges")
    op.drop_index("ix_advisory_ranges_package", table_name="advisory_ranges")
    op.drop_table("advisory_ranges")
    op.drop_table("advisories")
    with op.batch_alter_table("environments") as batch:
        batch.drop_column("last_used_at")
