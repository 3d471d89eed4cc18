"""Environment commands (`create`, `export`): filled in with the builder."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
