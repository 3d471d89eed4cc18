"""venvd: a virtualenv build server and its client.

Resolve fuzzy requirements for any target platform into an exactly pinned, hashed lock, build the
environment for that target, and ship it as one archive that the client unpacks into a usable venv.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
