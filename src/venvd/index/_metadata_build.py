"""Child process: core metadata of an sdist by a PEP 517 build in an isolated environment.

    python -m venvd.index._metadata_build SDIST OUT_DIR

Extracts SDIST (refusing members that would land outside the extraction directory), creates an
isolated build environment (pypa/build's DefaultIsolatedEnv; uv as installer when it is available,
else pip), installs the build requirements, then calls `prepare_metadata_for_build_wheel`, falling
back to `build_wheel` when the backend lacks that hook, and writes the result to OUT_DIR/METADATA.

Each step is announced on stderr as a line `##venvd-step <name>` before it starts, so that the
parent (`_sdist_build.py`), which owns the timeout and the clean environment, can say which step
failed. Exit status 0 means OUT_DIR/METADATA exists.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import traceback
import zipfile
from pathlib import Path

from venvd._sdist import isolated_builder

STEP_MARK = "##venvd-step "


def step(name: str) -> None:
    sys.stderr.write(f"{STEP_MARK}{name}\n")
    sys.stderr.flush()


def build_metadata(sdist: Path, out_dir: Path) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="venvd-src-") as tmp,
        isolated_builder(sdist, Path(tmp) / "src", step) as builder,
    ):
        step("prepare_metadata_for_build_wheel")
        prepared = builder.prepare("wheel", out_dir / "prepared")
        if prepared is not None:
            shutil.copyfile(Path(prepared) / "METADATA", out_dir / "METADATA")
            return
        step("build_wheel")
        wheel = Path(builder.build("wheel", out_dir / "wheel"))
        with zipfile.ZipFile(wheel) as zf:
            names = [n for n in zf.namelist()
                     if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            if len(names) != 1:
                raise RuntimeError(f"{wheel.name} has no single .dist-info/METADATA")
            (out_dir / "METADATA").write_bytes(zf.read(names[0]))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m venvd.index._metadata_build SDIST OUT_DIR\n")
        return 2
    try:
        build_metadata(Path(argv[0]), Path(argv[1]))
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
