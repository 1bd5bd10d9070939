"""Logging: readable lines in a terminal, JSON lines with `LOG_FORMAT=json`; one line per request."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any, Final

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware

from .auth import refusal_reason

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ("AccessLogMiddleware", "configure_logging")

access_logger = logging.getLogger("access")

REQUEST_ID_HEADER: Final = "x-request-id"
# A caller's request id is kept only when it is short and plain, so it cannot forge log lines.
SAFE_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    """`time level logger: message key=value ...` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        line = super().format(record)
        return " ".join([line, *(f"{key}={value}" for key, value in fields.items())])


def configure_logging(log_format: str, level: str) -> None:
    """Send every logger (uvicorn's included) through one handler in the chosen format.

    Records carry no caller, thread or process information: neither format prints it, and
    collecting it costs about a third of each access line (Python's logging HOWTO,
    "Optimization").
    """
    handler = logging.StreamHandler()
    handler.setFormatter(JSONFormatter() if log_format == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # The access line below replaces uvicorn's, and httpx would log every JWKS request at INFO.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)


class AccessLogMiddleware(ASGIMiddleware):
    """Logs one line per HTTP request: request id, method, route, status, latency, auth reason.

    The request id comes from the caller's `X-Request-ID` (when plain) or is generated, and is
    echoed in the response so clients can quote it.
    """

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        request_id = _request_id(scope)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await next_app(scope, receive, send_with_id)
        finally:
            method = scope.get("method", "-")
            fields = {
                "request_id": request_id,
                "method": method,
                "path": scope["path"],
                "route": scope.get("path_template", "-"),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            reason = refusal_reason(scope)
            if reason:
                fields["auth_failure"] = reason
            access_logger.info("%s %s %d", method, scope["path"], status, extra={"fields": fields})


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            if SAFE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return os.urandom(16).hex()
