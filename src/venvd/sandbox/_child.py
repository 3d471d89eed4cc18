"""The child process that runs inside the sandbox; imports only the standard library, `build`,
`pyproject_hooks` and `installer` (all from the server's own environment, mounted read-only).

    python -I -m venvd.sandbox._child COMMAND BUILD_DIR SDIST [WHEEL ...]

COMMAND is `prepare` (unpack SDIST into BUILD_DIR/src, create the build environment BUILD_DIR/env,
install the WHEELs offline, ask the backend `get_requires_for_build_wheel` and write the answer to
BUILD_DIR/out/requires.json), `metadata` (install WHEELs, `prepare_metadata_for_build_wheel`,
falling back to `build_wheel`, into BUILD_DIR/out/METADATA) or `wheel` (install WHEELs,
`build_wheel` into BUILD_DIR/out). Limits come in the environment (VENVD_SANDBOX_LIMITS: address
space MB, CPU s, file bytes, processes) and are set first. Each step is announced on stderr as
``##venvd-step <name>``; exit status 0 means the command's output exists.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
import tarfile
import traceback
import zipfile
from pathlib import Path
from typing import Any

STEP_MARK = "##venvd-step "
LIMITS_VARIABLE = "VENVD_SANDBOX_LIMITS"
COMMANDS = ("prepare", "metadata", "wheel")


def step(name: str) -> None:
    sys.stderr.write(f"{STEP_MARK}{name}\n")
    sys.stderr.flush()


def set_limits(spec: str) -> None:
    """`spec` is "AS_MB,CPU_S,FILE_BYTES,NPROC"; each limit only ever lowered."""
    import resource

    memory_mb, cpu, file_bytes, nproc = (int(v) for v in spec.split(","))
    wanted = [
        (resource.RLIMIT_AS, memory_mb * 1024 * 1024, memory_mb * 1024 * 1024),
        # The soft CPU limit sends SIGXCPU; the hard one, a little later, SIGKILL.
        (resource.RLIMIT_CPU, cpu, cpu + 5),
        (resource.RLIMIT_FSIZE, file_bytes, file_bytes),
        (resource.RLIMIT_NPROC, nproc, nproc),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    for which, soft, hard in wanted:
        _old_soft, old_hard = resource.getrlimit(which)
        if old_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, old_hard), min(hard, old_hard)
        resource.setrlimit(which, (soft, hard))


def unpack_sdist(sdist: Path, dest: Path) -> Path:
    """Unpack `sdist` into `dest`; the project directory (the single top-level one, if any).

    Zip members that would land outside `dest` are refused; tar members go through tarfile's
    PEP 706 "data" filter (no absolute paths, traversal, links out or device files).
    """
    dest.mkdir(parents=True, exist_ok=True)
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as zf:
            root = dest.resolve()
            for name in zf.namelist():
                if not (dest / name).resolve().is_relative_to(root):
                    raise RuntimeError(f"sdist member {name!r} points outside the source tree")
            zf.extractall(dest)
    else:
        if not hasattr(tarfile, "data_filter"):
            raise RuntimeError("this Python lacks tarfile's data filter (PEP 706): upgrade to "
                               "3.11.4 or later to unpack sdists safely")
        with tarfile.open(sdist, "r:*") as tf:
            tf.extractall(dest, filter="data")
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return dest


def _env_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _scheme(env: Path) -> dict[str, str]:
    names = sysconfig.get_scheme_names()
    scheme = "venv" if "venv" in names else ("nt" if os.name == "nt" else "posix_prefix")
    base = str(env)
    paths = sysconfig.get_paths(scheme, vars={"base": base, "platbase": base,
                                              "installed_base": base, "installed_platbase": base})
    return {"purelib": paths["purelib"], "platlib": paths["platlib"], "headers": paths["include"],
            "scripts": paths["scripts"], "data": paths["data"]}


def install_wheels(env: Path, wheels: list[Path]) -> None:
    """Install `wheels` into the build environment `env`, offline, with pypa/installer."""
    from installer import install
    from installer.destinations import SchemeDictionaryDestination
    from installer.sources import WheelFile

    destination = SchemeDictionaryDestination(
        _scheme(env), interpreter=str(_env_python(env)),
        script_kind="win-amd64" if os.name == "nt" else "posix")
    for wheel in wheels:
        with WheelFile.open(wheel) as source:
            install(source, destination, {"INSTALLER": b"venvd-sandbox\n"})


def _builder(source: Path, env: Path) -> Any:
    from build import ProjectBuilder

    return ProjectBuilder(source, python_executable=str(_env_python(env)))


def run(command: str, build_dir: Path, sdist: Path, wheels: list[Path]) -> None:
    src, env, out = build_dir / "src", build_dir / "env", build_dir / "out"
    out.mkdir(exist_ok=True)
    if command == "prepare":
        step("extract")
        source = unpack_sdist(sdist, src)
        (build_dir / "source").write_text(str(source.relative_to(build_dir)))
        step("create build environment")
        import venv

        venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env)
    source = build_dir / (build_dir / "source").read_text()
    step("install build requirements")
    install_wheels(env, wheels)
    builder = _builder(source, env)
    if command == "prepare":
        step("get_requires_for_build_wheel")
        requires = sorted(builder.get_requires_for_build("wheel"))
        (out / "requires.json").write_text(json.dumps(requires))
    elif command == "metadata":
        step("prepare_metadata_for_build_wheel")
        prepared = builder.prepare("wheel", out / "prepared")
        if prepared is not None:
            shutil.copyfile(Path(prepared) / "METADATA", out / "METADATA")
            return
        step("build_wheel")
        wheel = Path(builder.build("wheel", out / "wheel"))
        with zipfile.ZipFile(wheel) as zf:
            names = [n for n in zf.namelist()
                     if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            if len(names) != 1:
                raise RuntimeError(f"{wheel.name} has no single .dist-info/METADATA")
            (out / "METADATA").write_bytes(zf.read(names[0]))
    else:
        step("build_wheel")
        builder.build("wheel", out)
        wheels_out = [p for p in out.iterdir() if p.name.endswith(".whl")]
        if len(wheels_out) != 1:
            raise RuntimeError(f"the backend produced {len(wheels_out)} wheels, expected one")


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] not in COMMANDS:
        sys.stderr.write("usage: python -m venvd.sandbox._child prepare|metadata|wheel "
                         "BUILD_DIR SDIST [WHEEL ...]\n")
        return 2
    try:
        limits = os.environ.pop(LIMITS_VARIABLE, "")
        if limits and os.name == "posix":
            set_limits(limits)
        for directory in ("HOME", "TMPDIR"):
            if os.environ.get(directory):
                Path(os.environ[directory]).mkdir(parents=True, exist_ok=True)
        run(argv[0], Path(argv[1]), Path(argv[2]), [Path(w) for w in argv[3:]])
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
