"""A dependency graph laid out in layers, for drawing as SVG (no graphviz).

`layout(nodes, edges, paths)` places each package in the column of its depth: the length of the
shortest path from a root (roots in column 0; a package no root reaches, which a consistent lock
never has, goes after the last column). Within a column, packages are ordered by the mean row of
their parents in the column before (one barycenter pass, the classic way to cut crossings), ties
by name, so the same graph always gives the same picture. Columns are as wide as their longest
label. `paths` (the `why` answer: lists of names from a root to one package) mark the nodes and
edges they use as highlighted.

The result is plain numbers; the template `graph.svg.j2` draws it. Cost: O(nodes + edges) plus
one sort per column, a few milliseconds for a jupyter-sized graph of ~100 packages.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import pairwise

__all__ = ["GraphLayout", "PlacedEdge", "PlacedNode", "layout"]

# Pixels. A label is drawn in a 12px monospace font: ~7.3px a character.
CHAR_WIDTH = 7.3
NODE_HEIGHT = 24
ROW_GAP = 10
COLUMN_GAP = 56
PADDING = 12
NODE_PADDING = 10


@dataclasses.dataclass(frozen=True)
class PlacedNode:
    name: str
    version: str
    is_root: bool
    depth: int
    x: float
    y: float
    width: float
    highlighted: bool
    target: bool  # the package the highlighted paths lead to

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


@dataclasses.dataclass(frozen=True)
class PlacedEdge:
    parent: str
    child: str
    # A cubic Bézier from the parent's right side to the child's left side, as SVG path data.
    d: str
    highlighted: bool


@dataclasses.dataclass(frozen=True)
class GraphLayout:
    nodes: list[PlacedNode]
    edges: list[PlacedEdge]
    width: float
    height: float
    depth: int  # the number of columns


def layout(nodes: Iterable[tuple[str, str, bool]], edges: Iterable[tuple[str, str]],
           paths: Sequence[Sequence[str]] = ()) -> GraphLayout:
    """Place `nodes` ((name, version, is_root)) and `edges` ((parent, child) names; edges naming an
    unknown node are left out) in layers; mark what `paths` use as highlighted."""
    info = {name: (version, is_root) for name, version, is_root in nodes}
    children: dict[str, list[str]] = {name: [] for name in info}
    parents: dict[str, list[str]] = {name: [] for name in info}
    kept: list[tuple[str, str]] = []
    for parent, child in edges:
        if parent in info and child in info and parent != child:
            children[parent].append(child)
            parents[child].append(parent)
            kept.append((parent, child))

    depth: dict[str, int] = {}
    queue: deque[str] = deque()
    for name in sorted(info):
        if info[name][1]:
            depth[name] = 0
            queue.append(name)
    while queue:
        name = queue.popleft()
        for child in children[name]:
            if child not in depth:
                depth[child] = depth[name] + 1
                queue.append(child)
    last = max(depth.values(), default=-1)
    for name in info:
        depth.setdefault(name, last + 1)

    columns: dict[int, list[str]] = {}
    for name in sorted(info):
        columns.setdefault(depth[name], []).append(name)
    row: dict[str, int] = {}
    for d in sorted(columns):
        def barycenter(name: str) -> float:
            placed = [row[p] for p in parents[name] if p in row and depth[p] < depth[name]]
            return sum(placed) / len(placed) if placed else float("inf")

        columns[d].sort(key=lambda n: (barycenter(n), n))
        for i, name in enumerate(columns[d]):
            row[name] = i

    on_path = {name for path in paths for name in path}
    path_edges = {(a, b) for path in paths for a, b in pairwise(path)}
    targets = {path[-1] for path in paths if path}

    placed: dict[str, PlacedNode] = {}
    x = float(PADDING)
    for d in sorted(columns):
        names = columns[d]
        widths = {n: len(f"{n} {info[n][0]}") * CHAR_WIDTH + 2 * NODE_PADDING for n in names}
        column_width = max(widths.values())
        for name in names:
            placed[name] = PlacedNode(
                name=name, version=info[name][0], is_root=info[name][1], depth=d, x=x,
                y=PADDING + row[name] * (NODE_HEIGHT + ROW_GAP), width=widths[name],
                highlighted=name in on_path, target=name in targets)
        x += column_width + COLUMN_GAP

    placed_edges = []
    for parent, child in sorted(kept):
        a, b = placed[parent], placed[child]
        x1, y1 = a.x + a.width, a.y + NODE_HEIGHT / 2
        x2, y2 = b.x, b.y + NODE_HEIGHT / 2
        bend = max(abs(x2 - x1) / 2, COLUMN_GAP / 2)
        d_attr = (f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} "
                  f"{x2:.1f},{y2:.1f}")
        placed_edges.append(PlacedEdge(parent, child, d_attr, (parent, child) in path_edges))

    tallest = max((len(c) for c in columns.values()), default=0)
    return GraphLayout(
        nodes=[placed[n] for d in sorted(columns) for n in columns[d]],
        edges=placed_edges,
        width=x - COLUMN_GAP + PADDING if columns else 2 * PADDING,
        height=2 * PADDING + tallest * (NODE_HEIGHT + ROW_GAP) - (ROW_GAP if tallest else 0),
        depth=len(columns),
    )
