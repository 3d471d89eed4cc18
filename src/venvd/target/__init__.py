"""Target platforms: a PEP 508 marker environment plus an ordered list of PEP 425 tags."""

from __future__ import annotations

from venvd.target._model import Target

__all__ = ["Target"]
