"""The venv layout of a target: where site-packages, scripts and headers go in the venv.

POSIX: ``lib/pythonX.Y/site-packages`` (``lib/pypyX.Y/...`` on PyPy), ``bin``, headers in
``include/site/pythonX.Y/<name>``. Windows (sys_platform win32): ``Lib/site-packages``, ``Scripts``
with installer's .exe launchers for the target's CPU, headers in ``Include/site/pythonX.Y/<name>``.
Data files go to the venv root. Paths use "/" whatever the target; the archive is read that way.

`Layout.key` names everything that changes the bytes of an installed wheel, so it keys the fragment
cache: two targets with the same layout share installed fragments.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from venvd.errors import InvalidTarget
from venvd.target import Target

__all__ = ["LauncherKind", "Layout"]

LauncherKind = Literal["posix", "win-ia32", "win-amd64", "win-arm", "win-arm64"]

_WINDOWS_MACHINES: dict[str, LauncherKind] = {
    "amd64": "win-amd64", "x86_64": "win-amd64", "x64": "win-amd64",
    "arm64": "win-arm64", "aarch64": "win-arm64",
    "x86": "win-ia32", "i386": "win-ia32", "i686": "win-ia32",
}
_WINDOWS_PLATFORM_TAGS: dict[str, LauncherKind] = {
    "win_amd64": "win-amd64", "win_arm64": "win-arm64", "win32": "win-ia32",
}


@dataclasses.dataclass(frozen=True)
class Layout:
    python_version: str  # "X.Y"
    windows: bool
    site_packages: str
    scripts: str
    include: str  # headers go to <include>/<project name>
    launcher: LauncherKind

    @classmethod
    def for_target(cls, target: Target) -> Layout:
        """The layout of a venv for `target`; InvalidTarget if a Windows target's CPU is unknown."""
        env = target.marker_environment
        version = target.python_version
        windows = env.get("sys_platform", "").startswith("win") or env.get("os_name") == "nt"
        if windows:
            return cls(python_version=version, windows=True, site_packages="Lib/site-packages",
                       scripts="Scripts", include=f"Include/site/python{version}",
                       launcher=_windows_launcher(target))
        stem = "pypy" if env.get("implementation_name") == "pypy" else "python"
        return cls(python_version=version, windows=False,
                   site_packages=f"lib/{stem}{version}/site-packages", scripts="bin",
                   include=f"include/site/python{version}", launcher="posix")

    @property
    def key(self) -> str:
        """A file-name-safe identity, e.g. ``posix-python3.11``, ``posix-pypy3.10``,
        ``win-amd64-python3.12``."""
        if self.windows:
            return f"{self.launcher}-python{self.python_version}"
        return f"posix-{self.site_packages.split('/')[1]}"

    def scheme_dict(self, project: str) -> dict[str, str]:
        """installer's scheme → directory relative to the venv root ("" is the root)."""
        return {
            "purelib": self.site_packages,
            "platlib": self.site_packages,
            "scripts": self.scripts,
            "headers": f"{self.include}/{project}",
            "data": "",
        }

    def reserved_paths(self) -> frozenset[str]:
        """Files of the venv skeleton that the client creates and no wheel may replace."""
        if self.windows:
            names = ["python.exe", "pythonw.exe", "activate", "activate.bat", "deactivate.bat",
                     "Activate.ps1"]
        else:
            names = ["python", "python3", f"python{self.python_version}", "activate",
                     "activate.csh", "activate.fish", "Activate.ps1"]
        return frozenset([f"{self.scripts}/{n}" for n in names] + ["pyvenv.cfg"])

    def to_json(self) -> dict[str, Any]:
        return {
            "python_version": self.python_version,
            "kind": "windows" if self.windows else "posix",
            "site_packages": self.site_packages,
            "scripts": self.scripts,
            "include": self.include,
            "data": ".",
            "launcher": self.launcher,
        }


def _windows_launcher(target: Target) -> LauncherKind:
    machine = target.marker_environment.get("platform_machine", "").lower()
    if machine in _WINDOWS_MACHINES:
        return _WINDOWS_MACHINES[machine]
    for tag in target.compatible_tags:
        if tag.platform in _WINDOWS_PLATFORM_TAGS:
            return _WINDOWS_PLATFORM_TAGS[tag.platform]
    raise InvalidTarget(
        f"cannot tell the CPU of this Windows target (platform_machine {machine!r}, no win_* tag): "
        "its script launchers cannot be chosen")
