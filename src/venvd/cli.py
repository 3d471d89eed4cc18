"""Command line (being written)."""

from __future__ import annotations


def main() -> None:
    raise SystemExit("venvd: not yet")
