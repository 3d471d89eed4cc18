"""Per-file metadata (immutable, idempotent under concurrency) and the recursive closure query."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import sqlalchemy as sa

from venvd.dist import CoreMetadata, DistFile
from venvd.store import Store

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _edges(raw: sa.Engine, project: str) -> list[tuple[str, str]]:
    with raw.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT dependency, requirement FROM dependency_edges WHERE project = :p"),
            {"p": project})
        return sorted((dependency, requirement) for dependency, requirement in rows)


def test_metadata_round_trip_and_edges(store: Store, raw: sa.Engine) -> None:
    meta = CoreMetadata.create(
        "Demo_Pkg", "1.0.post1",
        requires_dist=["Requests[socks] >=2.7", "colorama; sys_platform == 'win32'",
                       "pytest; extra == 'Test'", "not a requirement !!"],
        requires_python=">=3.8", provides_extra=["Test"])
    assert store.get_metadata("sha256:aa") is None
    assert store.put_metadata("sha256:aa", meta) is True
    assert store.get_metadata("sha256:aa") == meta
    assert store.get_metadata_many(["sha256:aa", "sha256:missing"]) == {"sha256:aa": meta}
    assert _edges(raw, "demo-pkg") == [
        ("colorama", "colorama; sys_platform == 'win32'"),
        ("pytest", "pytest; extra == 'Test'"),
        ("requests", "Requests[socks] >=2.7"),
    ]


def test_metadata_is_immutable(store: Store, raw: sa.Engine) -> None:
    first = CoreMetadata.create("demo", "1.0", requires_dist=["a"])
    assert store.put_metadata("k", first) is True
    assert store.put_metadata("k", CoreMetadata.create("demo", "1.0", ["b", "c"])) is False
    assert store.get_metadata("k") == first
    assert _edges(raw, "demo") == [("a", "a")]


def test_concurrent_puts_of_one_key_store_it_once(store: Store, raw: sa.Engine) -> None:
    meta = CoreMetadata.create("demo", "1.0", requires_dist=["a", "b>1"])
    barrier = threading.Barrier(8)
    results: list[bool] = []
    errors: list[BaseException] = []

    def put() -> None:
        try:
            barrier.wait()
            results.append(store.put_metadata("sha256:same", meta))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [False] * 7 + [True]
    assert _edges(raw, "demo") == [("a", "a"), ("b", "b>1")]


def test_concurrent_puts_of_many_keys(store: Store) -> None:
    metas = {f"k{i}": CoreMetadata.create(f"p{i}", "1.0", [f"p{i + 1}"]) for i in range(40)}
    keys = list(metas)
    errors: list[BaseException] = []

    def put(part: list[str]) -> None:
        try:
            for key in part:
                store.put_metadata(key, metas[key])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(keys[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.get_metadata_many(keys) == metas
    assert store.closure(["p0"]).names == {f"p{i}" for i in range(41)}


def _page(store: Store, name: str, *versions: str) -> list[DistFile]:
    files = []
    for v in versions:
        f = DistFile.from_filename(f"{name}-{v}.tar.gz", f"https://f.test/{name}-{v}.tar.gz",
                                   sha256=f"{name}{v}".ljust(64, "0"))
        assert f is not None
        files.append(f)
    store.put_project_page(name, "https://i.test/simple", files, None, T0)
    return files


def test_closure_walks_every_stored_version_and_survives_cycles(store: Store) -> None:
    r"""The graph (edges from any stored version's Requires-Dist, extras and markers included)::

        a 1.0 ──> b ──> c 1.0 ──> a          (a cycle)
          │             c 2.0 ──> f[x]       (only the newer c reaches f)
          └──> c        b 1.0 ──> h; extra == "x"
        d ──> e                              (not reachable from a)
    """
    a, b, c, d = (_page(store, n, *vs) for n, vs in
                  [("a", ["1.0"]), ("b", ["1.0"]), ("c", ["1.0", "2.0"]), ("d", ["1.0"])])
    stored = {
        a[0].cache_key: CoreMetadata.create("a", "1.0", ["b>=1", "c"]),
        b[0].cache_key: CoreMetadata.create("b", "1.0", ["c", 'h; extra == "x"']),
        c[0].cache_key: CoreMetadata.create("c", "1.0", ["A"]),
        c[1].cache_key: CoreMetadata.create("c", "2.0", ["f[x]"]),
        d[0].cache_key: CoreMetadata.create("d", "1.0", ["e"]),
    }
    for key, meta in stored.items():
        store.put_metadata(key, meta)

    closure = store.closure(["A"])
    assert closure.names == {"a", "b", "c", "f", "h"}
    assert set(closure.pages) == {"a", "b", "c"}  # f and h have no stored page
    assert closure.pages["c"].files == c
    assert closure.metadata == {k: m for k, m in stored.items() if m.name != "d"}

    assert store.closure(["c"]).names == {"a", "b", "c", "f", "h"}  # the cycle, from inside
    assert store.closure(["d", "unknown"]).names == {"d", "e", "unknown"}
    assert store.closure(["unknown"]).pages == {}
    empty = store.closure([])
    assert (empty.names, empty.pages, empty.metadata) == (frozenset(), {}, {})
