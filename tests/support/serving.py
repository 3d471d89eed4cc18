"""Waiting for a `venvd serve` subprocess a test started to answer."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import httpx

# Generous: a loaded 2-core CI machine has taken more than 30 s to import and start a server.
START_SECONDS = 60.0


def wait_healthy(proc: subprocess.Popen[str] | subprocess.Popen[bytes], url: str,
                 output: Callable[[], str], seconds: float = START_SECONDS) -> None:
    """Return once `url`/v1/health answers 200; AssertionError with the server's `output()` when
    the process exits first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"venvd serve did not start at {url}: {output()}")
        time.sleep(0.1)
