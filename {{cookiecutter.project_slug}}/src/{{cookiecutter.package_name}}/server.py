"""The HTTP server `serve` runs: uvicorn on the fastest stack installed, with bounded request heads.

uvicorn times out idle keep-alive connections but not a request head that arrives slowly: a
client sending one header byte every few seconds would hold its connection (and a worker's file
descriptor) for as long as it likes. The protocol classes here close a connection whose request
head is not complete within `head_timeout` seconds, and cap the head at `MAX_HEAD_BYTES` on both
HTTP parsers (h11 has this cap built in; httptools has none).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    import asyncio

    from uvicorn.config import Config
    from uvicorn.server import ServerState

__all__ = (
    "DEFAULT_HEAD_TIMEOUT",
    "HEAD_TIMEOUT_VARIABLE",
    "MAX_HEAD_BYTES",
    "HeadDeadline",
    "Http",
    "Stack",
    "StackUnavailable",
    "choose_stack",
    "run",
)

Http = Literal["auto", "httptools", "h11"]

DEFAULT_HEAD_TIMEOUT: Final = 10.0
HEAD_TIMEOUT_VARIABLE: Final = "SERVE_HEAD_TIMEOUT"
"""How `run` passes the timeout to uvicorn's worker processes, which import this module afresh."""
MAX_HEAD_BYTES: Final = 16 * 1024
"""h11's own limit on an incomplete request head (uvicorn then answers 400)."""

logger = logging.getLogger(__name__)


def installed(module: str) -> bool:
    """Whether `module` can be imported (uvicorn[standard] has no uvloop on Windows or PyPy)."""
    return importlib.util.find_spec(module) is not None


class StackUnavailable(Exception):
    """The HTTP stack asked for is not installed."""


@dataclass(frozen=True, slots=True)
class Stack:
    """An event loop and an HTTP protocol, as uvicorn's `loop=` and `http=` take them."""

    loop: Literal["uvloop", "asyncio"]
    http: Literal["httptools", "h11"]

    @property
    def protocol(self) -> str:
        """Import string of this stack's protocol class, the form uvicorn's workers can import."""
        name = "BoundedHttpToolsProtocol" if self.http == "httptools" else "BoundedH11Protocol"
        return f"{__name__}:{name}"

    def __str__(self) -> str:
        return f"{self.loop}+{self.http}"


def choose_stack(http: Http) -> tuple[Stack, str | None]:
    """The stack for `--http`, and a note to log when `auto` had to fall back.

    `h11` is the pure-Python stack, asyncio+h11. `httptools` and `auto` run on uvloop where it
    is installed; `auto` falls back to asyncio and h11, each on its own, where they are not.
    """
    if http == "h11":
        return Stack("asyncio", "h11"), None
    has_httptools = installed("httptools")
    if http == "httptools" and not has_httptools:
        raise StackUnavailable("--http httptools: httptools is not installed")
    stack = Stack(
        "uvloop" if installed("uvloop") else "asyncio", "httptools" if has_httptools else "h11"
    )
    missing = [name for name in ("uvloop", "httptools") if not installed(name)]
    if not missing:
        return stack, None
    return stack, (
        f"{' and '.join(missing)} not installed (uvicorn[standard] has no build of it for this "
        f"platform): serving on {stack}, which is slower"
    )


def run(
    app: str,
    *,
    host: str,
    port: int,
    workers: int,
    http: Http,
    head_timeout: float,
    limit_concurrency: int | None,
) -> None:
    """Serve `app` (an import string) with uvicorn on the stack `http` selects."""
    stack, note = choose_stack(http)
    if note:
        logger.warning(note)
    os.environ[HEAD_TIMEOUT_VARIABLE] = repr(head_timeout)
    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=workers,
        loop=stack.loop,
        http=stack.protocol,
        limit_concurrency=limit_concurrency,
        access_log=False,  # the service writes its own (`logs.AccessLog`)
        server_header=False,  # no `Server: uvicorn`: what runs here is no client's business
    )


def configured_head_timeout() -> float:
    """The head timeout `run` chose, or the default when uvicorn was started some other way."""
    return float(os.environ.get(HEAD_TIMEOUT_VARIABLE, DEFAULT_HEAD_TIMEOUT))


class HeadDeadline:
    """Closes a connection whose next request head is not complete within `timeout` seconds.

    Armed when the connection opens and after each response that leaves no request in
    progress; disarmed as soon as the parser has a new request. uvicorn's own keep-alive timer
    still closes a connection that stays silent, usually sooner.

    Arming sets a deadline; one timer per connection wakes at the earliest deadline it may
    have to enforce and, if the deadline moved on, aims at the new one. A request thus costs
    a float, not a cancelled and a new event-loop timer.
    """

    __slots__ = ("_cycle", "_deadline", "_loop", "_timer", "_transport", "timeout")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._loop = loop
        self.timeout = timeout
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._deadline: float | None = None
        self._cycle: object = None

    def arm(self, transport: asyncio.BaseTransport, cycle: object) -> None:
        """Start the clock for the request after `cycle` (the current one, or None)."""
        self._cycle = cycle
        self._transport = transport
        self._deadline = self._loop.time() + self.timeout
        if self._timer is None:
            self._timer = self._loop.call_at(self._deadline, self._expire)

    def notice(self, cycle: object) -> None:
        """Called after the parser ran: a cycle other than the armed one means a head arrived."""
        if self._deadline is not None and cycle is not self._cycle:
            self._deadline = None

    def disarm(self) -> None:
        """Stop the clock (the connection is gone)."""
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._deadline is None or self._transport is None:
            return
        if self._loop.time() >= self._deadline:
            _close(self._transport)
        else:
            self._timer = self._loop.call_at(self._deadline, self._expire)


def _close(transport: asyncio.BaseTransport) -> None:
    if not transport.is_closing():
        transport.close()


def _waiting_for_head(cycle: Any) -> bool:
    return cycle is None or bool(cycle.response_complete)


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request head (h11 caps its size itself)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.head_deadline = HeadDeadline(self.loop, configured_head_timeout())

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_deadline.arm(transport, self.cycle)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.head_deadline.notice(self.cycle)

    def on_response_complete(self) -> None:
        # The parent starts a pipelined request, if one was buffered, before returning.
        super().on_response_complete()
        if not self.transport.is_closing() and _waiting_for_head(self.cycle):
            self.head_deadline.arm(self.transport, self.cycle)

    def connection_lost(self, exc: Exception | None) -> None:
        self.head_deadline.disarm()
        super().connection_lost(exc)


if TYPE_CHECKING or installed("httptools"):
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with a deadline on each request head and a size cap.

        httptools buffers a header of any length until its end arrives; the bytes received
        while a head is being read are counted per read, and a head past `MAX_HEAD_BYTES` gets
        431 and a closed connection. A read that finishes a body and starts the next head is
        not counted, so a head may take up to one read (256 KiB) more before it is refused.
        """

        def __init__(
            self,
            config: Config,
            server_state: ServerState,
            app_state: dict[str, Any],
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self.head_deadline = HeadDeadline(self.loop, configured_head_timeout())
            self.head_bytes = 0
            self.in_head = False
            self.in_body = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.head_deadline.arm(transport, self.cycle)

        def data_received(self, data: bytes) -> None:
            if self.transport.is_closing():
                return
            if not self.in_body:
                self.head_bytes += len(data)
            super().data_received(data)
            self.head_deadline.notice(self.cycle)
            if self.in_head and self.head_bytes > MAX_HEAD_BYTES:
                self.refuse_oversized_head()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.in_head = True

        def on_headers_complete(self) -> None:
            self.in_head = False
            self.in_body = True
            self.head_bytes = 0
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self.in_body = False
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and _waiting_for_head(self.cycle):
                self.head_deadline.arm(self.transport, self.cycle)

        def connection_lost(self, exc: Exception | None) -> None:
            self.head_deadline.disarm()
            super().connection_lost(exc)

        def refuse_oversized_head(self) -> None:
            """Answer 431 and close, as uvicorn answers a malformed request with 400."""
            if self.transport.is_closing():
                return
            self.logger.warning("Request head over %d bytes refused.", MAX_HEAD_BYTES)
            body = b"Request header fields too large."
            self.transport.write(
                b"".join(
                    [
                        STATUS_LINE[431],
                        *(b"%s: %s\r\n" % pair for pair in self.server_state.default_headers),
                        b"content-type: text/plain; charset=utf-8\r\n",
                        b"content-length: %d\r\n" % len(body),
                        b"connection: close\r\n\r\n",
                        body,
                    ]
                )
            )
            self.transport.close()
