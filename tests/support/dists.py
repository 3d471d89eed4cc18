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

__all__ = ["BACKEND_DISTRIBUTIONS", "backend_wheels", "core_metadata", "installed_wheel", "make_real_sdist",
           "make_sdist", "make_wheel", "sha256_file"]


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
    extra_lines: Iterable[str] = (),
) -> str:
    lines = [f"Metadata-Version: {metadata_version}", f"Name: {name}", f"Version: {version}"]
    lines += [f"Dynamic: {d}" for d in dynamic]
    lines += list(extra_lines)
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
    metadata_lines: Iterable[str] = (),
) -> Path:
    """Write `<name>-<version>-<tag>.whl` into `directory` and return its path.

    `files` are paths inside the wheel root (default: a `<module>/__init__.py` that sets `__version__`);
    `data` maps `<scheme>/<path>` (scheme in scripts, data, headers, purelib, platlib) to content in the
    `.data` directory; `extra_members` are written as is and listed in RECORD (for hostile wheels);
    `record_extra` are RECORD lines appended verbatim; `metadata_lines` are METADATA header lines
    (``License-Expression: MIT``, ``Classifier: ...``) added after Name and Version.
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
        name, version, requires_dist, requires_python, extras, extra_lines=metadata_lines
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


# -- wheels of the build backends installed in the test environment ----------------------------
_SKIP_DIST_INFO = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


def installed_wheel(directory: Path, distribution: str) -> Path:
    """Re-pack the installed pure-Python `distribution` (e.g. "setuptools") into a valid wheel in
    `directory`: the files its RECORD lists under site-packages (no scripts, no byte code), its
    .dist-info without the installer's marks, and a fresh RECORD. Tests serve build backends this
    way, with no network.
    """
    import importlib.metadata

    dist = importlib.metadata.distribution(distribution)
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    version = dist.version
    distinfo = f"{name}-{version}.dist-info"
    contents: dict[str, bytes] = {}
    for entry in dist.files or ():
        rel = entry.as_posix()
        if rel.startswith("../") or "__pycache__" in rel or rel.endswith(".pyc"):
            continue
        parts = rel.split("/")
        if parts[0].endswith(".dist-info"):
            if parts[-1] in _SKIP_DIST_INFO:
                continue
            rel = "/".join([distinfo, *parts[1:]])
        contents[rel] = Path(str(entry.locate())).read_bytes()
    if f"{distinfo}/WHEEL" not in contents:
        contents[f"{distinfo}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: venvd-tests\n"
                                         b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    record = [f"{p},{_record_hash(b)},{len(b)}" for p, b in sorted(contents.items())]
    record.append(f"{distinfo}/RECORD,,")
    contents[f"{distinfo}/RECORD"] = ("\n".join(record) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member in sorted(contents):
            info = zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, contents[member], compress_type=zipfile.ZIP_DEFLATED)
    return path


# Build backends and everything they need, as installed in the test environment (the `test` extra).
BACKEND_DISTRIBUTIONS = ("setuptools", "wheel", "hatchling", "packaging", "pathspec", "pluggy",
                         "trove-classifiers", "tomlkit", "flit-core")


def backend_wheels(directory: Path) -> list[Path]:
    """Wheels of BACKEND_DISTRIBUTIONS in `directory`, made once per directory."""
    made = sorted(directory.glob("*.whl")) if directory.is_dir() else []
    if len(made) == len(BACKEND_DISTRIBUTIONS):
        return made
    return [installed_wheel(directory, d) for d in BACKEND_DISTRIBUTIONS]


def make_real_sdist(directory: Path, name: str, version: str, *, backend: str,
                    files: Mapping[str, str] | None = None, setup_py: str | None = None,
                    requires_dist: Iterable[str] = ()) -> Path:
    """Write `<name>-<version>.tar.gz` shaped like a real sdist built by `backend`:

    - "setup.py": a setup.py and no pyproject.toml (setuptools' legacy backend, like docopt 0.6.2);
      `setup_py` replaces the generated one (hostile sdists put their code there);
    - "setuptools": pyproject.toml with setuptools.build_meta and a [project] table;
    - "hatchling", "flit_core": pyproject.toml with that backend and a [project] table.

    The PKG-INFO has Metadata-Version 2.1 (not final), so resolving builds its metadata.
    """
    module = canonicalize_name(name).replace("-", "_")
    members = dict(files) if files is not None else {
        f"{module}/__init__.py": f'"""{name}."""\n__version__ = {version!r}\n'}
    deps = list(requires_dist)
    tree: dict[str, str] = dict(members)
    project = textwrap.dedent(f"""\
        [project]
        name = "{name}"
        version = "{version}"
        description = "{name}"
        dependencies = {deps!r}
        """).replace("'", '"')
    if backend == "setup.py":
        tree["setup.py"] = setup_py if setup_py is not None else textwrap.dedent(f"""\
            from setuptools import setup
            setup(name={name!r}, version={version!r}, packages=[{module!r}],
                  install_requires={deps!r})
            """)
    elif backend == "setuptools":
        tree["pyproject.toml"] = ('[build-system]\nrequires = ["setuptools>=61"]\n'
                                  'build-backend = "setuptools.build_meta"\n\n' + project +
                                  f'\n[tool.setuptools]\npackages = ["{module}"]\n')
    elif backend == "hatchling":
        tree["pyproject.toml"] = ('[build-system]\nrequires = ["hatchling"]\n'
                                  'build-backend = "hatchling.build"\n\n' + project +
                                  f'\n[tool.hatch.build.targets.wheel]\npackages = ["{module}"]\n')
    elif backend == "flit_core":
        tree["pyproject.toml"] = ('[build-system]\nrequires = ["flit_core>=3.4"]\n'
                                  'build-backend = "flit_core.buildapi"\n\n' + project)
    else:
        raise ValueError(f"unknown backend {backend!r}")
    tree["PKG-INFO"] = core_metadata(name, version, deps, metadata_version="2.1")
    root = f"{module}-{version}"
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
