"""Both HTTP stacks of `serve` (`--http h11`, `--http httptools`): slow clients and hostile heads.

The real `serve` process on each stack, against a real issuer process, on loopback; clients are
raw sockets, so that the bytes on the wire are exactly the ones under test. The head timeout is
shortened to `HEAD_TIMEOUT` (`SERVE_HEAD_TIMEOUT`) to keep the run short; every loop is bounded.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
from conftest import Installed
from processes import (
    LOOPBACK,
    REALM,
    START_TIMEOUT,
    Issuer,
    Service,
    running_issuer,
    running_service,
    tamper,
)

AUDIENCE: Final = "api://http-stack"
HEAD_TIMEOUT: Final = 2.0
SLACK: Final = 3.0  # what a loaded CI machine may add before a close counts as late
TRICKLE_SECONDS: Final = 0.5  # one byte this often: far slower than any real client
READ_TIMEOUT: Final = 10.0
HEAD_LIMIT: Final = 16 * 1024
CHALLENGE: Final = f'Bearer realm="{REALM}"'
INVALID: Final = (
    f'{CHALLENGE}, error="invalid_token", error_description="The access token is invalid."'
)
OVERSIZED: Final = {
    "h11": b"HTTP/1.1 400 Bad Request",
    "httptools": b"HTTP/1.1 431 Request Header Fields Too Large",
}
"""The status line each stack answers a request head over 16 KiB with."""


@dataclass(frozen=True)
class Stacked:
    """A running service on one HTTP stack, and the issuer it trusts."""

    stack: str
    service: Service
    issuer: Issuer

    def connect(self) -> socket.socket:
        """A raw connection to the service with a bounded read timeout."""
        return socket.create_connection((LOOPBACK, self.service.port), timeout=READ_TIMEOUT)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the logs of this module's processes."""
    return tmp_path_factory.mktemp("http-stack-logs")


@pytest.fixture(scope="module", params=["h11", "httptools"])
def stacked(
    request: pytest.FixtureRequest, installed_default: Installed, logs: Path
) -> Iterator[Stacked]:
    """`serve --http <stack>` with a short head timeout, ready to verify tokens."""
    stack: str = request.param
    with running_issuer(logs / f"{stack}-issuer.log") as issuer:
        env = {
            "AUTH_ISSUER": issuer.url,
            "AUTH_AUDIENCE": AUDIENCE,
            "SERVE_HEAD_TIMEOUT": str(HEAD_TIMEOUT),
        }
        with running_service(
            installed_default, "serve", logs / f"{stack}.log", "--http", stack, env=env, direct=True
        ) as service:
            service.wait_for("/ready", 200, START_TIMEOUT)
            yield Stacked(stack, service, issuer)


def request_head(path: str, *headers: tuple[str, str]) -> bytes:
    """A GET request head for `path` with `headers` (and Host)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {LOOPBACK}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_response(connection: socket.socket) -> tuple[bytes, dict[str, str], bytes]:
    """Read one response (Content-Length framed): status line, lower-cased headers, body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, f"connection closed mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return status, headers, body


def closed_after(connection: socket.socket) -> tuple[float, bytes]:
    """Seconds until the server closes `connection` (bounded by READ_TIMEOUT), and what it sent."""
    began = time.monotonic()
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := connection.recv(65536):
            received += chunk
    return time.monotonic() - began, received


class TestSlowClients:
    """A request head must be complete within the head timeout; normal clients never notice."""

    def test_trickling_head_is_closed_within_the_timeout(self, stacked: Stacked) -> None:
        """One header byte every half second: the connection is closed at the timeout."""
        with stacked.connect() as connection:
            began = time.monotonic()
            connection.sendall(b"GET /protected HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ")
            closed = False
            for _ in range(int((HEAD_TIMEOUT + SLACK) / TRICKLE_SECONDS) + 1):
                time.sleep(TRICKLE_SECONDS)
                try:
                    connection.sendall(b"a")
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
            seconds = time.monotonic() - began
            if not closed:
                seconds, received = closed_after(connection)
                seconds += time.monotonic() - began
                assert received == b""
        assert HEAD_TIMEOUT * 0.9 <= seconds <= HEAD_TIMEOUT + SLACK, seconds
        stacked.service.expect("/health", 200)

    def test_silent_connection_is_closed_within_the_timeout(self, stacked: Stacked) -> None:
        """A connection that never sends a byte is closed at the head timeout too."""
        with stacked.connect() as connection:
            seconds, received = closed_after(connection)
        assert received == b""
        assert HEAD_TIMEOUT * 0.9 <= seconds <= HEAD_TIMEOUT + SLACK, seconds

    def test_keep_alive_client_is_not_disturbed(self, stacked: Stacked) -> None:
        """Five requests on one connection, heads split and paused under the timeout: all 200."""
        token = stacked.issuer.sign(aud=AUDIENCE)
        head = request_head("/protected", ("Authorization", f"Bearer {token}"))
        with stacked.connect() as connection:
            for _ in range(5):
                connection.sendall(head[:40])
                time.sleep(HEAD_TIMEOUT / 4)
                connection.sendall(head[40:])
                status, headers, _ = read_response(connection)
                assert status == b"HTTP/1.1 200 OK"
                assert headers.get("connection") != "close"
                time.sleep(HEAD_TIMEOUT / 4)


class TestHostileHeads:
    """The security table's rows about the request itself, on each stack."""

    def test_genuine_token_is_accepted(self, stacked: Stacked) -> None:
        """Control: a genuine token is accepted; the answer does not name the server software."""
        response = stacked.service.expect("/protected", 200, stacked.issuer.sign(aud=AUDIENCE))
        assert "server" not in response.headers
        assert "date" in response.headers

    @pytest.mark.parametrize(
        ("headers", "challenge"),
        [
            pytest.param((), CHALLENGE, id="no-authorization"),
            pytest.param((("Authorization", "Basic dXNlcjpwYXNz"),), CHALLENGE, id="basic"),
            pytest.param((("Authorization", "Bearer"),), INVALID, id="bearer-without-token"),
            pytest.param(
                (("Authorization", "Bearer a.b.c"), ("Authorization", "Bearer a.b.c")),
                INVALID,
                id="two-authorization-headers",
            ),
            pytest.param((("Authorization", "Bearer " + "a" * 12 * 1024),), INVALID, id="12-KiB"),
        ],
    )
    def test_refused_by_the_app(
        self, stacked: Stacked, headers: tuple[tuple[str, str], ...], challenge: str
    ) -> None:
        """Missing, foreign, empty, doubled, over-long (under 16 KiB) credentials: the app's 401."""
        with stacked.connect() as connection:
            connection.sendall(request_head("/protected", *headers))
            status, answer, _ = read_response(connection)
        assert (status, answer.get("www-authenticate")) == (b"HTTP/1.1 401 Unauthorized", challenge)

    def test_tampered_token_is_refused(self, stacked: Stacked) -> None:
        """A token whose signature no longer matches gets 401 invalid_token."""
        response = stacked.service.get("/protected", tamper(stacked.issuer.sign(aud=AUDIENCE)))
        assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, INVALID)

    def test_multi_megabyte_authorization_is_refused_by_the_server(self, stacked: Stacked) -> None:
        """A 3 MiB Authorization header: 400 (h11) or 431 (httptools), short, and closed."""
        head = request_head("/protected", ("Authorization", "Bearer " + "a" * 3 * 1024 * 1024))
        with stacked.connect() as connection:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for start in range(0, len(head), 64 * 1024):
                    connection.sendall(head[start : start + 64 * 1024])
            seconds, received = closed_after(connection)
        assert seconds < READ_TIMEOUT
        assert received.startswith(OVERSIZED[stacked.stack]), received[:200]
        assert len(received) < 1024
        assert b"www-authenticate" not in received.lower()
        stacked.service.expect("/health", 200)

    def test_head_just_under_the_limit_reaches_the_app(self, stacked: Stacked) -> None:
        """A 15 KiB head (a long token) gets the app's 401, not the server's refusal."""
        with stacked.connect() as connection:
            connection.sendall(
                request_head("/protected", ("Authorization", "Bearer " + "a" * 15000))
            )
            status, answer, _ = read_response(connection)
        assert (status, answer.get("www-authenticate")) == (b"HTTP/1.1 401 Unauthorized", INVALID)

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param(b"Authorization: Bearer a\x00b", id="nul-in-value"),
            pytest.param(b"Author ization: Bearer x", id="space-in-name"),
            pytest.param(b"Authorization: Bearer x\rX-Injected: 1", id="bare-cr"),
            pytest.param(b" Authorization: Bearer x", id="obs-fold-first-line"),
        ],
    )
    def test_malformed_head_is_400(self, stacked: Stacked, line: bytes) -> None:
        """A head no HTTP/1.1 parser may accept gets the server's 400, never the app."""
        head = b"GET /protected HTTP/1.1\r\nHost: x\r\n" + line + b"\r\n\r\n"
        with stacked.connect() as connection:
            connection.sendall(head)
            _, received = closed_after(connection)
        assert received.startswith(b"HTTP/1.1 400 Bad Request"), received[:200]
        assert b"www-authenticate" not in received.lower()
