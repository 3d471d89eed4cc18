"""The packse resolver scenarios (../shared/scenarios/packse-0.3.59, the suite uv's resolver is tested
against) as a real index and venvd requests.

Each scenario's packages are published as packse does, named `<scenario name>-<package>`, so one
index serves every scenario: `build_index` writes a wheel per listed wheel tag (py3-none-any when
none is listed) and a PEP 643 sdist (static metadata, so resolving never builds it) per version,
unless the scenario turns either off, and serves them with their yanked flags from a `LocalIndex`.
`request_for` turns a scenario into the body of `POST /v1/resolve`: its root requirements renamed the
same way, the target Python from `[resolver_options] python` (else `[environment] python`, else
3.12, packse's default), the platform from `python_platform` (else Linux x86_64), and the options.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.dists import make_sdist, make_wheel
from tests.support.index_server import LocalIndex

SCENARIOS_DIR = Path(__file__).resolve().parent / "packse-0.3.59"
DEFAULT_PYTHON = "3.12"  # packse's default `[environment] python`
DEFAULT_REQUIRES_PYTHON = ">=3.12"  # packse's default for every version of a package
DEFAULT_PLATFORM = "manylinux_2_28_x86_64"
# packse's `python_platform` values (uv's --python-platform) as venvd platform shorthands.
PLATFORMS = {
    "x86_64-manylinux2014": "manylinux_2_17_x86_64",
    "x86_64-unknown-linux-gnu": "manylinux_2_28_x86_64",
    "aarch64-apple-darwin": "macosx_14_0_arm64",
    "x86_64-pc-windows-msvc": "win_amd64",
}


@dataclasses.dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    doc: dict[str, Any]

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.doc.get("resolver_options", {}))

    @property
    def expected(self) -> dict[str, Any]:
        return dict(self.doc.get("expected", {}))

    @property
    def universal(self) -> bool:
        return bool(self.options.get("universal"))

    def project(self, package: str) -> str:
        """The published name of one of the scenario's packages."""
        return str(canonicalize_name(f"{self.name}-{package}"))

    def rename(self, text: str) -> str:
        """A requirement of the scenario with its project renamed as published."""
        req = Requirement(text)
        req.name = self.project(req.name)
        return str(req)


def load_scenarios() -> list[Scenario]:
    out = []
    for path in sorted(SCENARIOS_DIR.glob("*/*.toml")):
        doc = tomllib.loads(path.read_text())
        if "name" in doc and "root" in doc:
            out.append(Scenario(path, doc["name"], doc))
    return out


def build_index(root: Path, scenarios: list[Scenario]) -> LocalIndex:
    """One started index serving the distributions of every scenario."""
    index = LocalIndex(root / "index")
    dists = root / "dists"
    for scenario in scenarios:
        for package, spec in scenario.doc.get("packages", {}).items():
            for version, info in spec.get("versions", {}).items():
                _publish(index, dists, scenario, package, version, info or {})
    return index.start()


def _publish(index: LocalIndex, dists: Path, scenario: Scenario, package: str, version: str,
             info: dict[str, Any]) -> None:
    name = scenario.project(package)
    requires = [scenario.rename(r) for r in info.get("requires", [])]
    extras = dict(info.get("extras", {}))
    for extra, reqs in extras.items():
        for text in reqs:
            req = Requirement(scenario.rename(text))
            condition = f'extra == "{extra}"'
            marker = f"({req.marker}) and {condition}" if req.marker else condition
            req.marker = None
            requires.append(f"{req}; {marker}")
    requires_python = info.get("requires_python", DEFAULT_REQUIRES_PYTHON) or None
    yanked = bool(info.get("yanked", False))
    out = dists / scenario.name
    out.mkdir(parents=True, exist_ok=True)
    if info.get("wheel", True):
        for tag in info.get("wheel_tags") or ["py3-none-any"]:
            wheel = make_wheel(out, name, version, requires_dist=requires,
                               requires_python=requires_python, extras=list(extras), tag=tag)
            index.add(wheel, yanked=yanked, requires_python=requires_python)
    if info.get("sdist", True):
        sdist = make_sdist(out, name, version, requires_dist=requires,
                           requires_python=requires_python, extras=list(extras))
        index.add(sdist, yanked=yanked, requires_python=requires_python)


def target_of(scenario: Scenario) -> dict[str, str]:
    options = scenario.options
    python = str(options.get("python") or scenario.doc.get("environment", {}).get("python")
                 or DEFAULT_PYTHON)
    platform = PLATFORMS[options["python_platform"]] if "python_platform" in options \
        else DEFAULT_PLATFORM
    return {"python": python, "platform": platform}


def request_for(scenario: Scenario, target: dict[str, str] | None = None) -> dict[str, Any]:
    options = scenario.options
    body: dict[str, Any] = {
        "requirements": [scenario.rename(r) for r in scenario.doc["root"].get("requires", [])],
        "target": target or target_of(scenario),
        "options": {"prereleases": bool(options.get("prereleases", False))},
    }
    if options.get("no_binary"):
        body["options"]["no_binary"] = [scenario.project(n) for n in options["no_binary"]]
    if options.get("no_build"):  # uv's --no-build-package: wheels only, as venvd's only_binary
        body["options"]["only_binary"] = [scenario.project(n) for n in options["no_build"]]
    return body


def expected_pins(scenario: Scenario) -> dict[str, str] | None:
    """{published name: version} the scenario expects, or None when it lists none."""
    packages = scenario.expected.get("packages")
    if packages is None:
        return None
    return {scenario.project(name): str(version) for name, version in packages.items()}
