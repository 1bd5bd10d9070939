"""The apps under test: the peers and the generated service, on each HTTP stack.

Peers run under `python -m uvicorn peers:app`; the generated service runs as it ships, through
its own `serve` command (which picks the protocol classes of its `server.py`). Both are told the
stack: asyncio+h11 (`PLAIN`) or uvloop+httptools (`STANDARD`, uvicorn[standard]).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from environment import BENCH_DIR, base_env
from processes import Processes, free_port, wait_for

if TYPE_CHECKING:
    from workloads import Round

AUDIENCE: Final = "bench-api"
PLAIN: Final = "asyncio+h11"
STANDARD: Final = "uvloop+httptools"
PEERS: Final = ("pyjwt-jwks", "litestar-jwt", "tutorial")
"""The verifying peers the generated service is compared with."""


@dataclass
class App:
    """One server under test."""

    key: str
    label: str
    env: dict[str, str]
    target: str | None = None
    """The peer's uvicorn import string; None for the generated service (run by `serve`)."""
    stack: str = PLAIN
    workers: int = 1
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    fresh_offsets: dict[str, int] = field(default_factory=dict)
    rounds: dict[str, list[Round]] = field(default_factory=dict)
    rss: float = 0.0

    @property
    def baseline_key(self) -> str:
        """The unauthenticated route on the same stack: what this app's ratios are taken to."""
        return "baseline" if self.stack == PLAIN else "baseline-std"

    @property
    def url(self) -> str:
        """Base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The server process (with one worker, uvicorn serves in it)."""
        if self.proc is None:
            raise RuntimeError(f"{self.key} is not running")
        return self.proc.pid

    def argv(self, python: Path, slug: str) -> list[str]:
        """Return the command that starts this app on `self.port`."""
        if self.target is None:
            http = "h11" if self.stack == PLAIN else "httptools"
            command = [str(python.parent / slug), "serve", "--http", http]
            return [*command, "--port", str(self.port), "--workers", str(self.workers)]
        loop, http = ("asyncio", "h11") if self.stack == PLAIN else ("uvloop", "httptools")
        return [
            *(str(python), "-m", "uvicorn", self.target, "--app-dir", str(BENCH_DIR)),
            *("--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)),
            *("--no-access-log", "--loop", loop, "--http", http, "--log-level", "warning"),
        ]


def ours_env(issuer: str, *, observability: bool = True, cache: bool = True) -> dict[str, str]:
    """Configure the generated service for the bench issuer (keys by OpenID discovery).

    With `observability` (its defaults) it writes an access line per request and serves
    Prometheus metrics; without, both are off, as uvicorn's access log is for every peer
    (`--no-access-log`): the comparison is then of authentication alone. Without `cache` the
    verified-token cache is off (`AUTH_VERIFIED_CACHE_SIZE=0`).
    """
    env = {"AUTH_ISSUER": issuer, "AUTH_AUDIENCE": AUDIENCE}
    if not observability:
        env |= {"ACCESS_LOG": "false", "METRICS_PATH": ""}
    if not cache:
        env["AUTH_VERIFIED_CACHE_SIZE"] = "0"
    return env


def make_apps(issuer: str, jwks_url: str, public_pem: Path) -> list[App]:
    """List the apps: every one on asyncio+h11, all but two again on uvloop+httptools.

    The ceiling (b) and the floor (g) bound the RS256 figures and run on asyncio+h11 only; the
    service without its verified-token cache serves the EdDSA workloads only.
    """
    peer_env = {
        "BENCH_ISSUER": issuer,
        "BENCH_AUDIENCE": AUDIENCE,
        "BENCH_JWKS_URL": jwks_url,
        "BENCH_PUBLIC_PEM": str(public_pem),
    }
    labels = {
        "baseline": "(a) unauthenticated route",
        "ceiling": "(b) auth middleware, no verification",
        "pyjwt-jwks": "(c) PyJWT PyJWKClient",
        "litestar-jwt": "(d) Litestar JWTAuth, static key",
        "tutorial": "(e) tutorial: jose, key rebuilt per request",
        "signature-only": "(g) RS256 signature check alone (the floor)",
    }

    def peer(key: str, stack: str = PLAIN) -> App:
        suffix = "" if stack == PLAIN else "-std"
        env = {**peer_env, "BENCH_PEER": key}
        return App(key + suffix, labels[key], env, target="peers:app", stack=stack)

    def ours(key: str, label: str, stack: str = PLAIN, **options: bool) -> App:
        suffix = "" if stack == PLAIN else "-std"
        return App(key + suffix, label, ours_env(issuer, **options), stack=stack)

    apps = []
    for stack in (PLAIN, STANDARD):
        apps += [peer("baseline", stack)]
        if stack == PLAIN:
            apps += [peer("ceiling")]
        apps += [peer(key, stack) for key in PEERS]
        apps += [
            ours(
                "ours",
                "(f) generated service, access log and metrics off",
                stack,
                observability=False,
            ),
            ours(
                "ours-observed", "(f) generated service as generated (access log, metrics)", stack
            ),
        ]
        if stack == PLAIN:
            apps += [peer("signature-only")]
    apps.append(ours("ours-nocache", "(f) as generated, verified-token cache off", cache=False))
    return apps


def start_apps(procs: Processes, python: Path, slug: str, apps: list[App], work: Path) -> None:
    """Start every app on a free port at once, then wait until each answers /health.

    An app that fails to start (its port taken in between, say) is tried twice more alone.
    """
    for app in apps:
        _launch(procs, python, slug, app, work)
    for app in apps:
        for attempt in range(3):
            try:
                wait_for(app.proc, f"{app.url}/health", work / f"{app.key}.log")
            except RuntimeError:
                procs.stop(app.proc)
                if attempt == 2:
                    raise
                _launch(procs, python, slug, app, work)
            else:
                break


def _launch(procs: Processes, python: Path, slug: str, app: App, work: Path) -> None:
    app.port = free_port()
    app.proc = procs.start(
        app.argv(python, slug),
        env={**base_env(), **app.env},
        cwd=work,
        output=work / f"{app.key}.log",
    )
