"""Following an environment over the HTTP API until its build ends."""

from __future__ import annotations

import time
from typing import Any

import httpx


def wait_finished(client: httpx.Client, env_id: str, timeout: float = 120) -> dict[str, Any]:
    """The status document of `env_id` once it is ready or failed (polled every 0.1 s through
    `client`, whose base URL is the server); AssertionError with the last document after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        doc = client.get(f"/v1/environments/{env_id}").json()
        if doc["status"] in ("ready", "failed"):
            return doc
        time.sleep(0.1)
    raise AssertionError(f"environment {env_id} did not finish: {doc}")
