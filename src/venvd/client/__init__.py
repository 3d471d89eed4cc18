"""Clients of the venvd service: over HTTP (`HttpClient`) or in-process (`LocalClient`).

Both speak the same JSON documents as the HTTP API and raise the same `venvd.errors` exceptions, so the
CLI does not care which one it has. `connect(server_url, settings)` picks one.
"""

from __future__ import annotations

from venvd.client._http import HttpClient
from venvd.client._local import LocalClient
from venvd.client._protocol import Client, connect

__all__ = ["Client", "HttpClient", "LocalClient", "connect"]
