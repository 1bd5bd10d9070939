"""Access lines and refusals of a real `serve` process: odd requests, and every line at shutdown.

The service runs as the project's console script (the started process is the service), with
`LOG_FORMAT=json`, against the test issuer; requests go over raw sockets where a client library
would not send them (an unparsable `Host`).
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from conftest import Installed
from processes import (
    LOOPBACK,
    REALM,
    START_TIMEOUT,
    STOP_TIMEOUT,
    Issuer,
    Service,
    metric_sample,
    running_issuer,
    running_service,
)

AUDIENCE: Final = "api://observability"
REQUEST_TIMEOUT: Final = 10.0
ODD_HOSTS: Final = [b"x:65536", b"x:-1", b"[::1]:x", b"[::1", b"x:99999999999999999999"]
"""Hosts that Litestar's own host check lets through, but that no URL can be built from."""


def raw_get(port: int, path: str, host: bytes, token: str | None = None) -> bytes:
    """`GET path` with exactly `host` as the Host header, on a new connection: the answer."""
    head = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\n"
    if token is not None:
        head += b"Authorization: Bearer " + token.encode() + b"\r\n"
    head += b"Connection: close\r\n\r\n"
    received = bytearray()
    with socket.create_connection((LOOPBACK, port), timeout=REQUEST_TIMEOUT) as connection:
        connection.sendall(head)
        with contextlib.suppress(OSError):
            while chunk := connection.recv(65536):
                received += chunk
    return bytes(received)


def status_and_headers(answer: bytes) -> tuple[int, dict[str, str]]:
    """The status code and the (lower-cased) headers of a raw HTTP/1.1 answer."""
    head, _, _ = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


def access_entries(log: Path) -> list[dict[str, Any]]:
    """Every JSON access line of the service's log."""
    entries = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry["logger"] == "access":
                entries.append(entry)
    return entries


def token(issuer: Issuer, **claims: object) -> str:
    """A genuine token of `issuer` for this module's audience."""
    now = int(time.time())
    base: dict[str, object] = {"iss": issuer.url, "sub": "observer", "aud": AUDIENCE}
    return issuer.sign("RS256", **base, iat=now, exp=now + 600, **claims)


@contextlib.contextmanager
def serving(project: Installed, log: Path, issuer: Issuer) -> Iterator[Service]:
    """One `serve` process trusting `issuer`, logging JSON, ready."""
    env = {"AUTH_ISSUER": issuer.url, "AUTH_AUDIENCE": AUDIENCE, "LOG_FORMAT": "json"}
    with running_service(project, "serve", log, env=env, direct=True) as service:
        service.wait_for("/ready", 200, START_TIMEOUT)
        yield service


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the logs of this module's processes."""
    return tmp_path_factory.mktemp("observability-logs")


@pytest.fixture(scope="module")
def issuer(logs: Path) -> Iterator[Issuer]:
    """The test issuer, shared by the module."""
    with running_issuer(logs / "issuer.log") as running:
        yield running


@pytest.fixture(scope="module")
def service(installed_default: Installed, logs: Path, issuer: Issuer) -> Iterator[Service]:
    """One default `serve` process for the odd-request cases."""
    with serving(installed_default, logs / "service.log", issuer) as running:
        yield running


class TestOddHostHeaders:
    """No Host header turns a refusal into anything else."""

    @pytest.mark.parametrize("host", ODD_HOSTS, ids=lambda host: host.decode("latin-1"))
    def test_missing_token_is_401_with_its_challenge(self, service: Service, host: bytes) -> None:
        """The middleware's refusal is a 401 with `WWW-Authenticate`, however odd the host."""
        status, headers = status_and_headers(raw_get(service.port, "/protected", host))
        assert status == 401
        assert headers["www-authenticate"] == f'Bearer realm="{REALM}"'

    @pytest.mark.parametrize("host", ODD_HOSTS, ids=lambda host: host.decode("latin-1"))
    def test_missing_scope_is_403_with_its_challenge(
        self, service: Service, issuer: Issuer, host: bytes
    ) -> None:
        """The guard's refusal is a 403 with `insufficient_scope`, however odd the host."""
        answer = raw_get(service.port, "/admin", host, token(issuer, scope="read"))
        status, headers = status_and_headers(answer)
        assert status == 403
        assert 'error="insufficient_scope"' in headers["www-authenticate"]

    def test_refusals_with_odd_hosts_are_logged_and_counted(
        self, service: Service, issuer: Issuer
    ) -> None:
        """Each such refusal has its access line with its reason, and counts in `auth_refusals`."""
        before = service.expect("/metrics", 200).text
        answer = raw_get(service.port, "/protected", b"x:65536")
        status, headers = status_and_headers(answer)
        request_id = headers["x-request-id"]
        after = service.expect("/metrics", 200).text  # a scrape flushes the access lines too
        (entry,) = [
            item for item in access_entries(service.process.log) if item["request_id"] == request_id
        ]
        assert (entry["status"], entry["auth_failure"]) == (401, "no_authorization_header")
        assert status == 401

        def refusals(text: str) -> float:
            return metric_sample(
                text, "auth_refusals_total", reason="no_authorization_header", status="401"
            )

        assert refusals(after) == refusals(before) + 1

    def test_non_ascii_host_is_litestars_400_before_any_route(self, service: Service) -> None:
        """A Host Litestar's check rejects is its logged 400, never a 500, never a challenge."""
        status, headers = status_and_headers(raw_get(service.port, "/protected", b"\xc3\xa9:80"))
        assert status == 400
        assert "www-authenticate" not in headers
        service.expect("/metrics", 200)
        (entry,) = [
            item
            for item in access_entries(service.process.log)
            if item["request_id"] == headers["x-request-id"]
        ]
        assert (entry["status"], entry["route"]) == (400, "(unmatched)")


class TestEveryAnswerIsLogged:
    """404 and 405 answers of the real server have their access line."""

    @pytest.mark.parametrize(
        ("method", "path", "status"), [("GET", "/nowhere", 404), ("DELETE", "/health", 405)]
    )
    def test_unrouted_answer_has_a_line(
        self, service: Service, method: str, path: str, status: int
    ) -> None:
        """The answer carries an `X-Request-ID`, and its access line appears in the log."""
        response = service.client.request(method, path)
        assert response.status_code == status
        request_id = response.headers["X-Request-ID"]
        service.expect("/metrics", 200)
        matching = [
            item for item in access_entries(service.process.log) if item["request_id"] == request_id
        ]
        assert [(item["method"], item["path"], item["status"]) for item in matching] == [
            (method, path, status)
        ]


class TestShutdown:
    """A clean stop writes the line of every request answered before it."""

    @pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
    def test_every_line_is_written(
        self, installed_default: Installed, logs: Path, issuer: Issuer, signum: signal.Signals
    ) -> None:
        """Requests just before the signal all have their line once the process has exited."""
        log = logs / f"shutdown-{signum.name}.log"
        genuine = token(issuer)
        with serving(installed_default, log, issuer) as running:
            ids = [
                running.expect("/protected", 200, genuine).headers["X-Request-ID"]
                for _ in range(200)
            ]
            ids += [running.expect("/protected", 401).headers["X-Request-ID"] for _ in range(20)]
            running.process.popen.send_signal(signum)
            # uvicorn shuts down cleanly, then re-raises the signal it caught.
            returncode = running.process.popen.wait(timeout=STOP_TIMEOUT)
            assert returncode in (0, -signum), running.process.report()
        assert "Application shutdown complete" in log.read_text(encoding="utf-8")
        logged = [entry["request_id"] for entry in access_entries(log)]
        assert [request_id for request_id in ids if request_id not in logged] == []
        text = log.read_text(encoding="utf-8")
        assert genuine not in text
        assert genuine.rpartition(".")[2] not in text
