"""Target platforms: a PEP 508 marker environment plus an ordered list of PEP 425 tags.

`probe_interpreter` describes a real interpreter (by the self-contained `_probe` script, once per
process and executable); `Target.current()` is the running one as `packaging` sees it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from venvd._lazy import lazy_names

if TYPE_CHECKING:
    from venvd.target._interpreter import Interpreter, probe_interpreter
    from venvd.target._model import Target
    from venvd.target._request import target_from_request
    from venvd.target._shorthand import target_from_shorthand

__all__ = ["Interpreter", "Target", "probe_interpreter", "target_from_request", "target_from_shorthand"]

# Each name is imported from its module on first use (PEP 562): `venvd create` describes its
# interpreter and checks a complete platform, and never parses a shorthand or a request's target
# (`_shorthand` and `_request`: their dataclass and regular expressions, ~1.3 ms of its start-up).
_HOMES = {
    "Interpreter": "_interpreter", "probe_interpreter": "_interpreter", "Target": "_model",
    "target_from_request": "_request", "target_from_shorthand": "_shorthand",
}


__getattr__ = lazy_names(__name__, _HOMES, globals())
