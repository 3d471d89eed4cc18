"""The environment builder: (lock, target, options) → a deterministic, relocatable venv archive.

    artifact = build_environment(lock, target, cache=BuildCache(root), fetch=index.download)

Per pin: the best compatible wheel for the target (lowest `Target.tag_rank`), else a wheel built
from the sdist in a sandboxed child (`options.no_build` forbids it); installed with pypa/installer
into the target's venv layout (POSIX ``bin`` + ``lib/pythonX.Y/site-packages``, Windows ``Scripts``
with .exe launchers + ``Lib/site-packages``), console scripts pointing at `PLACEHOLDER_INTERPRETER`;
packed as a per-wheel fragment (a zstd frame of tar members), cached, so a build whose fragments are
cached is only a concatenation.

The artifact is a zstd stream of a tar stream: first the member `MANIFEST_NAME` (JSON: format,
builder, environment key, request, target, lock, options, layout with the placeholder, per package
its file, wheel and installed files, the scripts whose interpreter line the client rewrites, and the
`members` count and `expanded_size` the client holds it to), then every package's files (regular
files only, relative paths, fixed mtimes and owners), then the end-of-archive blocks. The same inputs
give the same bytes; an environment key's bytes, once published, never change. Read it with
``read_across_frames=True`` and ``tarfile`` mode ``"r|"``. A build records it as its recipe
(``environments-v1/<key>.json``: the manifest frame, the cached fragments by key, the end frame,
with the whole's sha256 and size; `read_recipe`), not as one more file: `Artifact.path` writes that
file for a caller that wants one.

This package imports only the shared modules (errors, dist, lock, target), never index, resolver or
store: the fetcher is injected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from venvd._lazy import lazy_names

if TYPE_CHECKING:
    from venvd.builder._build import build_environment, read_recipe
    from venvd.builder._cache import BuildCache
    from venvd.builder._layout import Layout
    from venvd.builder._model import (
        BUILDER_FORMAT_VERSION,
        MANIFEST_FORMAT,
        MANIFEST_NAME,
        PLACEHOLDER_INTERPRETER,
        PLACEHOLDER_SHEBANG,
        Artifact,
        BuildEvent,
        BuildOptions,
        Fetcher,
        MetadataSource,
        environment_key,
    )
    from venvd.builder._zipcheck import UnsafeZip, check_wheel_zip

# Each name is imported from its module on first use (PEP 562): a service that only resolves uses
# the download cache (`BuildCache`) for direct references, not the builder (installer, zstandard,
# the sandbox: ~22 ms of an in-process `venvd resolve`'s start-up).
_HOMES = {
    "build_environment": "_build", "read_recipe": "_build", "BuildCache": "_cache",
    "Layout": "_layout", "UnsafeZip": "_zipcheck", "check_wheel_zip": "_zipcheck", **dict.fromkeys(
        ("BUILDER_FORMAT_VERSION", "MANIFEST_FORMAT", "MANIFEST_NAME", "PLACEHOLDER_INTERPRETER",
         "PLACEHOLDER_SHEBANG", "Artifact", "BuildEvent", "BuildOptions", "Fetcher",
         "MetadataSource", "environment_key"), "_model"),
}


__getattr__ = lazy_names(__name__, _HOMES, globals())


__all__ = [
    "BUILDER_FORMAT_VERSION",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "PLACEHOLDER_INTERPRETER",
    "PLACEHOLDER_SHEBANG",
    "Artifact",
    "BuildCache",
    "BuildEvent",
    "BuildOptions",
    "Fetcher",
    "Layout",
    "MetadataSource",
    "UnsafeZip",
    "build_environment",
    "check_wheel_zip",
    "environment_key",
    "read_recipe",
]
