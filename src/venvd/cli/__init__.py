"""The `venvd` command line. Heavy imports live inside the commands, so `venvd --help` starts fast.

Exit codes: 0 ok, 1 no resolution / build failed (explanation on stderr), 2 bad input (one readable line),
3 upstream or server failure.
"""

from __future__ import annotations

from venvd.cli._main import main

__all__ = ["main"]
