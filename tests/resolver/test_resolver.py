"""Resolver behaviour beyond the data cases: the files a lock lists, prefetching, reporting,
laziness, limits and error mapping. Indexes are described as data and served by MemorySource."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from packaging.requirements import Requirement

from tests.resolver.memory import INDEX_URL, MemorySource
from venvd.dist import CoreMetadata, DistFile
from venvd.errors import (
    InvalidRequirement,
    NoCompatibleDistribution,
    ResolutionImpossible,
    UpstreamError,
)
from venvd.resolver import NullReporter, ResolveOptions, resolve
from venvd.target import Target

LINUX_311 = Target.from_shorthand("3.11", "manylinux_2_28_x86_64")


def reqs(*texts: str) -> list[Requirement]:
    return [Requirement(t) for t in texts]


def test_lock_lists_only_usable_files() -> None:
    """Every file of the pinned version usable on the target, and nothing else."""
    index = {"a": {"1.0": {
        "requires_dist": ["b"],
        "requires_python": ">=3.8",
        "sdist": True,
        "upload_time": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "wheels": [
            "py3-none-any",                                        # usable
            "cp311-cp311-manylinux_2_17_x86_64",                   # usable
            "cp311-cp311-win_amd64",                               # another OS
            "cp312-cp312-manylinux_2_17_x86_64",                   # another Python
            "cp311-cp311-manylinux_2_34_x86_64",                   # newer glibc than the target
            {"file": "a-1.0-1-py3-none-any.whl", "yanked": "bad build"},  # yanked, not pinned
            {"file": "a-1.0-2-py3-none-any.whl", "requires_python": "<3"},  # excludes 3.11
            {"file": "a-1.0-3-py3-none-any.whl", "no_hash": True},          # no sha256
            {"file": "a-1.0-4-py3-none-any.whl",                            # after exclude_newer
             "upload_time": datetime(2025, 1, 1, tzinfo=UTC)},
        ],
    }}, "b": {"1.0": {}}}
    options = ResolveOptions(exclude_newer=datetime(2024, 6, 1, tzinfo=UTC))
    lock = resolve(reqs("a"), LINUX_311, MemorySource(index), options=options)

    a = lock.package("a")
    assert a is not None
    assert [f.filename for f in a.files] == [
        "a-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        "a-1.0-py3-none-any.whl",
        "a-1.0.tar.gz",
    ]
    first = a.files[0]
    assert first.url == "https://files.test/a-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    assert len(first.sha256) == 64
    assert first.size is not None and first.size > 1000
    assert first.upload_time == "2024-01-02T03:04:05Z"
    assert a.requires_python == ">=3.8"
    assert a.index == INDEX_URL
    assert a.dependencies == ("b",)


def test_lock_records_request_and_target() -> None:
    index = {"a": {"1.0": {}}, "b": {"1.0": {}}}
    lock = resolve(reqs("b", "a>=1"), LINUX_311, MemorySource(index), constraints=reqs("b<2"))
    assert lock.requirements == ("a>=1", "b")
    assert lock.constraints == ("b<2",)
    assert lock.target == LINUX_311.to_json()
    assert [p.name for p in lock.packages] == ["a", "b"]


def test_pin_whose_files_lack_hashes_is_no_compatible_distribution() -> None:
    index = {"a": {"1.0": {"no_hash": True}}}
    with pytest.raises(NoCompatibleDistribution) as caught:
        resolve(reqs("a"), LINUX_311, MemorySource(index))
    assert caught.value.package == "a"


def test_metadata_is_read_lazily() -> None:
    """Only the chosen version's metadata is read: no crawling of a project's history."""
    index = {"a": {f"1.{i}": {} for i in range(50)}}
    source = MemorySource(index)
    lock = resolve(reqs("a"), LINUX_311, source)
    assert lock.packages[0].version == "1.49"
    assert source.metadata_reads == ["a-1.49-py2.py3-none-any.whl"]
    assert source.pages == ["a"]


def test_prefetch_hints_dependencies_and_next_candidates() -> None:
    index: dict[str, Any] = {
        "app": {"1.0": {"requires_dist": ["b", "c", "d"]}},
        "b": {"1.0": {}}, "c": {"1.0": {}}, "d": {"1.0": {}},
        # Metadata (not the index) excludes the target: the resolver walks down the versions.
        "e": {f"{i}.0": {"requires_python": ">=4", "index_requires_python": False}
              for i in range(2, 10)} | {"1.0": {}},
    }
    source = MemorySource(index)
    resolve(reqs("app", "e"), LINUX_311, source)
    log = source.log
    # The dependencies of app were announced together, before any of them was read.
    deps = [f"{n}-1.0-py2.py3-none-any.whl" for n in "bcd"]
    announced = [log.index(("prefetch", d)) for d in deps]
    assert max(announced) < min(log.index(("read", d)) for d in deps)
    # Once e's first choice failed, the next ones were announced ahead of their reads.
    assert ("prefetch", "e-9.0-py2.py3-none-any.whl") not in log  # the first choice is just read
    for version in ("7.0", "6.0", "5.0", "4.0", "3.0", "2.0"):
        name = f"e-{version}-py2.py3-none-any.whl"
        assert log.index(("prefetch", name)) < log.index(("read", name))
    assert len(source.prefetched) == len(set(source.prefetched)), "a file was announced twice"


class Recorder(NullReporter):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def pinning(self, name: str, version: str) -> None:
        self.events.append(("pinning", name, version))

    def rejecting(self, name: str, version: str, reason: str) -> None:
        self.events.append(("rejecting", name, version, reason))

    def backtracking(self, causes: Sequence[str]) -> None:
        self.events.append(("backtracking", *causes))

    def progress(self, rounds: int, pinned: int, pending: int) -> None:
        self.events.append(("progress", rounds, pinned, pending))


def test_reporter_hears_pins_rejections_backtracking_and_progress() -> None:
    index: dict[str, Any] = {
        "a": {"1.0": {}, "2.0": {"requires_dist": ["b", "c"]}},
        "b": {"1.0": {"requires_dist": ["d>=2"]}},
        "c": {"1.0": {"requires_dist": ["d<2"]}},
        "d": {"1.0": {}, "2.0": {}},
        "m": {"1.0": {}, "2.0": {"metadata_name": "other"}},
    }
    recorder = Recorder()
    resolve(reqs("a", "m"), LINUX_311, MemorySource(index), reporter=recorder)
    kinds = {e[0] for e in recorder.events}
    assert kinds == {"pinning", "rejecting", "backtracking", "progress"}
    assert ("pinning", "a", "2.0") in recorder.events  # tried first, undone later
    assert recorder.events[-1][0] == "progress"
    pins = [e for e in recorder.events if e[0] == "pinning"]
    assert pins.index(("pinning", "a", "2.0")) < pins.index(("pinning", "a", "1.0"))
    mismatch = [e for e in recorder.events if e[0] == "rejecting" and e[1] == "m"]
    assert mismatch and "other" in mismatch[0][3]
    assert any("requires d" in " ".join(e[1:]) for e in recorder.events if e[0] == "backtracking")


def test_too_many_rounds_is_resolution_impossible() -> None:
    index = {"a": {"1.0": {"requires_dist": ["b"]}}, "b": {"1.0": {"requires_dist": ["c"]}},
             "c": {"1.0": {}}}
    with pytest.raises(ResolutionImpossible) as caught:
        resolve(reqs("a"), LINUX_311, MemorySource(index), max_rounds=2)
    assert "2 rounds" in caught.value.message


def test_upstream_errors_pass_through() -> None:
    class Failing(MemorySource):
        def metadata(self, file: DistFile) -> CoreMetadata:
            if file.project == "b":
                raise UpstreamError("index answered 503", url=file.url, project="b")
            return super().metadata(file)

    index = {"a": {"1.0": {"requires_dist": ["b"]}}, "b": {"1.0": {}}}
    with pytest.raises(UpstreamError) as caught:
        resolve(reqs("a"), LINUX_311, Failing(index))
    assert caught.value.project == "b"


def test_direct_url_requirement_is_invalid() -> None:
    with pytest.raises(InvalidRequirement):
        resolve(reqs("a @ https://example.test/a-1.0.tar.gz"), LINUX_311, MemorySource({}))


def test_same_request_gives_same_lock_id() -> None:
    index = {"a": {"1.0": {"requires_dist": ["b", "c"]}, "2.0": {"requires_dist": ["c<2"]}},
             "b": {"1.0": {}}, "c": {"1.0": {"sdist": True}, "2.0": {}}}
    ids = {resolve(reqs("a", "b"), LINUX_311, MemorySource(index, reverse=r)).id
           for r in (False, True, False)}
    assert len(ids) == 1


def test_empty_request_gives_empty_lock() -> None:
    lock = resolve([], LINUX_311, MemorySource({}))
    assert lock.packages == ()


def test_request_that_rules_out_a_dependency_costs_no_backtracking() -> None:
    """Each botocore that needs a urllib3 the request forbids is dropped once, when read, so
    walking down 40 boto3 versions takes a handful of rounds and reads each file at most once."""
    index: dict[str, Any] = {"urllib3": {"1.25.3": {}, "1.26.0": {}}, "boto3": {}, "botocore": {}}
    for minor in range(1, 41):
        index["boto3"][f"1.{minor}"] = {"requires_dist": [f"botocore>=1.{minor},<1.{minor + 1}"]}
        for patch in range(3):
            needs = "urllib3<1.26" if minor == 1 else "urllib3>=1.25.4"
            index["botocore"][f"1.{minor}.{patch}"] = {"requires_dist": [needs]}
    recorder = Recorder()
    source = MemorySource(index)
    lock = resolve(reqs("boto3", "urllib3<1.25.4"), LINUX_311, source, reporter=recorder)
    assert {p.name: p.version for p in lock.packages} == {
        "boto3": "1.1", "botocore": "1.1.2", "urllib3": "1.25.3"}
    rounds = max(e[1] for e in recorder.events if e[0] == "progress")
    assert rounds < 10
    assert len(source.metadata_reads) == len(set(source.metadata_reads))
    rejected = [e for e in recorder.events if e[0] == "rejecting" and e[1] == "botocore"]
    assert "requires urllib3>=1.25.4 while the request requires urllib3<1.25.4" in rejected[0][3]


def test_a_candidate_whose_dependency_is_ruled_out_in_every_version_is_dropped_when_read() -> None:
    """boto3 versions whose whole botocore range needs a urllib3 the request forbids are dropped
    as they are read (once botocore versions were ruled out so), instead of being pinned and
    tried against each botocore in turn."""
    index: dict[str, Any] = {"urllib3": {"1.25.3": {}, "1.26.0": {}}, "boto3": {}, "botocore": {}}
    for minor in range(1, 11):
        index["boto3"][f"1.{minor}"] = {"requires_dist": [f"botocore>=1.{minor},<1.{minor + 1}"]}
        for patch in range(3):
            needs = "urllib3<1.26" if minor == 1 else "urllib3>=1.25.4"
            index["botocore"][f"1.{minor}.{patch}"] = {"requires_dist": [needs]}
    recorder = Recorder()
    lock = resolve(reqs("boto3", "urllib3<1.25.4"), LINUX_311, MemorySource(index),
                   reporter=recorder)
    assert {p.name: p.version for p in lock.packages}["boto3"] == "1.1"
    dropped = {e[2]: e[3] for e in recorder.events if e[0] == "rejecting" and e[1] == "boto3"}
    # 1.10 is tried as resolvelib's first choice; every older one but 1.1 is dropped when read.
    assert set(dropped) >= {f"1.{minor}" for minor in range(2, 10)}
    assert "every such version is ruled out by its own dependencies" in dropped["1.5"]
