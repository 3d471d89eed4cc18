"""`python -m venvd`: the same as the `venvd` command."""

from __future__ import annotations

from venvd.cli import main

main()
