"""Run the generated service and the test issuer as real processes on loopback, and stop them.

Shared by the end-to-end and adversarial suites. Every process gets a free port (never a fixed
one), runs in its own process group, logs to a file, and is stopped by a context manager even when
its test fails. Every wait is bounded; a failure message carries the tail of the relevant logs.

The test issuer is `tests/issuer_server.py`, run with this interpreter: it signs tokens with its
own keys (never through the code under test), rotates them, and misbehaves on request.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from conftest import VARIANTS, Installed

SLUG = VARIANTS["default"].slug
REALM = SLUG  # the generated default of AUTH_REALM
ISSUER_SCRIPT = Path(__file__).with_name("issuer_server.py")
LOOPBACK = "127.0.0.1"
JWKS_PATH = "/.well-known/jwks.json"  # under the test issuer's URL, with an empty --issuer-path

START_TIMEOUT = 60.0  # `uv run`, imports, first bind
COMMAND_TIMEOUT = 120.0  # one CLI command or README script
STOP_TIMEOUT = 10.0
POLL_SECONDS = 0.1
COOLDOWN = 1.0  # AUTH_REFRESH_COOLDOWN (and the short cache TTL) of the scenarios that need one
LOG_TAIL_LINES = 40


# --- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def service_env(base: Mapping[str, str], **extra: str) -> dict[str, str]:
    """`base` without inherited AUTH_* or PORT, loopback never proxied, plus `extra`."""
    env = {
        key: value for key, value in base.items() if not key.startswith("AUTH_") and key != "PORT"
    }
    for name in ("NO_PROXY", "no_proxy"):
        env[name] = ",".join(filter(None, (env.get(name), LOOPBACK, "localhost")))
    env.update(extra)
    return env


def log_tail(path: Path) -> str:
    """The last lines of a log file, for failure messages."""
    if not path.exists():
        return f"(no log at {path})"
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


@dataclass
class Process:
    """A started command, leader of its own process group, logging to `log`."""

    popen: subprocess.Popen[bytes]
    log: Path
    name: str

    def report(self) -> str:
        """The command's state and log tail."""
        state = "running" if self.popen.poll() is None else f"exited {self.popen.returncode}"
        return f"--- {self.name} ({state}), {self.log} ---\n{log_tail(self.log)}"

    def stop(self) -> None:
        """Terminate the whole group, wait, then kill whatever is left of it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=STOP_TIMEOUT)
        # Even after a clean exit of the leader, a reloader's worker or uv's child may linger.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=STOP_TIMEOUT)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


@contextlib.contextmanager
def started(
    cmd: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    pipe_stdout: bool = False,
) -> Iterator[Process]:
    """Start `cmd` in a new session; stop its process group on exit, whatever happened."""
    with log.open("wb") as output:
        popen = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe_stdout else output,
            stderr=output,
            start_new_session=True,
        )
    process = Process(popen, log, " ".join(cmd))
    try:
        yield process
    finally:
        process.stop()


def read_first_line(process: Process, timeout: float) -> str:
    """The first line `process` prints, waiting at most `timeout` seconds."""
    assert process.popen.stdout is not None
    ready, _, _ = select.select([process.popen.stdout], [], [], timeout)
    line = process.popen.stdout.readline().decode() if ready else ""
    if not line.endswith("\n"):
        pytest.fail(f"no first line within {timeout:g} s\n{process.report()}", pytrace=False)
    return line.strip()


def run_command(
    cmd: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run `cmd` to its end (bounded), whatever its exit code."""
    try:
        return subprocess.run(
            list(cmd),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"$ {shlex.join(cmd)} took over {COMMAND_TIMEOUT:g} s", pytrace=False)


# --- the service -------------------------------------------------------------------------------


@dataclass
class Service:
    """A running service and an HTTP client for it."""

    process: Process
    port: int
    client: httpx.Client = field(init=False)
    ready_at: float = field(init=False, default=0.0)
    """`time.monotonic()` when `/ready` first answered 200 (0 until then)."""

    def __post_init__(self) -> None:
        """Open a client that never goes through a proxy."""
        self.client = httpx.Client(
            base_url=f"http://{LOOPBACK}:{self.port}", timeout=5.0, trust_env=False
        )

    def get(self, path: str, token: str | None = None) -> httpx.Response:
        """GET `path`, with `token` as a bearer token when given."""
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return self.client.get(path, headers=headers)

    def expect(self, path: str, status: int, token: str | None = None) -> httpx.Response:
        """GET `path` and fail with the service's log unless it answers `status`."""
        response = self.get(path, token)
        assert response.status_code == status, (
            f"GET {path}: {response.status_code} {response.text}, expected {status}\n"
            f"{self.process.report()}"
        )
        return response

    def wait_for(self, path: str, status: int, timeout: float) -> httpx.Response:
        """Poll `path` until it answers `status`; fail after `timeout` seconds or if it exits."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.popen.poll() is not None:
                pytest.fail(f"the service exited\n{self.process.report()}", pytrace=False)
            try:
                response = self.client.get(path, timeout=1.0)
            except httpx.TransportError as exc:
                last = type(exc).__name__
            else:
                if response.status_code == status:
                    if path == "/ready" and not self.ready_at:
                        self.ready_at = time.monotonic()
                    return response
                last = f"{response.status_code} {response.text}"
            time.sleep(POLL_SECONDS)
        pytest.fail(
            f"GET {path} did not answer {status} within {timeout:g} s (last: {last})\n"
            f"{self.process.report()}",
            pytrace=False,
        )

    def wait_out_cooldown(self) -> None:
        """Sleep (once, bounded) until a key fetch is due again after the one that made it ready."""
        assert self.ready_at, "wait_for('/ready', 200, ...) first"
        time.sleep(max(0.0, self.ready_at + COOLDOWN + 0.3 - time.monotonic()))


@contextlib.contextmanager
def running_service(
    project: Installed,
    command: str,
    log: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    direct: bool = False,
) -> Iterator[Service]:
    """`uv run <slug> <command> --port <free> <args>` in `project`, stopped on exit.

    `direct` starts the console script of the project's `.venv` instead of `uv run`, so that
    the started process is the service itself (whose memory a test can read).
    """
    port = free_port()
    launcher = [str(project.path / ".venv" / "bin" / SLUG)] if direct else ["uv", "run", SLUG]
    cmd = [*launcher, command, "--port", str(port), *args]
    full_env = service_env(project.env, **dict(env or {}))
    with started(cmd, cwd=project.path, env=full_env, log=log) as process:
        service = Service(process, port)
        try:
            service.wait_for("/health", 200, START_TIMEOUT)
            yield service
        finally:
            service.client.close()


@contextlib.contextmanager
def backgrounded_service(
    script: str, cwd: Path, env: Mapping[str, str], log: Path
) -> Iterator[Service]:
    """`bash -c script` in its own process group, as a Service on `env["PORT"]`."""
    with started(["bash", "-c", script], cwd=cwd, env=env, log=log) as process:
        service = Service(process, int(env["PORT"]))
        try:
            yield service
        finally:
            service.client.close()


# --- the test issuer ---------------------------------------------------------------------------


@dataclass
class Issuer:
    """A running `issuer_server.py`."""

    process: Process
    port: int
    url: str
    """The issuer URL, exactly as its tokens and discovery document carry it."""

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response = httpx.post(
            f"http://{LOOPBACK}:{self.port}{path}", json=dict(body), timeout=10.0, trust_env=False
        )
        assert response.status_code == 200, f"{path}: {response.text}\n{self.process.report()}"
        result: dict[str, Any] = response.json()
        return result

    def sign(self, alg: str = "RS256", *, kid: str | None = None, **claims: object) -> str:
        """A token signed by the issuer's current key for `alg` (`kid` forges the header's)."""
        signed = self._post("/_control/sign", {"alg": alg, "claims": claims, "kid": kid})
        return str(signed["token"])

    def rotate(self, *families: str) -> dict[str, str]:
        """Replace the keys of `families` (default: all); return the new kids by family."""
        body = {"families": list(families)} if families else {}
        kids: dict[str, str] = self._post("/_control/rotate", body)["kids"]
        return kids

    def sign_exactly(self, alg: str, header: Mapping[str, Any], payload: bytes) -> str:
        """`header` and `payload` as they are, signed by the issuer's current key for `alg`."""
        body = {"alg": alg, "header": dict(header), "payload_b64": b64url(payload)}
        return str(self._post("/_control/sign", body)["token"])

    def fault(self, mode: str, *, seconds: float = 0.0, target: str = "jwks") -> None:
        """Serve the documents of `target` as `mode` says from now on (`"ok"` ends a fault)."""
        self._post("/_control/fault", {"mode": mode, "seconds": seconds, "target": target})

    def stats(self) -> dict[str, dict[str, int]]:
        """Requests received, and abandoned by their client, per path."""
        response = httpx.get(
            f"http://{LOOPBACK}:{self.port}/_control/stats", timeout=10.0, trust_env=False
        )
        assert response.status_code == 200, f"stats: {response.text}\n{self.process.report()}"
        stats: dict[str, dict[str, int]] = response.json()
        return stats

    def jwks_requests(self) -> int:
        """How many times the JWKS was asked for so far."""
        return self.stats()["requests"].get(JWKS_PATH, 0)

    def jwks(self) -> dict[str, Any]:
        """The JWKS as the issuer publishes it now (read directly, never counted as a fetch)."""
        response = httpx.get(
            f"http://{LOOPBACK}:{self.port}/_control/jwks", timeout=10.0, trust_env=False
        )
        assert response.status_code == 200, f"jwks: {response.text}\n{self.process.report()}"
        document: dict[str, Any] = response.json()
        return document


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@contextlib.contextmanager
def running_issuer(
    log: Path,
    *,
    port: int = 0,
    keys: Path | None = None,
    issuer_path: str = "",
    algorithms: str | None = None,
) -> Iterator[Issuer]:
    """Start `issuer_server.py` (on a free port unless `port`), stopped on exit."""
    cmd = [sys.executable, str(ISSUER_SCRIPT), "--port", str(port), "--issuer-path", issuer_path]
    if keys is not None:
        cmd += ["--keys", str(keys)]
    if algorithms is not None:
        cmd += ["--algorithms", algorithms]
    env = service_env(os.environ)
    with started(cmd, cwd=log.parent, env=env, log=log, pipe_stdout=True) as process:
        bound = int(read_first_line(process, START_TIMEOUT))
        yield Issuer(process, bound, f"http://{LOOPBACK}:{bound}{issuer_path}")


def tamper(token: str) -> str:
    """`token` with one signature character changed (a middle one: every bit of it counts)."""
    head, _, signature = token.rpartition(".")
    middle = len(signature) // 2
    swapped = "B" if signature[middle] == "A" else "A"
    return f"{head}.{signature[:middle]}{swapped}{signature[middle + 1 :]}"


# --- Prometheus text ---------------------------------------------------------------------------

METRIC_SAMPLE: Final = re.compile(r"(?P<name>[a-z_]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)")
METRIC_LABEL: Final = re.compile(r'([a-z_]+)="([^"]*)"')


def metric_sample(text: str, name: str, **labels: str) -> float:
    """The value of the sample `name` having `labels` in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        found = METRIC_SAMPLE.fullmatch(line)
        if found and found["name"] == name:
            pairs = dict(METRIC_LABEL.findall(found["labels"] or ""))
            if labels.items() <= pairs.items():
                return float(found["value"])
    return 0.0
