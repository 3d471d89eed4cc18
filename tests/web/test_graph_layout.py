"""The layered layout of `venvd.web._graph`: columns by depth from the roots, no overlaps,
deterministic, highlighted paths. A hand-drawn case:

    app ──▶ web ──▶ http ──▶ urllib3
     │              ▲
     └──▶ cli ──────┘        cli ──▶ app (a cycle back to a root)
    stray                     (no root reaches it)
"""

from __future__ import annotations

import random

from venvd.web._graph import NODE_HEIGHT, layout

NODES = [("app", "1", True), ("web", "2", False), ("cli", "3", False), ("http", "4", False),
         ("urllib3", "1.26.18", False), ("stray", "0", False)]
EDGES = [("app", "web"), ("app", "cli"), ("web", "http"), ("cli", "http"), ("http", "urllib3"),
         ("cli", "app"), ("app", "missing")]


def test_columns_are_depths_from_the_roots() -> None:
    placed = layout(NODES, EDGES)
    depth = {n.name: n.depth for n in placed.nodes}
    assert depth == {"app": 0, "web": 1, "cli": 1, "http": 2, "urllib3": 3, "stray": 4}
    x = {n.name: n.x for n in placed.nodes}
    assert x["app"] < x["web"] == x["cli"] < x["http"] < x["urllib3"] < x["stray"]
    assert {(e.parent, e.child) for e in placed.edges} == set(EDGES) - {("app", "missing")}
    assert placed.depth == 5


def test_no_two_nodes_overlap_and_all_fit() -> None:
    rng = random.Random(7)
    names = [f"p{i}" for i in range(120)]
    nodes = [(n, "1.0", i < 3) for i, n in enumerate(names)]
    edges = [(names[rng.randrange(i)], names[i]) for i in range(3, 120)]
    edges += [(rng.choice(names), rng.choice(names)) for _ in range(150)]
    placed = layout(nodes, edges)
    assert len(placed.nodes) == 120
    boxes = [(n.x, n.y, n.x + n.width, n.y + NODE_HEIGHT) for n in placed.nodes]
    for i, a in enumerate(boxes):
        assert a[2] <= placed.width and a[3] <= placed.height
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    assert layout(list(reversed(nodes)), list(reversed(edges))) == placed  # input order is moot


def test_paths_mark_their_nodes_and_edges() -> None:
    paths = [["app", "web", "http", "urllib3"], ["app", "cli", "http", "urllib3"]]
    placed = layout(NODES, EDGES, paths)
    assert {n.name for n in placed.nodes if n.highlighted} == {"app", "web", "cli", "http", "urllib3"}
    assert [n.name for n in placed.nodes if n.target] == ["urllib3"]
    lit = {(e.parent, e.child) for e in placed.edges if e.highlighted}
    assert lit == {("app", "web"), ("web", "http"), ("app", "cli"), ("cli", "http"),
                   ("http", "urllib3")}
    assert not any(n.highlighted for n in layout(NODES, EDGES).nodes)


def test_empty_graph() -> None:
    placed = layout([], [])
    assert placed.nodes == [] and placed.edges == [] and placed.width > 0 and placed.depth == 0
