"""Graph queries over the stored dependency edges (``WITH RECURSIVE``, same SQL on both dialects).

Edges are Requires-Dist entries taken whole: extras and markers are not evaluated here, so these
walks over-approximate what any one target needs. That is what warming a cache wants (`closure`),
and `why` narrows it to the packages actually in an environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from venvd.store._models import DependencyEdgeRow

__all__ = ["ENV_EDGES_CTE", "MAX_ROOTS", "WHY_SQL", "reachable_names"]


# Roots per statement: one VALUES row (one bound parameter) each, well under SQLite's and
# PostgreSQL's parameter limits; callers with more roots run one statement per batch.
MAX_ROOTS = 500


def reachable_names(roots: Sequence[str]) -> sa.Select[Any]:
    """SELECT of every project name reachable from `roots` (included) along dependency edges.

    `roots` must not be empty and must have at most MAX_ROOTS names (ValueError otherwise). They
    are one VALUES list, not one SELECT per root: SQLite refuses more than 500 terms in a compound
    SELECT and PostgreSQL's parser recurses once per term.

    UNION (not UNION ALL) drops names already reached, so cycles terminate.
    """
    if not roots or len(roots) > MAX_ROOTS:
        raise ValueError(f"reachable_names takes 1 to {MAX_ROOTS} roots, not {len(roots)}")
    edge = DependencyEdgeRow.__table__.c
    given = sa.values(sa.column("name", sa.String), name="roots").data(
        [(name,) for name in roots]).cte("roots")
    # PostgreSQL wants the recursive and non-recursive terms to have the same type: cast both.
    anchor = sa.select(sa.cast(given.c.name, sa.String).label("name"))
    reach = anchor.cte("reach", recursive=True)
    reach = reach.union(
        sa.select(sa.cast(edge.dependency, sa.String)).join(reach, edge.project == reach.c.name)
    )
    return sa.select(reach.c.name)


# The dependency edges among one environment's own packages (:environment_id), counted only from
# the metadata of the pinned versions: what `WHY_SQL` walks and what an environment's graph shows.
ENV_EDGES_CTE = """env_edges(parent, child) AS (
    SELECT DISTINCT e.project, e.dependency
    FROM environment_packages p
    JOIN core_metadata m ON m.name = p.name AND m.version_key = p.version_key
    JOIN dependency_edges e ON e.metadata_id = m.id
    JOIN environment_packages c
        ON c.environment_id = p.environment_id AND c.name = e.dependency
    WHERE p.environment_id = :environment_id
)"""

# Chains from an environment's roots to :target through the environment's own packages, shortest
# ones only (all simple paths can be exponentially many): `up` walks edges backwards from the
# target, `dist` is each package's distance to it, and `chains` walks forwards from the roots along
# the edges that get one step closer. Edges count only from the metadata of the pinned version.
WHY_SQL = sa.text("WITH RECURSIVE\n" + ENV_EDGES_CTE + """,
up(name, depth) AS (
    SELECT CAST(:target AS VARCHAR), 0
    UNION
    SELECT ee.parent, up.depth + 1
    FROM env_edges ee JOIN up ON ee.child = up.name
    WHERE up.depth < :max_depth
),
dist(name, depth) AS (
    SELECT name, MIN(depth) FROM up GROUP BY name
),
chains(name, path) AS (
    SELECT d.name, CAST(d.name AS TEXT) FROM dist d WHERE d.name IN :roots
    UNION ALL
    SELECT ee.child, CAST(chains.path || ' ' || ee.child AS TEXT)
    FROM chains
    JOIN env_edges ee ON ee.parent = chains.name
    JOIN dist dp ON dp.name = chains.name
    JOIN dist dc ON dc.name = ee.child
    WHERE dc.depth = dp.depth - 1
)
SELECT path FROM chains WHERE name = :target ORDER BY path LIMIT :limit
""").bindparams(sa.bindparam("roots", expanding=True))
