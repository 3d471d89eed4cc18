"""Build real wheels and sdists from strings, for tests (in the spirit of installer's `mock_wheel`).

`make_wheel` writes a valid wheel (METADATA, WHEEL, RECORD with hashes, optional entry points and data).
`make_sdist` writes a PEP 517 sdist whose build backend lives in the sdist itself (`backend-path`), with no
build requirements, so it builds without any index: hermetic.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import textwrap
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.utils import canonicalize_name

__all__ = ["core_metadata", "make_sdist", "make_wheel", "sha256_file"]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def core_metadata(
    name: str,
    version: str,
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    extras: Iterable[str] = (),
    metadata_version: str = "2.1",
    dynamic: Iterable[str] = (),
) -> str:
    lines = [f"Metadata-Version: {metadata_version}", f"Name: {name}", f"Version: {version}"]
    lines += [f"Dynamic: {d}" for d in dynamic]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Provides-Extra: {e}" for e in extras]
    lines += [f"Requires-Dist: {r}" for r in requires_dist]
    return "\n".join(lines) + "\n\n"


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    extras: Iterable[str] = (),
    tag: str = "py3-none-any",
    files: Mapping[str, bytes | str] | None = None,
    console_scripts: Mapping[str, str] | None = None,
    data: Mapping[str, bytes | str] | None = None,
    extra_members: Mapping[str, bytes | str] | None = None,
    record_extra: Iterable[str] = (),
) -> Path:
    """Write `<name>-<version>-<tag>.whl` into `directory` and return its path.

    `files` are paths inside the wheel root (default: a `<module>/__init__.py` that sets `__version__`);
    `data` maps `<scheme>/<path>` (scheme in scripts, data, headers, purelib, platlib) to content in the
    `.data` directory; `extra_members` are written as is and listed in RECORD (for hostile wheels);
    `record_extra` are RECORD lines appended verbatim.
    """
    module = canonicalize_name(name).replace("-", "_")
    dist = f"{name.replace('-', '_')}-{version}"
    distinfo = f"{dist}.dist-info"
    contents: dict[str, bytes] = {}
    for path, body in (
        files if files is not None else {f"{module}/__init__.py": f"__version__ = {version!r}\n"}
    ).items():
        contents[path] = body.encode() if isinstance(body, str) else body
    for path, body in (data or {}).items():
        contents[f"{dist}.data/{path}"] = body.encode() if isinstance(body, str) else body
    for path, body in (extra_members or {}).items():
        contents[path] = body.encode() if isinstance(body, str) else body
    contents[f"{distinfo}/METADATA"] = core_metadata(
        name, version, requires_dist, requires_python, extras
    ).encode()
    root_is_purelib = "true" if tag.endswith("-none-any") else "false"
    wheel_lines = [
        "Wheel-Version: 1.0",
        "Generator: venvd-tests",
        f"Root-Is-Purelib: {root_is_purelib}",
    ]
    wheel_lines += [f"Tag: {t}" for t in _expand(tag)]
    contents[f"{distinfo}/WHEEL"] = ("\n".join(wheel_lines) + "\n").encode()
    if console_scripts:
        ep = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in console_scripts.items())
        contents[f"{distinfo}/entry_points.txt"] = ep.encode()
    record = [f"{p},{_record_hash(b)},{len(b)}" for p, b in contents.items()]
    record += list(record_extra)
    record.append(f"{distinfo}/RECORD,,")
    contents[f"{distinfo}/RECORD"] = ("\n".join(record) + "\n").encode()

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name.replace('-', '_')}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member in sorted(contents):
            info = zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, contents[member], compress_type=zipfile.ZIP_DEFLATED)
    return path


def _expand(tag: str) -> list[str]:
    interp, abi, plat = tag.split("-")
    return [
        f"{i}-{a}-{p}" for i in interp.split(".") for a in abi.split(".") for p in plat.split(".")
    ]


_BACKEND = '''
"""A tiny PEP 517 backend living inside the sdist: no build requirements, so builds are hermetic."""
import base64, hashlib, os, sys, sysconfig, zipfile

NAME = {name!r}
VERSION = {version!r}
METADATA = {metadata!r}
PLATFORM_SPECIFIC = {platform_specific!r}
FAIL = {fail!r}
FILES = {files!r}
DIST = NAME.replace("-", "_") + "-" + VERSION


def _tag():
    if not PLATFORM_SPECIFIC:
        return "py3-none-any"
    # packaging may be absent from an isolated build env: spell the interpreter's own tag by hand.
    py = "cp%d%d" % sys.version_info[:2]
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return py + "-" + py + "-" + plat


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    if FAIL:
        raise RuntimeError("this sdist refuses to build: " + FAIL)
    d = os.path.join(metadata_directory, DIST + ".dist-info")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "METADATA"), "w") as f:
        f.write(METADATA)
    return DIST + ".dist-info"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    if FAIL:
        sys.stderr.write("compiling... error: " + FAIL + "\\n")
        raise RuntimeError("this sdist refuses to build: " + FAIL)
    tag = _tag()
    filename = DIST + "-" + tag + ".whl"
    members = dict(FILES)
    info = DIST + ".dist-info/"
    members[info + "METADATA"] = METADATA
    members[info + "WHEEL"] = ("Wheel-Version: 1.0\\nGenerator: venvd-test-backend\\n"
                               "Root-Is-Purelib: " + ("false" if PLATFORM_SPECIFIC else "true") +
                               "\\nTag: " + tag + "\\n")
    record = []
    for path, body in members.items():
        data = body.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(path + ",sha256=" + digest + "," + str(len(data)))
    record.append(info + "RECORD,,")
    members[info + "RECORD"] = "\\n".join(record) + "\\n"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as zf:
        for path in sorted(members):
            zf.writestr(path, members[path])
    return filename
'''


def make_sdist(
    directory: Path,
    name: str,
    version: str,
    *,
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    extras: Iterable[str] = (),
    metadata_version: str = "2.2",
    dynamic: Iterable[str] = (),
    pkg_info: bool = True,
    platform_specific: bool = False,
    fail: str | None = None,
    files: Mapping[str, str] | None = None,
) -> Path:
    """Write `<name>-<version>.tar.gz` (PEP 625 name) into `directory` and return its path.

    The sdist's PKG-INFO uses `metadata_version` and lists `dynamic` fields; `pkg_info=False` leaves PKG-INFO
    out (an old-style sdist whose metadata needs a PEP 517 build). `platform_specific` makes the built wheel
    carry the building interpreter's most specific tag (a "compiled" package); `fail` makes the build fail
    with that message.
    """
    module = canonicalize_name(name).replace("-", "_")
    metadata = core_metadata(
        name,
        version,
        requires_dist,
        requires_python,
        extras,
        metadata_version=metadata_version,
        dynamic=dynamic,
    )
    members = (
        files if files is not None else {f"{module}/__init__.py": f"__version__ = {version!r}\n"}
    )
    backend = _BACKEND.format(
        name=name,
        version=version,
        metadata=metadata,
        platform_specific=platform_specific,
        fail=fail,
        files=dict(members),
    )
    pyproject = textwrap.dedent("""\
        [build-system]
        requires = []
        build-backend = "venvd_test_backend"
        backend-path = ["."]
        """)
    root = f"{name.replace('-', '_')}-{version}"
    tree: dict[str, str] = {
        "pyproject.toml": pyproject,
        "venvd_test_backend.py": backend,
        **members,
    }
    if pkg_info:
        tree["PKG-INFO"] = metadata
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{root}.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for rel in sorted(tree):
            body = tree[rel].encode()
            info = tarfile.TarInfo(f"{root}/{rel}")
            info.size = len(body)
            info.mtime = 1577836800
            tf.addfile(info, io.BytesIO(body))
    return path
