"""Queries over client-given names run in bounded batches: no statement grows with the request.

Before: more than 500 distinct roots failed on SQLite ("too many terms in compound SELECT") and
10,000 on PostgreSQL (stack depth limit), both as HTTP 500.
"""

from __future__ import annotations

import pytest

from venvd.dist import CoreMetadata
from venvd.store import Store
from venvd.store._graph import MAX_ROOTS, reachable_names


@pytest.mark.parametrize("count", [501, 10_000])
def test_closure_of_many_roots(store: Store, count: int) -> None:
    # A chain under one root, so batches must still follow edges out of each batch.
    for i in range(3):
        meta = CoreMetadata.create(f"chain{i}", "1.0", requires_dist=[f"chain{i + 1}"])
        store.put_metadata(f"sha256:chain{i}", meta)
    roots = [f"root-{i}" for i in range(count)] + ["chain0"]
    closure = store.closure(roots)
    assert closure.names == {*roots, "chain1", "chain2", "chain3"}
    assert set(closure.metadata) == {"sha256:chain0", "sha256:chain1", "sha256:chain2"}


def test_reachable_names_refuses_an_unbounded_statement() -> None:
    with pytest.raises(ValueError, match=str(MAX_ROOTS)):
        reachable_names([f"n{i}" for i in range(MAX_ROOTS + 1)])
