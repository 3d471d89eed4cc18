"""Names of a package imported from their modules on first use (PEP 562).

    __getattr__ = lazy_names(__name__, {"Target": "_model", ...}, globals())

A package whose commands need only some of its modules (`venvd create` needs no shorthand parser,
a resolving service no builder) lists where each public name lives; the package's import then costs
nothing, and each module is imported when one of its names is first asked for, then kept in the
package's namespace so the next access is a plain lookup. The package keeps the same names under
`TYPE_CHECKING` for type checkers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, homes: dict[str, str],
               namespace: dict[str, Any]) -> Callable[[str], Any]:
    """The module `__getattr__` of `package`: name → `package.<homes[name]>`'s name, stored into
    `namespace` (the package's globals); AttributeError for any other name."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        namespace[name] = value
        return value

    return __getattr__
