"""The templates and static assets ship in the wheel (hatchling takes every file under
src/venvd), so an installed venvd serves its pages without the source tree."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_holds_templates_and_static_files(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    str(ROOT), "-w", str(tmp_path)], check=True, timeout=300)
    (wheel,) = tmp_path.glob("venvd-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.relative_to(ROOT / "src").as_posix()
               for folder in ("templates", "static")
               for p in (ROOT / "src/venvd/web" / folder).iterdir()}
    assert shipped and shipped <= names, shipped - names
    assert "venvd/web/static/venvd.js" in names and "venvd/web/templates/base.html" in names
