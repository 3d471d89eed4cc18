"""Targets from `--python X.Y[.Z]` and `--platform NAME` shorthands (to be written)."""

from __future__ import annotations

from venvd.target._model import Target


def target_from_shorthand(python: str | None, platform: str | None) -> Target:
    raise NotImplementedError
