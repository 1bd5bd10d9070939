"""The HTTP server `serve` runs: the stack it picks, and the bounds on request heads.

The protocol tests run uvicorn in-process on a loopback socket with a head timeout of a few
tenths of a second, and talk to it over raw connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import pytest
import uvicorn

from {{ cookiecutter.package_name }} import server
from {{ cookiecutter.package_name }}.server import (
    HEAD_TIMEOUT_VARIABLE,
    MAX_HEAD_BYTES,
    BoundedH11Protocol,
    BoundedHttpToolsProtocol,
    HeadDeadline,
    Stack,
    StackUnavailable,
    choose_stack,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar.types import (
        HTTPResponseBodyEvent,
        HTTPResponseStartEvent,
        Receive,
        Scope,
        Send,
    )

HEAD_TIMEOUT: Final = 0.3
SLACK: Final = 2.0  # what a loaded machine may add before a close counts as missing
REQUEST: Final = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"
REFUSALS: Final = {
    BoundedH11Protocol: (b"HTTP/1.1 400 Bad Request\r\n", b"Invalid HTTP request received."),
    BoundedHttpToolsProtocol: (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        b"Request header fields too large.",
    ),
}
"""The status line and body of each protocol's answer to an oversized head."""
PROTOCOLS: Final = [
    pytest.param(BoundedH11Protocol, id="h11"),
    pytest.param(BoundedHttpToolsProtocol, id="httptools"),
]


def only(*present: str) -> Any:
    """A stand-in for `server.installed` that knows only the modules named."""
    return lambda module: module in present


class TestChooseStack:
    """`choose_stack`: the loop and protocol for `--http`, and the note when it falls back."""

    def test_auto_prefers_uvloop_and_httptools(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With both installed, `auto` is uvloop+httptools and has nothing to say."""
        monkeypatch.setattr(server, "installed", only("uvloop", "httptools"))
        assert choose_stack("auto") == (Stack("uvloop", "httptools"), None)

    def test_auto_falls_back_to_asyncio_and_h11(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With neither installed, `auto` is asyncio+h11 and the note names both."""
        monkeypatch.setattr(server, "installed", only())
        stack, note = choose_stack("auto")
        assert stack == Stack("asyncio", "h11")
        assert note is not None
        assert note.startswith("uvloop and httptools not installed")
        assert "serving on asyncio+h11" in note

    def test_auto_falls_back_piece_by_piece(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without uvloop (Windows), `auto` keeps httptools on asyncio and says so."""
        monkeypatch.setattr(server, "installed", only("httptools"))
        stack, note = choose_stack("auto")
        assert stack == Stack("asyncio", "httptools")
        assert note is not None
        assert note.startswith("uvloop not installed")

    def test_h11_is_the_pure_python_stack(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """`h11` is asyncio+h11 whatever is installed, without a note."""
        monkeypatch.setattr(server, "installed", only("uvloop", "httptools"))
        assert choose_stack("h11") == (Stack("asyncio", "h11"), None)

    def test_httptools_must_be_installed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """`httptools` where it is not installed raises instead of falling back."""
        monkeypatch.setattr(server, "installed", only("uvloop"))
        with pytest.raises(StackUnavailable, match="httptools is not installed"):
            choose_stack("httptools")

    def test_protocols_are_importable_by_uvicorn(self) -> None:
        """Each stack names its protocol class by an import string that resolves to it."""
        assert Stack("asyncio", "h11").protocol.endswith(":BoundedH11Protocol")
        assert Stack("uvloop", "httptools").protocol.endswith(":BoundedHttpToolsProtocol")
        assert str(Stack("uvloop", "httptools")) == "uvloop+httptools"


class TestRun:
    """`run`: the fallback note is logged once, and uvicorn gets the chosen stack."""

    def test_fallback_is_logged(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Falling back logs one warning; uvicorn is started on asyncio+h11."""
        runs: list[dict[str, Any]] = []
        monkeypatch.setattr(server, "installed", only())
        monkeypatch.setattr(uvicorn, "run", lambda app, **options: runs.append(options))
        monkeypatch.setenv(HEAD_TIMEOUT_VARIABLE, "")
        with caplog.at_level(logging.WARNING, logger=server.__name__):
            server.run(
                "x:app",
                host="127.0.0.1",
                port=1,
                workers=1,
                http="auto",
                head_timeout=4.0,
                limit_concurrency=None,
            )
        assert [record.getMessage() for record in caplog.records] == [choose_stack("auto")[1]]
        assert (runs[0]["loop"], runs[0]["http"]) == ("asyncio", Stack("asyncio", "h11").protocol)
        assert server.configured_head_timeout() == 4.0


class Transport(asyncio.Transport):
    """A transport that only records being closed."""

    closed = False

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class TestHeadDeadline:
    """`HeadDeadline`: one timer per connection, stopped by a new request."""

    async def test_rearming_moves_the_deadline(self) -> None:
        """Each arm gives the next head the whole timeout again, from then on."""
        deadline = HeadDeadline(asyncio.get_running_loop(), 0.2)
        transport = Transport()
        deadline.arm(transport, None)
        for _ in range(3):
            await asyncio.sleep(0.1)
            deadline.arm(transport, None)  # a response completed: a new head is awaited
        await asyncio.sleep(0.1)
        assert transport.closed is False  # 0.4 s after the first arm, 0.1 s after the last
        await asyncio.sleep(0.25)
        assert transport.closed is True

    async def test_disarmed_then_rearmed_still_closes(self) -> None:
        """A head that arrived, then a response, then silence: closed a timeout after the arm."""
        deadline = HeadDeadline(asyncio.get_running_loop(), 0.1)
        transport = Transport()
        deadline.arm(transport, None)
        deadline.notice(object())  # a head arrived
        await asyncio.sleep(0.15)  # the first timer fires with nothing to watch
        assert transport.closed is False
        deadline.arm(transport, None)
        await asyncio.sleep(0.2)
        assert transport.closed is True

    async def test_notice_of_a_new_cycle_disarms(self) -> None:
        """A cycle other than the armed one stops the clock; the same one does not."""
        deadline = HeadDeadline(asyncio.get_running_loop(), 0.05)
        waiting, still = Transport(), Transport()
        deadline.arm(waiting, None)
        deadline.notice(object())
        other = HeadDeadline(asyncio.get_running_loop(), 0.05)
        other.arm(still, None)
        other.notice(None)
        await asyncio.sleep(0.2)
        assert (waiting.closed, still.closed) == (False, True)


async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers `/slow` after twice the head timeout, anything else at once."""
    if scope["path"] == "/slow":
        await asyncio.sleep(2 * HEAD_TIMEOUT)
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-length", b"2")],
    }
    body: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"ok", "more_body": False}
    await send(start)
    await send(body)


class Served(NamedTuple):
    """A server under test: its port and its protocol class."""

    port: int
    protocol: type[asyncio.Protocol]


@pytest.fixture(params=PROTOCOLS)
async def served(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Served]:
    """uvicorn serving `slow_app` with the protocol under test, on a free loopback port."""
    monkeypatch.setenv(HEAD_TIMEOUT_VARIABLE, str(HEAD_TIMEOUT))
    config = uvicorn.Config(
        slow_app, http=request.param, lifespan="off", log_config=None, log_level="error"
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # connections wait in the backlog until uvicorn accepts them
    uvicorn_server = uvicorn.Server(config)
    serving = asyncio.create_task(uvicorn_server.serve(sockets=[sock]))
    yield Served(sock.getsockname()[1], request.param)
    uvicorn_server.should_exit = True
    await serving
    sock.close()


@contextlib.asynccontextmanager
async def connection(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A raw connection to the server, closed on exit."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def response(reader: asyncio.StreamReader) -> bytes:
    """One response to a request without a body: its head and its 2-byte body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), SLACK)
    return head + await asyncio.wait_for(reader.readexactly(2), SLACK)


class TestRequestHeads:
    """Both protocols close a connection whose request head is slow or too large."""

    async def test_a_trickled_head_is_closed(self, served: Served) -> None:
        """A head still incomplete after the timeout gets its connection closed, no answer."""
        async with connection(served.port) as (reader, writer):
            writer.write(b"GET / HTTP/1.1\r\nHost: te")
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert await asyncio.wait_for(reader.read(), HEAD_TIMEOUT + SLACK) == b""
            assert loop.time() - started >= HEAD_TIMEOUT * 0.9

    async def test_a_slow_answer_is_not_cut(self, served: Served) -> None:
        """A head completed in time is answered, however long the handler takes."""
        async with connection(served.port) as (reader, writer):
            writer.write(b"GET /slow HTTP/1.1\r\n")
            await asyncio.sleep(HEAD_TIMEOUT / 2)
            writer.write(b"Host: test\r\n\r\n")
            assert (await response(reader)).startswith(b"HTTP/1.1 200 ")

    async def test_each_keep_alive_request_gets_its_own_timeout(self, served: Served) -> None:
        """Three requests, each head sent in two halves within the timeout, are all answered."""
        async with connection(served.port) as (reader, writer):
            for _ in range(3):
                writer.write(REQUEST[:10])
                await asyncio.sleep(HEAD_TIMEOUT * 0.6)
                writer.write(REQUEST[10:])
                assert (await response(reader)).startswith(b"HTTP/1.1 200 ")

    async def test_the_next_head_is_timed_after_a_response(self, served: Served) -> None:
        """After an answer, a keep-alive connection whose next head stalls is closed."""
        async with connection(served.port) as (reader, writer):
            writer.write(REQUEST)
            assert (await response(reader)).startswith(b"HTTP/1.1 200 ")
            writer.write(REQUEST[:10])
            assert await asyncio.wait_for(reader.read(), HEAD_TIMEOUT + SLACK) == b""

    async def test_an_oversized_head_is_refused(self, served: Served) -> None:
        """A head over MAX_HEAD_BYTES gets 400 (h11) or 431 (httptools) and a closed connection."""
        async with connection(served.port) as (reader, writer):
            # Twice the limit, not more: the server reads it all before it answers and closes,
            # so no unread byte turns its close into a reset that would discard the answer.
            writer.write(b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 2 * MAX_HEAD_BYTES)
            answer = await asyncio.wait_for(reader.read(), SLACK)
        status, body = REFUSALS[served.protocol]
        assert answer.startswith(status), answer[:200]
        assert answer.endswith(body), answer[-200:]
