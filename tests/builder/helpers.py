"""Helpers for builder and materializer tests: an httpx fetcher, locks over a local index."""

from __future__ import annotations

import hashlib
import os
import tarfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx
import pytest
import zstandard
from packaging.utils import parse_sdist_filename, parse_wheel_filename

from tests.support.index_server import LocalIndex
from venvd.builder import BuildCache
from venvd.errors import HashMismatch, UpstreamError
from venvd.lock import Lock, LockedFile, LockedPackage
from venvd.target import Target

__all__ = ["HttpFetcher", "cache", "fetcher", "index", "lock_for", "read_members", "windows_target"]


class HttpFetcher:
    """The `Fetcher` contract over httpx: stream to a temp name, verify sha256, rename into place.

    `fail_on` names file names whose download raises UpstreamError (an interrupted build; "*" for
    all); `calls` records every URL asked for.
    """

    def __init__(self, fail_on: Iterable[str] = ()) -> None:
        self.fail_on = set(fail_on)
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, url: str, sha256: str, dest: Path) -> None:
        with self._lock:
            self.calls.append(url)
        if dest.name in self.fail_on or "*" in self.fail_on:
            raise UpstreamError(f"injected failure for {dest.name}", url=url)
        tmp = dest.with_name(f".tmp-fetch-{os.getpid()}-{threading.get_ident()}-{dest.name}")
        digest = hashlib.sha256()
        try:
            # A client per call: nothing to close, whatever the test does with the fetcher.
            with httpx.stream("GET", url, timeout=30) as response:
                if response.status_code != 200:
                    raise UpstreamError(f"GET {url}: HTTP {response.status_code}", url=url)
                with tmp.open("wb") as f:
                    for chunk in response.iter_bytes():
                        digest.update(chunk)
                        f.write(chunk)
            if digest.hexdigest() != sha256:
                raise HashMismatch(f"{url}: sha256 {digest.hexdigest()} != {sha256}", url=url)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)


def lock_for(index: LocalIndex, files: Iterable[Path], requirements: Iterable[str] = (),
             target: Target | None = None) -> Lock:
    """A lock pinning `files` (already added to `index`), grouped by project, for `target`."""
    grouped: dict[str, tuple[str, list[LockedFile]]] = {}
    for path in files:
        if path.name.endswith(".whl"):
            name, version, _b, _t = parse_wheel_filename(path.name)
        else:
            name, version = parse_sdist_filename(path.name)
        entry = index.files[path.name]
        locked = LockedFile(filename=path.name, url=index.file_url(path.name),
                            sha256=entry.sha256, size=entry.path.stat().st_size)
        grouped.setdefault(str(name), (str(version), []))[1].append(locked)
    packages = tuple(LockedPackage(name=name, version=version, files=tuple(fs), index=None)
                     for name, (version, fs) in sorted(grouped.items()))
    return Lock(packages=packages, target=(target or Target.current()).to_json(),
                requirements=tuple(requirements) or tuple(sorted(grouped)))


def windows_target(python: str = "3.11") -> Target:
    """A CPython on Windows x64 (as pip would describe it), built by hand."""
    major, minor = python.split(".")
    cp = f"cp{major}{minor}"
    tags = [f"{cp}-{cp}-win_amd64", f"{cp}-abi3-win_amd64", f"{cp}-none-win_amd64",
            f"py{major}{minor}-none-win_amd64", f"py{major}-none-win_amd64",
            f"{cp}-none-any", f"py{major}{minor}-none-any", f"py{major}-none-any"]
    env = {
        "implementation_name": "cpython", "implementation_version": f"{python}.0",
        "os_name": "nt", "platform_machine": "AMD64", "platform_python_implementation": "CPython",
        "platform_release": "10", "platform_system": "Windows", "platform_version": "10.0",
        "python_full_version": f"{python}.0", "python_version": python, "sys_platform": "win32",
    }
    return Target.from_json({"marker_environment": env, "compatible_tags": tags})


def read_members(artifact: Path) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    """Every member of an artifact, read as the client reads it (zstd across frames, tar stream)."""
    members: dict[str, tuple[tarfile.TarInfo, bytes]] = {}
    with artifact.open("rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        with tarfile.open(fileobj=reader, mode="r|") as tf:
            for member in tf:
                data = tf.extractfile(member)
                members[member.name] = (member, data.read() if data is not None else b"")
    return members


@pytest.fixture
def fetcher() -> HttpFetcher:
    return HttpFetcher()


@pytest.fixture
def cache(tmp_path: Path) -> BuildCache:
    return BuildCache(tmp_path / "cache")


@pytest.fixture
def index(local_index: Callable[..., LocalIndex]) -> LocalIndex:
    return local_index()
