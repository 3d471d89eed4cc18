"""Target platforms: a PEP 508 marker environment plus an ordered list of PEP 425 tags."""

from __future__ import annotations

from venvd.target._model import Target
from venvd.target._request import target_from_request
from venvd.target._shorthand import target_from_shorthand

__all__ = ["Target", "target_from_request", "target_from_shorthand"]
