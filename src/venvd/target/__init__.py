"""Target platforms: a PEP 508 marker environment plus an ordered list of PEP 425 tags.

`probe_interpreter` describes a real interpreter (by the self-contained `_probe` script, once per
process and executable); `Target.current()` is the running one as `packaging` sees it.
"""

from __future__ import annotations

from venvd.target._interpreter import Interpreter, probe_interpreter
from venvd.target._model import Target
from venvd.target._request import target_from_request
from venvd.target._shorthand import target_from_shorthand

__all__ = ["Interpreter", "Target", "probe_interpreter", "target_from_request", "target_from_shorthand"]
