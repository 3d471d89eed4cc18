"""OCI image layouts on disk (image-spec v1.1 "image layout"): reading a base image, writing one.

A layout is a directory with ``oci-layout``, ``index.json`` and ``blobs/sha256/<hex>``; images
are named by the ``org.opencontainers.image.ref.name`` annotation of their descriptor in
``index.json`` (what ``skopeo ... oci:DIR:TAG`` and ``umoci --image DIR:TAG`` mean by a tag).
Everything read from a base layout is checked against its digest before it is used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from venvd.errors import InputError

__all__ = [
    "INDEX",
    "LAYER_GZIP",
    "LAYER_TAR",
    "MANIFEST",
    "REF_NAME",
    "BaseImage",
    "Layout",
    "check_tag",
    "find_base",
    "open_base",
]

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
REF_NAME = "org.opencontainers.image.ref.name"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# The image-spec's grammar for a ref name's tag part (as registries accept tags).
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
# Manifests and configs are small JSON documents; a larger one is not an image we can use.
_MAX_JSON = 16 * 1024 * 1024


def check_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        raise InputError(f"--tag {tag!r} is not a valid image tag (letters, digits, '_', '.', '-'; "
                         "at most 128; not starting with '.' or '-')", tag=tag)
    return tag


def descriptor(media_type: str, data_digest: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": data_digest, "size": size, **extra}


class Layout:
    """An image layout directory being written; blobs are renamed into place when complete."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"

    def create(self) -> None:
        """Make DEST a layout: new, empty, or already a layout (its other images stay)."""
        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"--oci {self.root} exists and is not a directory")
        if self.root.is_dir() and any(self.root.iterdir()) and not (self.root / "oci-layout").is_file():
            raise InputError(f"--oci {self.root} is neither empty nor an OCI image layout")
        self.blobs.mkdir(parents=True, exist_ok=True)
        self._write_atomic(self.root / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')

    def path(self, blob_digest: str) -> Path:
        return self.blobs / blob_digest.removeprefix("sha256:")

    def put_bytes(self, media_type: str, data: bytes) -> dict[str, Any]:
        """Store `data` as a blob; its descriptor."""
        blob_digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not self.path(blob_digest).is_file():
            self._write_atomic(self.path(blob_digest), data)
        return descriptor(media_type, blob_digest, len(data))

    def put_json(self, media_type: str, document: dict[str, Any]) -> dict[str, Any]:
        # Sorted keys, no spaces: the same document is the same digest.
        return self.put_bytes(media_type, json.dumps(document, sort_keys=True,
                                                     separators=(",", ":")).encode())

    def put_file(self, source: Path, blob_digest: str) -> None:
        """Bring in a blob whose digest is known and checked (a hard link when possible)."""
        target = self.path(blob_digest)
        if target.is_file():
            return
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)

    def tag(self, manifest: dict[str, Any], tag: str) -> None:
        """Name `manifest` (a descriptor) `tag` in index.json, replacing what had that name."""
        index_path = self.root / "index.json"
        index: dict[str, Any] = {"schemaVersion": 2, "mediaType": INDEX, "manifests": []}
        if index_path.is_file():
            index = _load_json(index_path, "index.json")
        entries = [m for m in index.get("manifests") or []
                   if (m.get("annotations") or {}).get(REF_NAME) != tag]
        entries.append({**manifest, "annotations": {REF_NAME: tag}})
        index["manifests"] = entries
        self._write_atomic(index_path, json.dumps(index, indent=2, sort_keys=True).encode() + b"\n")

    @staticmethod
    def _write_atomic(path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclasses.dataclass(frozen=True)
class BaseImage:
    """One image of a local layout: its manifest, config and layer descriptors (checked)."""

    root: Path
    name: str  # as given: DIR[:TAG]
    manifest_digest: str
    manifest: dict[str, Any]
    config: dict[str, Any]

    @property
    def layers(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("layers") or [])

    def blob(self, blob_digest: str) -> Path:
        return self.root / "blobs" / "sha256" / blob_digest.removeprefix("sha256:")

    def layer_names(self) -> set[str]:
        """Every path in the image's layers ("usr/bin/python3", no leading "/")."""
        import tarfile

        names: set[str] = set()
        for layer in self.layers:
            path = self.blob(layer["digest"])
            with _open_layer(path, str(layer.get("mediaType", ""))) as stream, \
                    tarfile.open(fileobj=stream, mode="r|") as tf:
                try:
                    for member in tf:
                        names.add(member.name.lstrip("./").rstrip("/"))
                except (tarfile.ReadError, EOFError):
                    # A stream cut short after its last header (umoci 0.4's `insert` writes
                    # layers without the last data block's padding and the end blocks): only
                    # names are wanted here, and those read stand.
                    pass
        return names


def open_base(spec: str, want_platform: tuple[str, str, str | None] | None = None) -> BaseImage:
    """The image `spec` (``DIR`` or ``DIR:TAG``) names. Without a tag the layout must hold one
    image. An image index (multi-platform) is resolved to the entry for `want_platform`
    (os, architecture, variant). InputError naming what is wrong otherwise."""
    root, chosen = find_base(spec)
    document = _read_blob(root, chosen, spec)
    if chosen.get("mediaType") in (INDEX, DOCKER_LIST) or "manifests" in document:
        chosen = _pick_platform(document, want_platform, spec)
        document = _read_blob(root, chosen, spec)
    if not isinstance(document.get("config"), dict) or not isinstance(document.get("layers"), list):
        raise InputError(f"--base {spec}: its manifest has no config or no layers", base=spec)
    config = _read_blob(root, document["config"], spec)
    for layer in document["layers"]:
        _check_descriptor(root, layer, spec)
    return BaseImage(root=root, name=spec, manifest_digest=str(chosen["digest"]),
                     manifest=document, config=config)


def find_base(spec: str) -> tuple[Path, dict[str, Any]]:
    """The layout directory and the index.json entry that `spec` (``DIR[:TAG]``) names."""
    root, tag = Path(spec), None
    if not (root / "oci-layout").is_file() and ":" in spec:
        head, _, tail = spec.rpartition(":")
        root, tag = Path(head), tail
    if not (root / "oci-layout").is_file() or not (root / "index.json").is_file():
        raise InputError(f"--base {spec}: {root} is not an OCI image layout (no oci-layout and "
                         "index.json)", base=spec)
    index = _load_json(root / "index.json", f"--base {spec}: index.json")
    entries = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
    names = sorted(str((m.get("annotations") or {}).get(REF_NAME)) for m in entries
                   if (m.get("annotations") or {}).get(REF_NAME))
    if tag is not None:
        entries = [m for m in entries if (m.get("annotations") or {}).get(REF_NAME) == tag]
        if not entries:
            raise InputError(f"--base {spec}: no image tagged {tag!r} (tags: "
                             f"{', '.join(names) or 'none'})", base=spec)
    if len(entries) != 1:
        raise InputError(f"--base {spec}: the layout holds {len(entries)} images; name one as "
                         f"{root}:TAG (tags: {', '.join(names) or 'none'})", base=spec)
    return root, entries[0]


def _pick_platform(index: dict[str, Any], want: tuple[str, str, str | None] | None,
                   spec: str) -> dict[str, Any]:
    entries = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
    found = [f"{(m.get('platform') or {}).get('os')}/{(m.get('platform') or {}).get('architecture')}"
             for m in entries]
    for entry in entries:
        platform = entry.get("platform") or {}
        if want is not None and (platform.get("os"), platform.get("architecture")) == want[:2] and (
                want[2] is None or platform.get("variant") in (None, want[2])):
            return entry
    raise InputError(f"--base {spec}: a multi-platform image without an image for "
                     f"{'/'.join(w for w in (want or ()) if w) or 'the target'} "
                     f"(it has: {', '.join(found) or 'none'})", base=spec)


def _check_descriptor(root: Path, desc: Any, spec: str) -> Path:
    if not isinstance(desc, dict) or not _DIGEST.fullmatch(str(desc.get("digest", ""))):
        raise InputError(f"--base {spec}: a descriptor without a sha256 digest: {desc!r}"[:300],
                         base=spec)
    path = root / "blobs" / "sha256" / str(desc["digest"]).removeprefix("sha256:")
    if not path.is_file():
        raise InputError(f"--base {spec}: blob {desc['digest']} is missing", base=spec)
    if isinstance(desc.get("size"), int) and path.stat().st_size != desc["size"]:
        raise InputError(f"--base {spec}: blob {desc['digest']} has {path.stat().st_size} bytes, "
                         f"its descriptor says {desc['size']}", base=spec)
    with path.open("rb") as fh:
        actual = "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()
    if actual != desc["digest"]:
        raise InputError(f"--base {spec}: blob {desc['digest']} is corrupted (its sha256 is "
                         f"{actual})", base=spec)
    return path


def _read_blob(root: Path, desc: Any, spec: str) -> dict[str, Any]:
    path = _check_descriptor(root, desc, spec)
    if path.stat().st_size > _MAX_JSON:
        raise InputError(f"--base {spec}: {desc['digest']} is too large for a manifest or config",
                         base=spec)
    return _load_json(path, f"--base {spec}: {desc['digest']}")


def _load_json(path: Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InputError(f"{what} is not readable JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InputError(f"{what} is not a JSON object")
    return value


def _open_layer(path: Path, media_type: str) -> Any:
    """A layer blob as a readable stream of its tar bytes (closing it closes the file)."""
    import gzip

    if media_type.endswith(("+gzip", ".tar.gzip")):  # OCI's, and Docker's rootfs.diff.tar.gzip
        return gzip.open(path, "rb")
    if media_type == LAYER_ZSTD:
        import zstandard

        # closefd (the default): the reader closes the file.
        return zstandard.ZstdDecompressor().stream_reader(path.open("rb"), read_across_frames=True)
    return path.open("rb")
