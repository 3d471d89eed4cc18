"""Clients of the venvd service: over HTTP (`HttpClient`) or in-process (`LocalClient`).

Both speak the same JSON documents as the HTTP API and raise the same `venvd.errors` exceptions, so the
CLI does not care which one it has. `connect(server_url, settings)` picks one. Imports are lazy: a
command talking to a server never loads the in-process service (SQLAlchemy, the resolver, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from venvd.client._protocol import Client, connect

if TYPE_CHECKING:
    from venvd.client._http import HttpClient
    from venvd.client._local import LocalClient

__all__ = ["Client", "HttpClient", "LocalClient", "connect"]


def __getattr__(name: str) -> Any:
    if name == "HttpClient":
        from venvd.client._http import HttpClient

        return HttpClient
    if name == "LocalClient":
        from venvd.client._local import LocalClient

        return LocalClient
    raise AttributeError(name)
