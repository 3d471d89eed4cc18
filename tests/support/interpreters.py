"""Other interpreters and real wheels the machine already has, for tests that need them.

`pypy3()`: Debian's pypy3 (.ci/run installs it). A test that needs it skips when it is missing,
except under CI, where a missing pypy3 fails the test: the second implementation must be tested.

`bundled_wheel(project)`: the wheel of pip or setuptools that the running interpreter's
`ensurepip` carries (or the distribution's wheel directory, Debian's /usr/share/python-wheels),
so tests can serve real pip from the local index without a network.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

import pytest

__all__ = ["bundled_wheel", "pypy3"]


def pypy3() -> str:
    found = shutil.which("pypy3")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("pypy3 is missing under CI: .ci/run installs it (apt-get install -y pypy3)")
        pytest.skip("no pypy3 on this machine (apt-get install -y pypy3); CI runs this test")
    return found


def bundled_wheel(project: str) -> Path | None:
    """The newest ``<project>-*-py3-none-any.whl`` ensurepip can install, or None."""
    import ensurepip

    places = [Path(ensurepip.__file__).parent / "_bundled"]
    wheel_dir = sysconfig.get_config_var("WHEEL_PKG_DIR")
    if wheel_dir:
        places.append(Path(wheel_dir))
    for place in places:
        found = sorted(place.glob(f"{project}-*-py3-none-any.whl")) if place.is_dir() else []
        if found:
            return found[-1]
    return None
