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
MILLISECONDS: Final = tuple(f"{millis:03d}" for millis in range(1000))
MAX_FIXED_PARTS: Final = 1024
"""How many different (method, path, route, status, refusal) console lines keep their parts."""


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


class JSONAccessLine(msgspec.Struct, omit_defaults=True):
    """An access line in the JSON format: the members of `JSONFormatter`'s records, the fields."""

    time: str
    level: str
    logger: str
    message: str
    request_id: str
    method: str
    path: str
    route: str
    status: int
    duration_ms: float
    auth_failure: str | None = None  # only on refusals


class AccessLog:
    """Writes a batch of noted requests as access lines, with one `write` to stderr.

    The lines have the layout of the `access` logger's records in the chosen format, but are
    formatted here, a batch at a time: a `LogRecord` and its formatter cost ten times as much.
    Console lines keep the parts that repeat (method, path, route, status, refusal) formatted
    for the next request like it; JSON lines are encoded by one `msgspec` call per batch.
    They are written while the `access` logger is enabled for INFO (`LOG_LEVEL=WARNING`
    silences them).
    """

    def __init__(self, log_format: str, stream: TextIO | None = None) -> None:
        """`stream`: where the lines go; by default `sys.stderr`, as for every other record."""
        self._lines: Callable[[Sequence[Observation]], str] = (
            self._json_lines if log_format == "json" else self._console_lines
        )
        self._stream = stream
        self._second = -1
        self._stamp = ""
        self._fixed: dict[tuple[str, str, str, int, str | None], tuple[str, str, str]] = {}

    def __call__(self, batch: Sequence[Observation]) -> None:
        """Write one line per record; a stream that fails loses this batch, with a warning."""
        if not access_logger.isEnabledFor(logging.INFO):
            return
        stream = self._stream or sys.stderr
        try:
            stream.write(self._lines(batch))
            stream.flush()
        except (OSError, ValueError) as exc:
            logger.warning("%d access lines could not be written: %s", len(batch), exc)

    def _console_lines(self, batch: Sequence[Observation]) -> str:
        lines = []
        for ended, rid, method, path, route, status, seconds, reason in batch:
            fixed = self._fixed.get((method, path, route, status, reason))
            if fixed is None:
                fixed = self._console_fixed(method, path, route, status, reason)
            message, fields, failure = fixed
            stamp = self._time(ended, CONSOLE_TIME)
            lines.append(
                f"{stamp},{MILLISECONDS[int(ended % 1 * 1000)]} INFO    access: {message} "
                f"request_id={rid} {fields} duration_ms={'%.2f' % (seconds * 1000)}{failure}\n"
            )
        return "".join(lines)

    def _console_fixed(
        self, method: str, path: str, route: str, status: int, reason: str | None
    ) -> tuple[str, str, str]:
        """The message, the fields but the request id and duration, and the refusal's field."""
        key = (method, path, route, status, reason)
        method, path = plain(method), plain(path)
        fixed = (
            f"{method} {path} {status}",
            f"method={method} path={path} route={plain(route)} status={status}",
            f" auth_failure={reason}" if reason else "",
        )
        if len(self._fixed) >= MAX_FIXED_PARTS:
            self._fixed.clear()
        self._fixed[key] = fixed
        return fixed

    def _json_lines(self, batch: Sequence[Observation]) -> str:
        lines = [
            JSONAccessLine(
                self._time(ended, JSON_TIME),
                "INFO",
                "access",
                f"{method} {path} {status}",
                rid,
                method,
                path,
                route,
                status,
                # Milliseconds to two decimals, by integer arithmetic: `round()` costs more.
                int(seconds * 100_000 + 0.5) / 100,
                reason or None,
            )
            for ended, rid, method, path, route, status, seconds, reason in batch
        ]
        try:
            return JSON_LINE.encode_lines(lines).decode()
        except UnicodeEncodeError:  # a lone surrogate, which only `json` escapes
            return "".join(json.dumps(msgspec.to_builtins(line)) + "\n" for line in lines)

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

    One `os.urandom` system call per pool, not one per request. A forked child starts a pool
    of its own, so it never hands out the ids its parent has yet to.
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
