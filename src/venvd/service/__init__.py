"""The service: the one place that wires target, index, store, resolver and builder together."""

from __future__ import annotations

from venvd.service._request import RequestOptions, ResolveRequest, parse_requirement
from venvd.service._resolve import ResolveResult
from venvd.service._service import Service
from venvd.service.settings import Settings

__all__ = [
    "RequestOptions",
    "ResolveRequest",
    "ResolveResult",
    "Service",
    "Settings",
    "parse_requirement",
]
