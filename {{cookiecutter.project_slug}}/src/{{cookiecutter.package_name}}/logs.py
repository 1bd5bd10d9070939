"""Logging: readable lines in a terminal, JSON lines with `LOG_FORMAT=json`; the access lines."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from typing import TYPE_CHECKING, Any, Final

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import TextIO

    from litestar.types import Scope

    from .observability import Observation

__all__ = ("AccessLog", "configure_logging", "request_id")

access_logger = logging.getLogger("access")
logger = logging.getLogger(__name__)

REQUEST_ID_HEADER: Final = b"x-request-id"
# A caller's request id is kept only when it is short and plain, so it cannot forge log lines.
SAFE_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
JSON_TIME: Final = "%Y-%m-%dT%H:%M:%S%z"
CONSOLE_TIME: Final = "%Y-%m-%d %H:%M:%S"
JSON_LINE: Final = msgspec.json.Encoder()
ID_BYTES: Final = 16
POOLED_IDS: Final = 256


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, JSON_TIME),
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
        return " ".join([line, *(f"{key}={plain(str(value))}" for key, value in fields.items())])


def plain(text: str) -> str:
    """`text` as one console token: quoted and escaped (as JSON) unless printable, without spaces.

    A value holding a newline (a client's percent-encoded path, say) could forge a line.
    """
    return text if text.isprintable() and " " not in text and text else json.dumps(text)


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


class AccessLog:
    """Writes a batch of noted requests as access lines, with one `write` to stderr.

    The lines have the layout of the `access` logger's records in the chosen format, but are
    formatted here: a `LogRecord` and its formatter cost ten times as much per line. They are
    written while the `access` logger is enabled for INFO (`LOG_LEVEL=WARNING` silences them).
    """

    def __init__(self, log_format: str, stream: TextIO | None = None) -> None:
        """`stream`: where the lines go; by default `sys.stderr`, as for every other record."""
        self._line: Callable[[Observation], str] = (
            self._json_line if log_format == "json" else self._console_line
        )
        self._stream = stream
        self._second = -1
        self._stamp = ""

    def __call__(self, batch: Sequence[Observation]) -> None:
        """Write one line per record; a stream that fails loses this batch, with a warning."""
        if not access_logger.isEnabledFor(logging.INFO):
            return
        stream = self._stream or sys.stderr
        try:
            stream.write("".join(map(self._line, batch)))
            stream.flush()
        except (OSError, ValueError) as exc:
            logger.warning("%d access lines could not be written: %s", len(batch), exc)

    def _console_line(self, record: Observation) -> str:
        ended, rid, method, path, route, status, seconds, reason = record
        method, path = plain(method), plain(path)
        stamp = self._time(ended, CONSOLE_TIME)
        millis = int((ended % 1) * 1000)
        line = (
            f"{stamp},{millis:03d} INFO    access: {method} {path} {status} request_id={rid} "
            f"method={method} path={path} route={plain(route)} status={status} "
            f"duration_ms={round(seconds * 1000, 2)}"
        )
        return f"{line} auth_failure={reason}\n" if reason else line + "\n"

    def _json_line(self, record: Observation) -> str:
        ended, rid, method, path, route, status, seconds, reason = record
        entry: dict[str, Any] = {
            "time": self._time(ended, JSON_TIME),
            "level": "INFO",
            "logger": "access",
            "message": f"{method} {path} {status}",
            "request_id": rid,
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        }
        if reason:
            entry["auth_failure"] = reason
        try:
            return JSON_LINE.encode(entry).decode() + "\n"
        except UnicodeEncodeError:  # a lone surrogate, which only `json` escapes
            return json.dumps(entry) + "\n"

    def _time(self, ended: float, layout: str) -> str:
        """The local time of `ended` to the second, formatted once per second."""
        second = int(ended)
        if second != self._second:
            self._second, self._stamp = second, time.strftime(layout, time.localtime(second))
        return self._stamp


def request_id(scope: Scope) -> str:
    """The caller's `X-Request-ID` when it is short and plain, else a new random one."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            candidate = value.decode("latin-1")
            if SAFE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return new_request_id()


class RandomIds:
    """New request ids, 128 random bits in hex each, cut from a pool of `POOLED_IDS`.

    One `os.urandom` call per pool, not per request: on a virtual machine the system call
    costs more than the rest of the request's id. A forked child starts a pool of its own.
    """

    __slots__ = ("_next", "_pool")

    def __init__(self) -> None:
        self._pool = ""
        self._next = 0

    def __call__(self) -> str:
        start = self._next
        if start >= len(self._pool):
            self._pool, start = os.urandom(ID_BYTES * POOLED_IDS).hex(), 0
        self._next = start + 2 * ID_BYTES
        return self._pool[start : self._next]

    def discard(self) -> None:
        """Forget the pool, so no id drawn from it is handed out again."""
        self._pool, self._next = "", 0


new_request_id: Final = RandomIds()
if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=new_request_id.discard)
