"""Values of the builder: options, events, the artifact, the fetcher contract and the environment
key.

The environment key is the identity of an artifact: sha256 over (lock id, target key, canonical
build options, BUILDER_FORMAT_VERSION). The same key always names the same bytes; bump
BUILDER_FORMAT_VERSION whenever the bytes produced for the same inputs change (archive layout,
manifest shape, installer behaviour), which also retires every cached artifact of the old format.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Protocol

from venvd.dist import CoreMetadata
from venvd.lock import Lock, LockedFile, canonical_json
from venvd.objects import Recipe
from venvd.target import Target

__all__ = [
    "BUILDER_FORMAT_VERSION",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "PLACEHOLDER_INTERPRETER",
    "PLACEHOLDER_SHEBANG",
    "Artifact",
    "BuildEvent",
    "BuildOptions",
    "Fetcher",
    "MetadataSource",
    "environment_key",
]

# 2: the manifest declares its `members` count and `expanded_size` (the client's bounds).
# 3: packages carry their fragment's sha256, size and offset; "checked" holds the dependency check.
BUILDER_FORMAT_VERSION = 3
MANIFEST_NAME = "venvd-manifest.json"
MANIFEST_FORMAT = "venvd-environment/1"
# The interpreter written into console scripts; the client replaces it with the venv's own python.
# Windows gui launchers get "/__venvd_pythonw__" (installer swaps python for pythonw in the name).
PLACEHOLDER_INTERPRETER = "/__venvd_python__"
PLACEHOLDER_SHEBANG = b"#!" + PLACEHOLDER_INTERPRETER.encode()


class Fetcher(Protocol):
    """Downloads `url` to `dest`, verifying `sha256` before renaming into place.

    Must never leave a partial file at `dest`; raises venvd.errors.UpstreamError (HashMismatch when
    the bytes are wrong). The index layer's `IndexClient.download` has this shape.
    """

    def __call__(self, url: str, sha256: str, dest: Path) -> None: ...


class MetadataSource(Protocol):
    """The core metadata resolution used for a file, so that a build can compare a wheel's own.

    `expected` gives what resolution read for `file` (a PEP 658 file, ranges, ...), or None when
    it is not known; `forget` is called when the wheel disagrees, to drop that metadata (and
    what was resolved from it) so the next resolution reads it again.
    """

    def expected(self, file: LockedFile) -> CoreMetadata | None: ...

    def forget(self, file: LockedFile) -> None: ...


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """Server-side build options; all but the wheel bounds are part of the environment key."""

    no_build: bool = False  # forbid building wheels from sdists
    build_timeout: float = 600.0  # seconds of wall and CPU time per sdist build
    build_memory_mb: int = 4096  # address-space limit of an sdist build
    # Bounds on what one wheel may expand to. Not part of the key: they refuse inputs, and an
    # environment that was built fits whatever bounds are set.
    max_wheel_expanded_size: int = 16 * 1024**3
    max_wheel_expansion_ratio: float = 200.0

    def to_json(self) -> dict[str, Any]:
        return {
            "no_build": self.no_build,
            "build_timeout": float(self.build_timeout),
            "build_memory_mb": int(self.build_memory_mb),
        }


def environment_key(lock: Lock, target: Target, options: BuildOptions,
                    tests: dict[str, Any] | None = None) -> str:
    """The environment id: sha256 hex of the lock id, target key, options and builder format, and
    the request's tests when it has some (an environment with tests can fail where the same lock
    without them succeeds; without tests the id is what it always was)."""
    body: dict[str, Any] = {
        "lock": lock.id,
        "target": target.key,
        "options": options.to_json(),
        "builder_format": BUILDER_FORMAT_VERSION,
    }
    if tests:
        body["tests"] = tests
    return hashlib.sha256(canonical_json(body)).hexdigest()


@dataclasses.dataclass(frozen=True)
class Artifact:
    """A built environment: `size` bytes whose sha256 is `sha256`, the concatenation of the parts
    of `recipe` (the manifest frame, cached fragments by object key, the end frame), described by
    the recipe file `recipe_path` in the cache under `root`.

    No concatenated copy is made by the build: the service serves the parts. `path` writes one
    (``environments-v1/<key>.tar.zst``) on first use, for callers that want a single file."""

    key: str
    sha256: str
    size: int
    manifest: dict[str, Any]
    recipe: Recipe
    root: Path

    @property
    def recipe_path(self) -> Path:
        return self.root / "environments-v1" / f"{self.key}.json"

    @property
    def path(self) -> Path:
        """The artifact as one file in the cache, written (first writer wins) if it is not there;
        OSError when a fragment it needs is gone (build again)."""
        from venvd.builder._cache import publish_once, temp_sibling
        from venvd.builder._pack import write_concatenation

        final = self.root / "environments-v1" / f"{self.key}.tar.zst"
        if final.exists():
            if final.stat().st_size == self.size:
                return final
            final.unlink()  # not these bytes (an older format's leftover): write them
        head, tail = self.recipe.parts[0], self.recipe.parts[-1]
        assert head.data is not None and tail.data is not None
        fragments = [self.root / p.key for p in self.recipe.parts[1:-1] if p.key is not None]
        with temp_sibling(final) as tmp:
            digest, size = write_concatenation(tmp, head.data, fragments, tail.data)
            if (digest, size) != (self.sha256, self.size):
                raise OSError(f"the fragments of environment {self.key} changed since its build")
            publish_once(tmp, final)
        return final


@dataclasses.dataclass(frozen=True)
class BuildEvent:
    """Progress of one build step: `step` is fetch, build, install or pack; done of total."""

    step: str
    package: str | None
    done: int
    total: int
    message: str = ""
