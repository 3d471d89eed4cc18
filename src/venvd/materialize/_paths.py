"""What an untrusted archive may name: the path rule and the error every violation raises."""

from __future__ import annotations

from venvd._paths import unsafe_path_reason

__all__ = ["UnsafeArchive", "unsafe_path_reason"]


class UnsafeArchive(Exception):
    """The archive is malformed or would write outside its place (becomes BuildError "extract")."""
