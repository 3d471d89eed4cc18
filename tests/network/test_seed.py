"""The seed example against the public index (marked `network`; CI deselects it).

`django>=1.8` and `requests>=2.7`, for Python 3.11 on manylinux and for Python 2.7.6 on linux2. Each pin
is checked against the index's own metadata: its Requires-Python admits the target, every dependency
the lock lists satisfies the specifiers of its dependents (markers evaluated for the target), and it is
the newest version that does (no newer release of a package would also fit).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
import pytest
from packaging.metadata import Metadata
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from venvd.service import Service, Settings
from venvd.target import Target

pytestmark = pytest.mark.network

PYPI = "https://pypi.org"


def _files(http: httpx.Client, name: str) -> list[dict]:
    """The project's files from the PEP 691 simple API."""
    response = http.get(
        f"{PYPI}/simple/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    response.raise_for_status()
    return response.json()["files"]  # type: ignore[no-any-return]


def _metadata(http: httpx.Client, files: list[dict], version: str) -> Metadata:
    """The index's own core metadata of a wheel of `version`: its PEP 658 file, else the wheel's."""
    wheels = [
        f
        for f in files
        if f["filename"].endswith(".whl")
        and parse_wheel_filename(f["filename"])[1] == Version(version)
    ]
    assert wheels, f"no wheel of {version}"
    for f in wheels:
        if f.get("core-metadata") or f.get("dist-info-metadata"):
            response = http.get(f["url"] + ".metadata")
            response.raise_for_status()
            return Metadata.from_email(response.content, validate=False)
    response = http.get(wheels[0]["url"])
    response.raise_for_status()
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return Metadata.from_email(zf.read(name), validate=False)


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
            files = _files(http, package.name)
            meta = _metadata(http, files, package.version)
            assert target.allows_python(str(meta.requires_python or ""))
            for req in meta.requires_dist or []:
                text = str(req)
                if req.marker is not None and not req.marker.evaluate(env):
                    continue
                dep = canonicalize_name(req.name)
                assert dep in pins, f"{package.name} needs {text}, missing from the lock"
                assert req.specifier.contains(pins[dep], prereleases=True), (package.name, text)
            # Newest: no final release above the pin that the top-level ranges admit and that
            # supports the target's Python (checked for the two requested projects).
            if package.name in ("django", "requests"):
                spec = SpecifierSet(">=1.8" if package.name == "django" else ">=2.7")
                newer = set()
                for f in files:
                    if f.get("yanked") or not f["filename"].endswith((".whl", ".tar.gz")):
                        continue
                    if f["filename"].endswith(".whl"):
                        v = parse_wheel_filename(f["filename"])[1]
                    else:
                        v = parse_sdist_filename(f["filename"])[1]
                    if v.is_prerelease or v <= Version(package.version) or v not in spec:
                        continue
                    if target.allows_python(f.get("requires-python")):
                        newer.add(str(v))
                assert not newer, f"{package.name} {package.version} is not the newest: {newer}"
