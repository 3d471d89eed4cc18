"""The seed example against the public index (marked `network`; CI deselects it).

`django>=1.8` and `requests>=2.7`, for Python 3.11 on manylinux and for Python 2.7.6 on linux2. Each pin
is checked against the index's own metadata: its Requires-Python admits the target, every dependency
the lock lists satisfies the specifiers of its dependents (markers evaluated for the target), and it is
the newest version that does (no newer release of a package would also fit).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from venvd.service import Service, Settings
from venvd.target import Target

pytestmark = pytest.mark.network

PYPI = "https://pypi.org"


def _project(http: httpx.Client, name: str) -> dict:
    response = http.get(f"{PYPI}/pypi/{name}/json")
    response.raise_for_status()
    return response.json()


def _release(http: httpx.Client, name: str, version: str) -> dict:
    response = http.get(f"{PYPI}/pypi/{name}/{version}/json")
    response.raise_for_status()
    return response.json()


@pytest.mark.parametrize(
    ("python", "platform", "expected"),
    [
        ("3.11", "manylinux_2_28_x86_64", {}),
        ("2.7.6", "linux_x86_64", {"django": "1.11.29", "requests": "2.27.1"}),
    ],
)
def test_seed_pins_agree_with_the_index(
    tmp_path: Path, python: str, platform: str, expected: dict[str, str]
) -> None:
    target = Target.from_shorthand(python, platform)
    with Service.open(Settings(data_dir=tmp_path)) as service:
        lock = service.resolve(service.make_request(["django>=1.8", "requests>=2.7"], target)).lock
    pins = {p.name: p.version for p in lock.packages}
    for name, version in expected.items():
        assert pins[name] == version
    assert {"django", "requests", "idna", "urllib3", "certifi"} <= set(pins)
    env = dict(target.marker_environment, extra="")
    with httpx.Client(timeout=60, follow_redirects=True) as http:
        for package in lock.packages:
            info = _release(http, package.name, package.version)["info"]
            assert target.allows_python(info.get("requires_python"))
            for text in info.get("requires_dist") or []:
                req = Requirement(text)
                if req.marker is not None and not req.marker.evaluate(env):
                    continue
                dep = canonicalize_name(req.name)
                assert dep in pins, f"{package.name} needs {text}, missing from the lock"
                assert req.specifier.contains(pins[dep], prereleases=True), (package.name, text)
            # Newest: no final release above the pin that the top-level ranges admit and that
            # supports the target's Python (checked for the two requested projects).
            if package.name in ("django", "requests"):
                spec = SpecifierSet(">=1.8" if package.name == "django" else ">=2.7")
                releases = _project(http, package.name)["releases"]
                newer = []
                for version, files in releases.items():
                    v = Version(version)
                    if v.is_prerelease or v <= Version(package.version) or v not in spec:
                        continue
                    live = [f for f in files if not f.get("yanked")]
                    if any(target.allows_python(f.get("requires_python")) for f in live):
                        newer.append(version)
                assert not newer, f"{package.name} {package.version} is not the newest: {newer}"
