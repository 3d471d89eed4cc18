"""The import check of a new venv (`venvd.materialize._verify.import_problems`): the requested
projects' modules are imported in one child of the venv's interpreter; a module that fails there
is tried again alone, so two projects that cannot share a process (pip below Python 3.12 imports
the standard library's distutils, which setuptools' shim then refuses) are not reported broken,
while a module that fails alone still is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from venvd.materialize._verify import import_problems


def _venv(root: Path, modules: dict[str, str]) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   timeout=120)
    [site] = root.glob("lib/python3*/site-packages")
    for name, text in modules.items():
        (site / name).mkdir()
        (site / name / "__init__.py").write_text(text)
    return root / "bin" / "python"


def test_modules_that_only_clash_with_each_other_pass_and_broken_ones_fail(tmp_path: Path) -> None:
    python = _venv(tmp_path / "venv", {
        # aaa is imported first (the list is sorted); zzz refuses to load after it, as
        # setuptools refuses to load after pip has imported the standard library's distutils.
        "aaa": "import builtins\nbuiltins.AAA_LOADED = True\n",
        "zzz": "import builtins\nassert not getattr(builtins, 'AAA_LOADED', False), 'after aaa'\n",
        "broken": "raise ImportError('boom')\n",
    })
    failed = import_problems(python, ["aaa", "broken", "zzz"], tmp_path)
    assert set(failed) == {"broken"}
    assert "boom" in failed["broken"]
    # In one process, zzz does fail after aaa: the retry alone is what clears it.
    assert set(import_problems(python, ["aaa", "zzz"], tmp_path)) == set()
    clash = subprocess.run([str(python), "-c", "import aaa, zzz"], capture_output=True, text=True,
                           timeout=60)
    assert clash.returncode != 0 and "after aaa" in clash.stderr
