"""One pin → its installed fragment, through the caches: fragment, wheel, built wheel.

A fragment is keyed by (wheel sha256, layout key). For a wheel pin the sha256 is the lock's, so a
cached fragment needs no wheel at all. For an sdist pin the built wheel's sha256 is read from
``built.json`` next to the cached built wheel (built wheels are cached per sdist hash and build
interpreter). A fragment is committed by renaming its ``.tar.zst`` after its ``.json`` (file list,
scripts, size): both present and the sizes agreeing means complete.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from venvd.builder._cache import BuildCache, atomic_path, no_space
from venvd.builder._install import install_wheel
from venvd.builder._layout import Layout
from venvd.builder._metadata_check import metadata_disagreement, requires_dist, wheel_metadata
from venvd.builder._model import BuildOptions, Fetcher, MetadataSource
from venvd.builder._pack import FragmentWriter
from venvd.builder._select import Choice
from venvd.builder._zipcheck import UnsafeZip, check_wheel_zip
from venvd.errors import BuildError, NoCompatibleDistribution, UpstreamError
from venvd.sandbox import Sandbox, build_key
from venvd.target import Target

__all__ = ["Fragment", "FragmentJob"]

# 2: the info records the expanded size; 3: its sha256 (clients fetch and verify fragments one by
# one) and the Requires-Dist of the installed METADATA (the build checks consistency).
_FRAGMENT_FORMAT = 3


@dataclasses.dataclass(frozen=True)
class Fragment:
    choice: Choice
    path: Path
    wheel_filename: str
    files: tuple[str, ...]
    scripts: tuple[str, ...]
    expanded_size: int  # bytes of its members' data
    sha256: str  # of the fragment's bytes (its zstd frame)
    size: int  # of the fragment's bytes
    requires: tuple[str, ...]  # Requires-Dist of the installed METADATA, as written there


class FragmentJob:
    """Produces the fragment of one pin; `run` is called once, from a worker thread."""

    def __init__(self, choice: Choice, *, cache: BuildCache, layout: Layout, target: Target,
                 options: BuildOptions, fetch: Fetcher,
                 report: Callable[[str, str | None], None],
                 builds: threading.BoundedSemaphore, sandbox: Sandbox,
                 metadata: MetadataSource | None = None) -> None:
        self.choice = choice
        self.name = canonicalize_name(choice.package.name)
        self.cache = cache
        self.layout = layout
        self.target = target
        self.options = options
        self.fetch = fetch
        self.report = report
        self.builds = builds
        self.sandbox = sandbox
        self.metadata = metadata

    # -- planning (for progress totals; the real work re-checks the caches) ---------------------
    def planned_steps(self) -> list[str]:
        file = self.choice.file
        if self.choice.kind == "wheel":
            if self._cached_fragment(file.sha256, file.filename) is not None:
                return []
            fetched = self.cache.cached_file(file.sha256, file.filename, file.size) is not None
            return ["install"] if fetched else ["fetch", "install"]
        built = self._cached_built()
        if built is not None:
            wheel, sha = built
            return [] if self._cached_fragment(sha, wheel.name) is not None else ["install"]
        fetched = self.cache.cached_file(file.sha256, file.filename, file.size) is not None
        return ["build", "install"] if fetched else ["fetch", "build", "install"]

    # -- work -----------------------------------------------------------------------------------
    def run(self) -> Fragment:
        file = self.choice.file
        if self.choice.kind == "wheel":
            fragment = self._cached_fragment(file.sha256, file.filename)
            if fragment is not None:
                return fragment
            with no_space("fetch", self.name):
                wheel, sha = self._download(), file.sha256
        else:
            with no_space("build wheel", self.name):
                wheel, sha = self._built_wheel()
            self._check_built_compatible(wheel)
            fragment = self._cached_fragment(sha, wheel.name)
            if fragment is not None:
                return fragment
        with no_space("install", self.name):
            return self._install(wheel, sha)

    def _download(self) -> Path:
        file = self.choice.file
        cached = self.cache.cached_file(file.sha256, file.filename, file.size)
        if cached is not None:
            return cached
        dest = self.cache.wheel_path(file.sha256, file.filename)
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.fetch(file.url, file.sha256, dest)
        if not dest.is_file():
            raise UpstreamError(f"downloading {file.filename} left no file", url=file.url,
                                project=self.name)
        self.cache.share(dest)
        self.report("fetch", self.name)
        return dest

    def _cached_built(self) -> tuple[Path, str] | None:
        directory = self.cache.built_dir(self.choice.file.sha256, build_key())
        try:
            marker = directory / "built.json"
            if not marker.exists():
                self.cache.fetch_shared(marker)
            info = json.loads(marker.read_text())
            wheel = directory / info["filename"]
            if not wheel.exists():
                self.cache.fetch_shared(wheel)
            if wheel.stat().st_size == info["size"]:
                self.cache.touch(wheel, directory / "built.json")
                return wheel, str(info["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    def _built_wheel(self) -> tuple[Path, str]:
        cached = self._cached_built()
        if cached is not None:
            return cached
        sdist = self._download()
        directory = self.cache.built_dir(self.choice.file.sha256, build_key())
        with self.builds, tempfile.TemporaryDirectory(prefix="venvd-built-",
                                                       dir=self.sandbox.work_dir) as out:
            limits = dataclasses.replace(self.sandbox.limits,
                                         timeout=self.options.build_timeout,
                                         memory_mb=self.options.build_memory_mb)
            built = self.sandbox.build_wheel(sdist, Path(out), package=self.name, limits=limits)
            self._check_built_name(built)
            sha, size = _sha256(built)
            final = directory / built.name
            with atomic_path(final) as tmp:
                shutil.copyfile(built, tmp)  # the build dir may be on another filesystem
            info = {"filename": built.name, "sha256": sha, "size": size}
            with atomic_path(directory / "built.json") as tmp:
                tmp.write_text(json.dumps(info, sort_keys=True))
            self.cache.share(final, directory / "built.json")
        self.report("build", self.name)
        return final, sha

    def _check_built_name(self, wheel: Path) -> None:
        try:
            name = parse_wheel_filename(wheel.name)[0]
        except InvalidWheelFilename:
            raise BuildError(f"building {self.name} gave {wheel.name}, not a valid wheel name",
                             package=self.name, step="build wheel") from None
        if name != self.name:
            raise BuildError(f"building {self.name} gave a wheel of another project ({wheel.name})",
                             package=self.name, step="build wheel")

    def _check_built_compatible(self, wheel: Path) -> None:
        tags = parse_wheel_filename(wheel.name)[3]
        if self.target.tag_rank(tags) is not None:
            return
        package = self.choice.package
        wanted = str(self.target.compatible_tags[0]) if self.target.compatible_tags else "?"
        raise NoCompatibleDistribution(
            f"{package.name} {package.version} has no wheel for the target (most preferred tag "
            f"{wanted}) and its sdist builds a platform-specific wheel ({wheel.name}); a "
            f"platform-specific wheel can only be built for the server's own platform "
            f"({build_key()})", package=self.name)

    def _install(self, wheel: Path, sha: str) -> Fragment:
        self._check_zip(wheel)
        requires = self._check_metadata(wheel)
        final = self.cache.fragment_path(sha, self.layout.key)
        with atomic_path(final) as tmp:
            with tmp.open("wb") as out, FragmentWriter(out) as writer:
                installed = install_wheel(wheel, writer, self.layout, self.name)
            self.report("install", self.name)
            digest, size = _sha256(tmp)
            info = {"format": _FRAGMENT_FORMAT, "wheel": wheel.name, "size": size,
                    "sha256": digest, "requires": list(requires),
                    "files": list(installed.files), "scripts": list(installed.scripts),
                    "expanded_size": writer.expanded_size}
            # The info first: the fragment's rename, on leaving this block, commits both.
            with atomic_path(self.cache.fragment_info_path(sha, self.layout.key)) as info_tmp:
                info_tmp.write_text(json.dumps(info, sort_keys=True))
        self.cache.share(final, self.cache.fragment_info_path(sha, self.layout.key))
        return Fragment(self.choice, final, wheel.name, installed.files, installed.scripts,
                        writer.expanded_size, digest, size, requires)

    def _check_zip(self, wheel: Path) -> None:
        """Refuse an ambiguous or oversized zip before anything of it is installed or cached; its
        cached copy is removed (hostile bytes stay nowhere)."""
        try:
            check_wheel_zip(wheel, max_expanded=self.options.max_wheel_expanded_size,
                            max_ratio=self.options.max_wheel_expansion_ratio)
        except (UnsafeZip, OSError) as exc:
            wheel.unlink(missing_ok=True)
            raise BuildError(f"refusing to install {wheel.name} of {self.name}: {exc}",
                             package=self.name, step="install") from None

    def _check_metadata(self, wheel: Path) -> tuple[str, ...]:
        """The wheel's own METADATA must be what the lock and resolution took it for; else the
        metadata source forgets what it had (so no cache keeps it) and the build fails. Its
        Requires-Dist, for the environment's consistency check. A wheel built from an sdist is
        compared with the lock's name and version only (resolution read the sdist's metadata)."""
        file, package = self.choice.file, self.choice.package
        try:
            data = wheel_metadata(wheel)
        except (ValueError, OSError) as exc:
            raise BuildError(f"cannot read the METADATA of {wheel.name}: {exc}", package=self.name,
                             step="verify metadata") from None
        expected = None
        if self.metadata is not None and self.choice.kind == "wheel":
            expected = self.metadata.expected(file)
        problem = metadata_disagreement(data, package, expected)
        if problem is None:
            return requires_dist(data)
        if self.metadata is not None:
            self.metadata.forget(file)
        raise BuildError(f"{wheel.name} is not what {package.name} {package.version} was resolved "
                         f"as: {problem}; the index's metadata for it is dropped, resolve again",
                         package=self.name, step="verify metadata")

    def _cached_fragment(self, sha: str, wheel_filename: str) -> Fragment | None:
        path = self.cache.fragment_path(sha, self.layout.key)
        info_path = self.cache.fragment_info_path(sha, self.layout.key)
        try:
            if not (info_path.exists() and path.exists()):
                # The marker first: found there, the fragment it describes is there too.
                self.cache.fetch_shared(info_path, path)
            info: dict[str, Any] = json.loads(info_path.read_text())
            if info.get("format") != _FRAGMENT_FORMAT or path.stat().st_size != info["size"]:
                return None
            self.cache.touch(path, self.cache.fragment_info_path(sha, self.layout.key))
            return Fragment(self.choice, path, wheel_filename, tuple(info["files"]),
                            tuple(info["scripts"]), int(info["expanded_size"]),
                            str(info["sha256"]), int(info["size"]), tuple(info["requires"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
