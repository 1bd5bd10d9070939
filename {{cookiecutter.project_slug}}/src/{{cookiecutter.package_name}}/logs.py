"""Logging: readable lines in a terminal, JSON lines with `LOG_FORMAT=json`; the access lines."""

from __future__ import annotations

import json
import logging
import os
import re
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

    from litestar.types import Scope

    from .observability import Observation

__all__ = ("configure_logging", "request_id", "write_access_lines")

access_logger = logging.getLogger("access")

REQUEST_ID_HEADER: Final = b"x-request-id"
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
    # Our access lines replace uvicorn's, and httpx would log every JWKS request at INFO.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)


def write_access_lines(batch: Sequence[Observation]) -> None:
    """Log one `access` record per noted request, stamped with the time it was answered."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    for ended, rid, method, path, route, status, seconds, reason in batch:
        fields: dict[str, Any] = {
            "request_id": rid,
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        }
        if reason:
            fields["auth_failure"] = reason
        record = access_logger.makeRecord(
            access_logger.name,
            logging.INFO,
            __file__,
            0,
            "%s %s %d",
            (method, path, status),
            None,
            extra={"fields": fields},
        )
        record.created = ended
        record.msecs = (ended - int(ended)) * 1000
        access_logger.handle(record)


def request_id(scope: Scope) -> str:
    """The caller's `X-Request-ID` when it is short and plain, else a new random one."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            candidate = value.decode("latin-1")
            if SAFE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return os.urandom(16).hex()
