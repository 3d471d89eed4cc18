"""`export_oci`: a venvd archive → an OCI image layout whose last layer is the environment.

Steps: materialize the archive into a temporary venv with a local interpreter that matches the
environment's target (`venvd.materialize`, exactly as `venvd create` does, so this follows the
archive format wherever it goes); make the layer (`_oci_layer`: the venv moved to its image path,
linked to the base image's interpreter, deterministic); then write the image: the base image's
blobs, a config whose ``Env`` puts the venv first on ``PATH`` and sets ``VIRTUAL_ENV``, a manifest,
and the tag in ``index.json`` (`_oci_layout`). Without a base the image holds the environment
layer alone, for the target's os and architecture.

The base image's interpreter path (`python_path`) is what the venv's ``bin/python`` links to; when
not given it is looked up in the base image's layers (``/usr/local/bin/pythonX.Y`` as the official
python images have it, then ``/usr/bin/pythonX.Y`` as Debian's, then the ``python3`` names), and is
``/usr/bin/python3`` without a base.
"""

from __future__ import annotations

import dataclasses
import posixpath
import tempfile
from pathlib import Path
from typing import Any

from venvd.errors import InputError
from venvd.outputs._oci_layer import VenvImage, write_layer
from venvd.outputs._oci_layout import (
    CONFIG,
    LAYER_GZIP,
    LAYER_TAR,
    MANIFEST,
    BaseImage,
    Layout,
    check_tag,
    find_base,
    open_base,
)

__all__ = ["OciExport", "OciOptions", "export_oci", "image_platform"]

_CREATED = "1980-01-01T00:00:00Z"
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# platform_machine → (OCI architecture, variant)
_ARCHITECTURES = {
    "x86_64": ("amd64", None), "amd64": ("amd64", None),
    "aarch64": ("arm64", None), "arm64": ("arm64", None),
    "i686": ("386", None), "i386": ("386", None),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
    "ppc64le": ("ppc64le", None), "s390x": ("s390x", None), "riscv64": ("riscv64", None),
}


@dataclasses.dataclass(frozen=True)
class OciOptions:
    dest: Path
    tag: str
    venv_path: str
    base: str | None = None
    python_path: str | None = None
    compression: str = "gzip"

    @classmethod
    def checked(cls, dest: Path, *, base: str | None, tag: str, venv_path: str,
                python_path: str | None, compression: str) -> OciOptions:
        """The options, or InputError naming the one that is wrong (before any download)."""
        check_tag(tag)
        for option, value in (("--path", venv_path), ("--python-path", python_path)):
            if value is None:
                continue
            if not value.startswith("/") or posixpath.normpath(value) != value or value == "/" \
                    or not value.isprintable() or "\\" in value:
                raise InputError(f"{option} {value!r} must be a normalized absolute path in the "
                                 "image (such as /opt/venv)")
        if compression not in ("gzip", "none"):
            raise InputError(f"--compression {compression!r}: gzip or none")
        if dest.exists() and (not dest.is_dir() or (any(dest.iterdir())
                                                    and not (dest / "oci-layout").is_file())):
            raise InputError(f"--oci {dest} is neither a new or empty directory nor an OCI image "
                             "layout")
        if base is not None:
            find_base(base)
        return cls(dest=dest, tag=tag, venv_path=venv_path, base=base, python_path=python_path,
                   compression=compression)


@dataclasses.dataclass(frozen=True)
class OciExport:
    manifest_digest: str
    config_digest: str
    layer_digest: str
    layer_size: int
    diff_id: str
    python_path: str


def image_platform(target: dict[str, Any]) -> tuple[str, str, str | None]:
    """(os, architecture, variant) of the image for `target` (a complete platform); InputError for
    a target no Linux image can run."""
    env = target.get("marker_environment") or {}
    if env.get("sys_platform") not in ("linux", "linux2"):
        raise InputError(f"an OCI image runs Linux, and this environment targets "
                         f"{env.get('sys_platform')!r}")
    machine = str(env.get("platform_machine", "")).lower()
    if machine not in _ARCHITECTURES:
        raise InputError(f"no OCI architecture is known for platform_machine {machine!r}")
    architecture, variant = _ARCHITECTURES[machine]
    return "linux", architecture, variant


def export_oci(archive: Path, options: OciOptions, *, python: str) -> OciExport:
    """Write the image of the environment in `archive` (a venvd archive) as `options` say, laying
    the venv out with local interpreter `python`. Raises what `materialize` raises
    (IncompatibleInterpreter when `python` does not match the target, BuildError for a bad
    archive) and InputError for a base image or option that cannot be used."""
    from venvd.materialize import materialize

    with tempfile.TemporaryDirectory(prefix="venvd-oci-") as tmp:
        # The venv's directory name is its prompt in `activate`: the image path's.
        source = Path(tmp) / (posixpath.basename(options.venv_path) or "venv")
        result = materialize(archive, source, python=python)
        manifest = result.manifest
        target = manifest["target"]
        platform = image_platform(target)
        base = open_base(options.base, platform) if options.base else None
        if base is not None:
            _check_base_platform(base, platform)
        layout = manifest["layout"]
        version = str(target["marker_environment"].get("python_full_version")
                      or layout["python_version"])
        short = ".".join(version.split(".")[:2])
        python_path = options.python_path or _base_python(base, short)
        venv = VenvImage(source=source, path=options.venv_path, python_path=python_path,
                         version=version, scripts=frozenset(manifest.get("scripts") or []),
                         scripts_dir=str(layout["scripts"]))
        image = Layout(options.dest)
        image.create()
        compress = options.compression == "gzip"
        layer_file = Path(tmp) / "layer"
        layer = write_layer(venv, layer_file, compress=compress)
        image.put_file(layer_file, layer.digest)
    layer_desc = {"mediaType": LAYER_GZIP if compress else LAYER_TAR, "digest": layer.digest,
                  "size": layer.size}
    env_id = str(manifest.get("environment") or "")
    config = _config(base, platform, options.venv_path, layer.diff_id, env_id)
    config_desc = image.put_json(CONFIG, config)
    layers = []
    if base is not None:
        for desc in base.layers:
            image.put_file(base.blob(desc["digest"]), desc["digest"])
            layers.append(desc)
    image_manifest: dict[str, Any] = {"schemaVersion": 2, "mediaType": MANIFEST,
                                      "config": config_desc, "layers": [*layers, layer_desc]}
    if base is not None:
        image_manifest["annotations"] = {"org.opencontainers.image.base.digest": base.manifest_digest}
    manifest_desc = image.put_json(MANIFEST, image_manifest)
    os_name, architecture, variant = platform
    image.tag({**manifest_desc, "platform": {"os": os_name, "architecture": architecture,
                                             **({"variant": variant} if variant else {})}},
              options.tag)
    return OciExport(manifest_digest=manifest_desc["digest"], config_digest=config_desc["digest"],
                     layer_digest=layer.digest, layer_size=layer.size, diff_id=layer.diff_id,
                     python_path=python_path)


def _check_base_platform(base: BaseImage, platform: tuple[str, str, str | None]) -> None:
    have = (base.config.get("os"), base.config.get("architecture"))
    if have != platform[:2]:
        raise InputError(f"--base {base.name} is an image for {have[0]}/{have[1]}, and the "
                         f"environment targets {platform[0]}/{platform[1]}")


def _base_python(base: BaseImage | None, short: str) -> str:
    if base is None:
        return "/usr/bin/python3"
    names = base.layer_names()
    for candidate in (f"/usr/local/bin/python{short}", f"/usr/bin/python{short}",
                      "/usr/local/bin/python3", "/usr/bin/python3"):
        if candidate.lstrip("/") in names:
            return candidate
    raise InputError(f"--base {base.name} has no python{short} in /usr/local/bin or /usr/bin: give "
                     "the interpreter's path in the image with --python-path")


def _config(base: BaseImage | None, platform: tuple[str, str, str | None], venv_path: str,
            diff_id: str, env_id: str) -> dict[str, Any]:
    """The image config: the base's with the environment's layer, Env and label added."""
    config: dict[str, Any] = dict(base.config) if base is not None else {}
    os_name, architecture, variant = platform
    config.setdefault("os", os_name)
    config.setdefault("architecture", architecture)
    if variant and base is None:
        config["variant"] = variant
    run = dict(config.get("config") or {})
    env = [e for e in run.get("Env") or [] if isinstance(e, str)]
    old_path = next((e[5:] for e in env if e.startswith("PATH=")), _DEFAULT_PATH)
    env = [e for e in env if not e.startswith(("PATH=", "VIRTUAL_ENV="))]
    run["Env"] = [f"PATH={venv_path}/bin:{old_path}", f"VIRTUAL_ENV={venv_path}", *env]
    run["Labels"] = {**(run.get("Labels") or {}), "org.venvd.environment": env_id}
    config["config"] = run
    rootfs = dict(config.get("rootfs") or {"type": "layers"})
    rootfs["diff_ids"] = [*(rootfs.get("diff_ids") or []), diff_id]
    config["rootfs"] = rootfs
    # A fixed time (the archives' 1980 epoch), not now: the same environment on the same base is
    # the same image. (Some tools, umoci 0.4 among them, fail on a history entry without one.)
    config.setdefault("created", _CREATED)
    config["history"] = [*(config.get("history") or []),
                         {"created": _CREATED,
                          "created_by": f"venvd export {env_id} --oci (the environment at {venv_path})"}]
    return config
