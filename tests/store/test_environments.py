"""Environment records: atomic creation under races, updates, contents, and `why` chains."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from venvd.dist import CoreMetadata
from venvd.errors import NotFound
from venvd.store import EnvironmentRecord, Store


def test_create_get_update(store: Store) -> None:
    assert store.get_environment("env1") is None
    lock = {"id": "lock1", "packages": []}
    record, created = store.create_environment("env1", "lock1", "target1", roots=["Django"],
                                               lock=lock, request={"requirements": ["django"]})
    assert created is True
    assert (record.id, record.lock_id, record.target_key, record.status) == (
        "env1", "lock1", "target1", "queued")
    assert record.roots == ["django"] and record.lock == lock
    assert record.request == {"requirements": ["django"]}
    assert record.created_at.tzinfo is UTC and record.created_at == record.updated_at
    assert abs(record.created_at - datetime.now(UTC)).total_seconds() < 60
    assert store.get_environment("env1") == record

    again, created = store.create_environment("env1", "lock-other", "t", status="building")
    assert created is False and again == record  # the existing record, unchanged

    failed = store.update_environment("env1", status="failed", error={"code": "build_failed"},
                                      progress={"step": "build", "done": 1, "total": 3})
    assert failed.status == "failed" and failed.error == {"code": "build_failed"}
    assert failed.updated_at >= record.updated_at
    ready = store.update_environment("env1", status="ready", error=None, artifact_path="/a/b",
                                     sha256="f" * 64, size=5 * 2**31, manifest={"files": 3})
    assert ready.error is None and ready.progress == failed.progress
    assert (ready.artifact_path, ready.sha256, ready.size, ready.manifest) == (
        "/a/b", "f" * 64, 5 * 2**31, {"files": 3})
    assert store.get_environment("env1") == ready


def test_update_rejects_bad_input(store: Store) -> None:
    with pytest.raises(NotFound):
        store.update_environment("nope", status="ready")
    store.create_environment("env1", "l", "t")
    with pytest.raises(TypeError):
        store.update_environment("env1", lock_id="other")
    with pytest.raises(ValueError, match="status"):
        store.update_environment("env1", status="done")
    with pytest.raises(ValueError, match="status"):
        store.create_environment("env2", "l", "t", status="done")  # type: ignore[arg-type]
    assert store.get_environment("env2") is None


def test_creation_race_has_one_winner(store: Store) -> None:
    barrier = threading.Barrier(8)
    results: list[tuple[EnvironmentRecord, bool]] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            barrier.wait()
            results.append(store.create_environment("env-race", "lock", "target"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert all(record == results[0][0] for record, _ in results)


def test_packages_and_environments_containing(store: Store) -> None:
    for env in ("env-a", "env-b", "env-c"):
        store.create_environment(env, "l", "t")
    store.set_environment_packages("env-a", [("Foo_Bar", "1.0"), ("six", "1.16.0")])
    store.set_environment_packages("env-b", [("foo-bar", "2.0")])
    assert store.environments_containing("foo.bar") == ["env-a", "env-b"]
    assert store.environments_containing("FOO-BAR", version="1.0.0") == ["env-a"]
    assert store.environments_containing("six") == ["env-a"]
    assert store.environments_containing("nothing") == []
    store.set_environment_packages("env-a", [("six", "1.16.0")])  # replaces the list
    assert store.environments_containing("foo-bar") == ["env-b"]
    with pytest.raises(NotFound):
        store.set_environment_packages("nope", [("six", "1.0")])


def _env_with_graph(store: Store) -> None:
    r"""An environment requesting app, tool and web, with this stored metadata::

        app 1.0 ──> lib 1.0 ──> util 1.0 ──> lib          (a cycle)
                        └──> colorama; sys_platform == "win32"   (not in the environment)
        tool 1.0 ──> util, zed
        web 1.0 ──> x ──> z
              └──> y ──> z                                (two shortest chains)
        app 2.0 ──> zed                                   (not the pinned version: ignored)
    """
    graph = {
        ("app", "1.0"): ["lib>=1"], ("app", "2.0"): ["zed"],
        ("lib", "1.0"): ["util", "colorama; sys_platform == 'win32'"], ("util", "1.0"): ["lib"],
        ("tool", "1.0"): ["util", "zed"], ("zed", "1.0"): [],
        ("web", "1.0"): ["x", "y"], ("x", "1.0"): ["z"], ("y", "1.0"): ["z"], ("z", "1.0"): [],
    }
    for (name, version), requires in graph.items():
        meta = CoreMetadata.create(name, version, requires)
        store.put_metadata(f"sha256:{name}-{version}", meta)
        # A second file (a wheel) of the same version repeats the same edges.
        store.put_metadata(f"url:{name}-{version}.whl", meta)
    store.create_environment("env", "lock", "target", roots=["App", "tool", "web"])
    store.set_environment_packages("env", [
        (name, "1.0.0" if name == "lib" else version)  # spelled differently, same version
        for (name, version) in graph if version == "1.0"])


def test_why_gives_shortest_chains_from_each_root(store: Store) -> None:
    _env_with_graph(store)
    assert store.why("env", "util") == [["app", "lib", "util"], ["tool", "util"]]
    assert store.why("env", "LIB") == [["app", "lib"], ["tool", "util", "lib"]]
    assert store.why("env", "zed") == [["tool", "zed"]]
    assert store.why("env", "z") == [["web", "x", "z"], ["web", "y", "z"]]
    assert store.why("env", "z", limit=1) == [["web", "x", "z"]]
    assert store.why("env", "app") == [["app"]]
    assert store.why("env", "colorama") == []  # not in the environment
    with pytest.raises(NotFound):
        store.why("nope", "util")


def test_why_without_roots_or_metadata(store: Store) -> None:
    store.create_environment("bare", "lock", "target", roots=["a"])
    store.set_environment_packages("bare", [("a", "1.0"), ("b", "1.0")])
    assert store.why("bare", "a") == [["a"]]
    assert store.why("bare", "b") == []  # no stored metadata links a to b
    store.update_environment("bare", roots=[])
    assert store.why("bare", "a") == []
