"""Path safety for untrusted archives (wheels on the server, environment archives on the client)."""

from __future__ import annotations

import re

__all__ = ["unsafe_path_reason"]

_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_path_reason(path: str) -> str | None:
    """Why a relative "/"-separated path from an untrusted archive is unsafe, or None if fine."""
    if not path:
        return "is empty"
    if "\0" in path:
        return "contains a NUL byte"
    if "\\" in path:
        return "contains a backslash (a path separator on Windows)"
    if path.startswith("/") or _DRIVE.match(path):
        return "is absolute"
    if any(part in ("..", ".") for part in path.split("/")):
        return "contains '..' or '.'"
    return None
