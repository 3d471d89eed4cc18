"""The process caches stay within their entry bounds (settings), however many distinct requests come:
counted entries, not timings or RSS (bench/memory_bench.py measures the RSS of a real server)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.service.conftest import ApiServer
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.service import Service
from venvd.service._request import ResolveRequest
from venvd.target import target_from_request

TARGET = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}


@pytest.fixture
def many(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    """p0 … p7, each in versions 1.0 … 3.0, and top 1.0 ──▶ p0, p1."""
    index = local_index()
    for i in range(8):
        for version in ("1.0", "2.0", "3.0"):
            index.add(make_wheel(tmp_path / "src", f"p{i}", version))
    index.add(make_wheel(tmp_path / "src", "top", "1.0", requires_dist=["p0", "p1"]))
    return index


def test_resolution_caches_keep_their_entry_bounds(
        many: LocalIndex, make_service: Callable[..., Service]) -> None:
    service = make_service(many, memo_metadata_entries=5, memo_page_entries=3,
                           resolution_cache_entries=4)
    seen: list[dict[str, int]] = []
    for i in range(8):
        for version in ("1.0", "2.0", "3.0"):
            request = service.make_request([f"p{i}=={version}", "top"], target_from_request(TARGET))
            service.resolve(request)
            seen.append(service.cache_sizes()["resolutions"])
    # Full caches were used (the bounds were reached), and never passed.
    assert max(s["metadata"] for s in seen) == 5
    assert max(s["pages"] for s in seen) == 3
    assert max(s["resolutions"] for s in seen) == 4
    assert all(s["metadata"] <= 5 and s["pages"] <= 3 and s["resolutions"] <= 4 for s in seen)
    # The newest answers are the ones kept: asking again is a memory hit, an old one is not.
    newest = service.make_request(["p7==3.0", "top"], target_from_request(TARGET))
    oldest = service.make_request(["p0==1.0", "top"], target_from_request(TARGET))
    assert service.remembered(newest) is not None
    assert service.remembered(oldest) is None
    assert service.resolve(oldest).cached  # from the store, which keeps every answer


def test_pages_are_bounded_by_the_files_they_list(
        many: LocalIndex, make_service: Callable[..., Service]) -> None:
    """Each page of p<i> lists three files: a bound of four files holds one page at a time."""
    service = make_service(many, memo_page_files=4)
    seen = []
    for i in range(8):
        service.resolve(service.make_request([f"p{i}"], target_from_request(TARGET)))
        seen.append(service.cache_sizes()["resolutions"])
    assert all(s["page_files"] <= 4 and s["pages"] <= 1 for s in seen), seen
    assert max(s["pages"] for s in seen) == 1


def test_resolution_cache_weight_bound(many: LocalIndex,
                                       make_service: Callable[..., Service]) -> None:
    """Answers weigh their files, packages and target tags: a bound of one and a half answers'
    weight keeps one answer at a time."""
    def request(service: Service, version: str) -> ResolveRequest:
        return service.make_request([f"p2=={version}", "top"], target_from_request(TARGET))

    probe = make_service(many)
    probe.resolve(request(probe, "1.0"))
    weight = probe.cache_sizes()["resolutions"]["resolution_weight"]
    assert weight > 0
    service = make_service(many, resolution_cache_weight=weight * 3 // 2)
    for version in ("1.0", "2.0", "3.0"):
        service.resolve(request(service, version))
        sizes = service.cache_sizes()["resolutions"]
        assert sizes["resolutions"] == 1 and sizes["resolution_weight"] <= weight * 3 // 2
    assert service.remembered(request(service, "3.0")) is not None


def test_recipe_cache_keeps_its_bound(many: LocalIndex, make_service: Callable[..., Service],
                                      tmp_path: Path) -> None:
    service = make_service(many, recipe_cache_entries=2)
    server = ApiServer(service)
    try:
        with server.client() as http:
            for i in range(4):
                doc = service.environments.wait(service.environments.create_from_json(
                    {"requirements": [f"p{i}"], "target": TARGET})["id"], timeout=120)
                assert doc["status"] == "ready", doc
                answer = http.get(f"/v1/environments/{doc['id']}/artifact")
                assert hashlib.sha256(answer.content).hexdigest() == doc["sha256"]
                assert service.cache_sizes()["artifacts"]["recipes"] == min(i + 1, 2)
    finally:
        server.stop()
