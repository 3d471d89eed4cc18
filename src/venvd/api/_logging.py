"""Request ids, one log line per request, and the log formats of `venvd serve`.

Each request gets an id: the client's ``X-Request-Id`` when it is sane (1-128 characters of
letters, digits and ``._:-``; anything else could forge log lines), else a new random one. The id
is returned in the ``X-Request-Id`` response header, put into every JSON error's
``details.request_id``, attached to every log record written while the request runs (a context
variable, so threads started by `asyncio.to_thread` and FastAPI's thread pool see it) and written
on the request's one access line (logger ``venvd.access``): method, path, route, status, duration,
bytes sent.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestContext", "configure_logging", "current_request_id", "route_template"]

_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("venvd_request_id",
                                                                          default=None)
access_log = logging.getLogger("venvd.access")


def current_request_id() -> str | None:
    """The id of the request being served in this context, or None outside a request."""
    return _request_id.get()


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/v1/environments/{env_id}`), or "unmatched": label
    values stay few whatever paths clients send."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


Observer = Callable[[str, str, int, float, int], None]  # method, route, status, seconds, bytes


class RequestContext:
    """ASGI middleware: request id, access log line and, through `observe`, per-request metrics.
    It is the outermost layer, so the 413s of the body limit get an id and a line too."""

    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        sent = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()),
                                      (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"]
            if self.observe is not None:
                self.observe(method, route, status, seconds, sent)
            client = scope.get("client")
            access_log.info(
                '%s %s %s %d %.1fms %dB', method, scope["path"], route, status, seconds * 1000,
                sent,
                extra={"method": method, "path": scope["path"], "route": route, "status": status,
                       "duration_ms": round(seconds * 1000, 2), "bytes": sent,
                       "client": client[0] if client else None})
            _request_id.reset(token)


class _WithRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


# Attributes every LogRecord has: whatever else a record carries came from `extra`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "request_id", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id, the record's
    extra fields, and the traceback (as text) when there is one."""

    def __init__(self) -> None:
        super().__init__()
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in doc:
                doc[key] = value
        if record.exc_info:
            doc["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(doc, default=str)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [{request_id}]" if request_id else line


def configure_logging(fmt: str = "text", level: str = "info") -> None:
    """Send venvd's and uvicorn's logs to stderr, one record a line, as `fmt` ("text" or
    "json"), with the request id on every record written while a request runs."""
    import sys

    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        text = _TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        text.converter = time.gmtime
        handler.setFormatter(text)
    handler.addFilter(_WithRequestId())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # Our access line replaces uvicorn's; Alembic's per-start chatter is not an event.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic").setLevel(logging.WARNING)
