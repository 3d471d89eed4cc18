"""`build_environment`: (lock, target, options) → an immutable artifact in the cache.

Per pin, in a thread pool: reuse its installed fragment if cached (a warm build is then only the
hashing); else get the wheel (wheel cache or `fetch`; for an sdist-only pin the built-wheel cache or
a sandboxed build), install it into a staging dir, pack it as a fragment. Then hash the manifest
frame, the fragments in package-name order and the end frame, and record the artifact as its recipe
(those parts; no concatenated copy, see `Artifact`). Any failure cancels the pins not started, waits
for those running, and raises; no artifact or temp file is left behind.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from packaging.utils import InvalidName, canonicalize_name

from venvd import __version__
from venvd.builder._cache import BuildCache, atomic_path, no_space
from venvd.builder._fragment import Fragment, FragmentJob
from venvd.builder._layout import Layout
from venvd.builder._model import (
    BUILDER_FORMAT_VERSION,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    PLACEHOLDER_INTERPRETER,
    Artifact,
    BuildEvent,
    BuildOptions,
    Fetcher,
    MetadataSource,
    environment_key,
)
from venvd.builder._pack import end_frame, hash_artifact, member_frame
from venvd.builder._select import choose_file
from venvd.consistency import Installed, dependency_problems
from venvd.errors import InvalidLock
from venvd.lock import Lock
from venvd.objects import RECIPE_FORMAT, Part, Recipe
from venvd.sandbox import Sandbox
from venvd.target import Target

__all__ = ["build_environment", "read_recipe"]

_SHA256_HEX = frozenset("0123456789abcdef")


def build_environment(lock: Lock, target: Target, *, cache: BuildCache, fetch: Fetcher,
                      options: BuildOptions = BuildOptions(),  # noqa: B008 - frozen, immutable
                      progress: Callable[[BuildEvent], None] | None = None,
                      request: dict[str, Any] | None = None, max_workers: int = 8,
                      sandbox: Sandbox | None = None,
                      metadata: MetadataSource | None = None) -> Artifact:
    """Build (or find) the environment of `lock` for `target`.

    Every pin of the lock is installed; the lock is trusted to be resolved for `target`. `request`
    is recorded in the manifest as given: pass only what the lock determines (its requirements),
    since the environment key does not cover it. `progress` is called from worker threads, one
    call at a time. `sandbox` builds sdist-only pins (default: one without a provider of build
    requirements, refusing to build where bubblewrap is missing). `metadata` tells what resolution
    read for each wheel: a wheel whose own METADATA disagrees (or disagrees with the lock's name and
    version, checked always) fails with BuildError(step="verify metadata") after `metadata.forget`
    dropped it.

    Raises NoCompatibleDistribution (a pin has no usable file, or its sdist builds a wheel the
    target cannot use), BuildError (step "build wheel" or "install"), UpstreamError/HashMismatch
    from `fetch`, InvalidLock (an invalid package name, a file without a sha256 or whose name is a
    path), InvalidTarget (a Windows target of unknown CPU).
    """
    key = environment_key(lock, target, options)
    found = _existing(cache, key)
    if found is not None:
        return found
    layout = Layout.for_target(target)
    packages = sorted(lock.packages, key=lambda p: canonicalize_name(p.name))
    for package in packages:
        _check_name(package.name)
        for file in package.files:
            _check_file(file.filename, file.sha256)
    choices = [choose_file(p, target, no_build=options.no_build) for p in packages]
    reporter = _Reporter(progress)
    builds = threading.BoundedSemaphore(2)  # sdist builds are heavy: not max_workers at once
    sandbox = sandbox if sandbox is not None else Sandbox()
    jobs = [FragmentJob(c, cache=cache, layout=layout, target=target, options=options,
                        fetch=fetch, report=reporter.finished, builds=builds, sandbox=sandbox,
                        metadata=metadata)
            for c in choices]
    for job in jobs:
        for step in job.planned_steps():
            reporter.plan(step)
    reporter.start()
    fragments = _run_all(jobs, max_workers)
    manifest = _manifest(key, lock, target, options, layout, request, fragments)
    return _assemble(cache, key, manifest, fragments, reporter)


def _check_name(name: str) -> None:
    try:
        canonicalize_name(name, validate=True)
    except InvalidName:
        raise InvalidLock(f"the lock pins a package with an invalid name: {name!r}") from None


def _check_file(filename: str, sha256: str) -> None:
    """A lock comes from clients: its file names become cache paths, so they must be plain."""
    if (not filename or filename.startswith(".") or any(c in filename for c in "/\\\0:")
            or filename != filename.strip()):
        raise InvalidLock(f"the lock pins a file with an unusable name: {filename!r}")
    if len(sha256) != 64 or not set(sha256) <= _SHA256_HEX:
        raise InvalidLock(f"the lock pins {filename} without a sha256 (64 lowercase hex digits)")


def _run_all(jobs: list[FragmentJob], max_workers: int) -> list[Fragment]:
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(jobs))),
                            thread_name_prefix="venvd-builder") as pool:
        futures = [pool.submit(job.run) for job in jobs]
        _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
    # The pool has joined: nothing is still writing when the error is raised.
    for future in futures:
        if not future.cancelled() and future.exception() is not None:
            raise future.exception()  # type: ignore[misc]
    return [future.result() for future in futures]


def _manifest(key: str, lock: Lock, target: Target, options: BuildOptions, layout: Layout,
              request: dict[str, Any] | None, fragments: list[Fragment]) -> dict[str, Any]:
    packages = []
    scripts: list[str] = []
    offset = 0
    for fragment in fragments:
        choice = fragment.choice
        packages.append({
            "name": canonicalize_name(choice.package.name),
            "version": choice.package.version,
            "file": {"filename": choice.file.filename, "sha256": choice.file.sha256},
            "wheel": fragment.wheel_filename,
            "built_from_sdist": choice.kind == "sdist",
            "files": list(fragment.files),
            # Where its bytes are: `offset` counts from the end of the manifest frame (the
            # artifact is that frame, the fragments in this order, then the end frame).
            "fragment": {"sha256": fragment.sha256, "size": fragment.size, "offset": offset,
                         "expanded_size": fragment.expanded_size},
        })
        offset += fragment.size
        scripts.extend(fragment.scripts)
    installed: Installed = {canonicalize_name(f.choice.package.name): (f.choice.package.version, f.requires)
                 for f in fragments}
    return {
        "format": MANIFEST_FORMAT,
        "builder": {"name": "venvd", "version": __version__, "format": BUILDER_FORMAT_VERSION},
        "environment": key,
        "request": request,
        "target": target.to_json(),
        "lock": lock.to_json(),
        "options": options.to_json(),
        "layout": {**layout.to_json(), "placeholder": PLACEHOLDER_INTERPRETER},
        "packages": packages,
        "scripts": sorted(set(scripts)),
        # What extraction will find: the client refuses an archive holding more.
        "members": sum(len(f.files) for f in fragments),
        "expanded_size": sum(f.expanded_size for f in fragments),
        # Checked here, from each wheel's own METADATA, so that clients need not parse them.
        "checked": {"dependencies": dependency_problems(installed, target, lock.requirements)},
    }


def _assemble(cache: BuildCache, key: str, manifest: dict[str, Any], fragments: list[Fragment],
              reporter: _Reporter) -> Artifact:
    """Hash the artifact's bytes (manifest frame, fragments, end frame) without writing them, and
    record its recipe (`environments-v1/<key>.json`): the parts, sha256, size and manifest. Same
    inputs, same recipe, so concurrent builders of one key write the same file."""
    body = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    head, tail = member_frame(MANIFEST_NAME, body), end_frame()
    sha256, sizes = hash_artifact(head, [f.path for f in fragments], tail)
    parts = [Part(offset=0, size=len(head), data=head, kind="manifest")]
    offset = len(head)
    for fragment, size in zip(fragments, sizes, strict=True):
        parts.append(Part(offset=offset, size=size, key=cache.key(fragment.path),
                          package=canonicalize_name(fragment.choice.package.name)))
        offset += size
    parts.append(Part(offset=offset, size=len(tail), data=tail, kind="end"))
    recipe = Recipe(sha256=sha256, size=offset + len(tail), parts=tuple(parts))
    reporter.event("pack", None, len(fragments), len(fragments))
    with no_space("pack"):
        _write_recipe(cache, key, recipe, manifest)
    return Artifact(key=key, sha256=sha256, size=recipe.size, manifest=manifest, recipe=recipe,
                    root=cache.root)


def _write_recipe(cache: BuildCache, key: str, recipe: Recipe, manifest: dict[str, Any]) -> None:
    doc = {"format": RECIPE_FORMAT, "sha256": recipe.sha256, "size": recipe.size,
           "parts": [p.to_json() for p in recipe.parts], "manifest": manifest}
    with atomic_path(cache.artifact_info_path(key)) as tmp:
        tmp.write_text(json.dumps(doc, sort_keys=True))


def read_recipe(data: bytes | str) -> tuple[Recipe, dict[str, Any]]:
    """A recipe file's recipe and manifest; ValueError when it is not a valid one of this format
    (a sidecar of an older format, a torn write)."""
    try:
        doc = json.loads(data)
        if doc.get("format") != RECIPE_FORMAT:
            raise ValueError(f"recipe format {doc.get('format')!r}, not {RECIPE_FORMAT}")
        recipe = Recipe(sha256=str(doc["sha256"]), size=int(doc["size"]),
                        parts=tuple(Part.from_json(p) for p in doc["parts"]))
        manifest = doc["manifest"]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a recipe: {exc}") from None
    recipe.check()
    if len(recipe.parts) < 2 or recipe.parts[0].data is None or recipe.parts[-1].data is None:
        raise ValueError("a recipe starts with the manifest frame and ends with the end frame")
    return recipe, manifest


def _existing(cache: BuildCache, key: str) -> Artifact | None:
    """The recorded artifact of `key` when its recipe is there and every fragment it names is in
    the local cache with its recorded size; else None (build: cached fragments make it cheap)."""
    path = cache.artifact_info_path(key)
    try:
        recipe, manifest = read_recipe(path.read_bytes())
        for part in recipe.parts:
            if part.key is not None and (cache.root / part.key).stat().st_size != part.size:
                return None
    except (OSError, ValueError):
        return None
    cache.touch(path, *(cache.root / k for k in recipe.keys))
    return Artifact(key=key, sha256=recipe.sha256, size=recipe.size, manifest=manifest,
                    recipe=recipe, root=cache.root)


class _Reporter:
    """Counts done/total per step and calls the progress callback one call at a time."""

    def __init__(self, callback: Callable[[BuildEvent], None] | None) -> None:
        self._callback = callback
        self._lock = threading.Lock()
        self._total: Counter[str] = Counter()
        self._done: Counter[str] = Counter()

    def plan(self, step: str) -> None:
        self._total[step] += 1

    def start(self) -> None:
        for step in ("fetch", "build", "install"):
            if self._total[step]:
                self.event(step, None, 0, self._total[step])

    def finished(self, step: str, package: str | None, message: str = "") -> None:
        with self._lock:
            self._done[step] += 1
            self._total[step] = max(self._total[step], self._done[step])
            done, total = self._done[step], self._total[step]
        self.event(step, package, done, total, message)

    def event(self, step: str, package: str | None, done: int, total: int,
              message: str = "") -> None:
        if self._callback is None:
            return
        with self._lock:
            self._callback(BuildEvent(step=step, package=package, done=done, total=total,
                                      message=message))
