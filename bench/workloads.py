"""The load: wrk runs and their summaries, the cold burst, start-up, worker scaling."""

from __future__ import annotations

import json
import re
import resource
import statistics
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from environment import BENCH_DIR, TOOLS, base_env, first_line, mint
from lineup import STANDARD, App, ours_env
from processes import CLK_TCK, Processes, cpu_ticks, free_port, machine_ticks, rss_mib, wait_for

if TYPE_CHECKING:
    from collections.abc import Sequence

CONNECTIONS: Final = 32


@dataclass(frozen=True)
class Workload:
    """What every request of a wrk run carries: one token reused, or a fresh one each time."""

    algorithm: str
    kind: str  # "reused" or "fresh"
    tokens: Path
    """One token (reused) or the pool of distinct tokens (fresh), one a line."""
    lifetime: int = 3600

    @property
    def key(self) -> str:
        """`RS256 reused`, `EdDSA fresh`, ..."""
        return f"{self.algorithm} {self.kind}"


@dataclass
class Round:
    """One wrk run against one app."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_seconds: float
    errors: int
    other_cores: float

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds


def run_wrk(
    app: App, workload: Workload, seconds: float, threads: int = 1, connections: int = CONNECTIONS
) -> Round:
    """One wrk run; CPU of the server, of wrk and of the rest of the machine measured around it."""
    if workload.kind == "reused":
        script, script_args = BENCH_DIR / "report.lua", [str(workload.tokens)]
    else:
        offset = app.fresh_offsets.get(workload.key, 0)
        script, script_args = BENCH_DIR / "fresh.lua", [str(workload.tokens), str(offset)]
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"{app.url}/protected",
        "--",
        *script_args,
    ]
    server_before = cpu_ticks(app.pid)
    busy_before = machine_ticks()[0]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall_before = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    wall = time.monotonic() - wall_before
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_after = machine_ticks()[0]
    server = (cpu_ticks(app.pid) - server_before) / CLK_TCK
    wrk_cpu = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    machine_busy = (busy_after - busy_before) / CLK_TCK
    match = re.search(r"^BENCH (\{.*\})$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed against {app.key}:\n{result.stdout}\n{result.stderr}")
    data = json.loads(match.group(1))
    errors = sum(data[name] for name in ("connect", "read", "write", "status", "timeout"))
    if workload.kind == "fresh":
        # The next run of this app continues in the pool, so no token is seen twice
        # before the whole pool has gone by; the margin covers requests still in flight.
        app.fresh_offsets[workload.key] = (
            app.fresh_offsets.get(workload.key, 0) + data["requests"] + 2 * connections
        )
    return Round(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        cpu_seconds=server,
        errors=errors,
        other_cores=max(0.0, machine_busy - server - wrk_cpu) / wall,
    )


@dataclass
class Row:
    """One app under one workload, summarised over its rounds."""

    app: App
    rate: float
    ratio: float
    ratio_range: tuple[float, float]
    p50: float
    p99: float
    cpu_us: float
    cpu_ratio: float
    errors: int


def summarise(apps: Sequence[App], workload: str) -> list[Row]:
    """Median req/s, p50, p99; CPU per request; ratios to the unauthenticated route."""
    by_key = {app.key: app for app in apps}
    rows = []
    for app in apps:
        rounds = app.rounds[workload]
        base_rounds = by_key[app.baseline_key].rounds[workload]
        ratios = [mine.rate / base.rate for mine, base in zip(rounds, base_rounds, strict=True)]
        cpu_us = sum(r.cpu_seconds for r in rounds) / sum(r.requests for r in rounds) * 1e6
        base_cpu = sum(r.cpu_seconds for r in base_rounds) / sum(r.requests for r in base_rounds)
        rows.append(
            Row(
                app=app,
                rate=statistics.median(r.rate for r in rounds),
                ratio=statistics.median(ratios),
                ratio_range=(min(ratios), max(ratios)),
                p50=statistics.median(r.p50_ms for r in rounds),
                p99=statistics.median(r.p99_ms for r in rounds),
                cpu_us=cpu_us,
                cpu_ratio=base_cpu * 1e6 / cpu_us if cpu_us else 0.0,
                errors=sum(r.errors for r in rounds),
            )
        )
    return rows


def cold_burst(
    procs: Processes, python: Path, slug: str, work: Path, n: int, delay: float
) -> dict[str, Any]:
    """N concurrent requests against a fresh service whose first key fetch is still under way."""
    tools = str(TOOLS)
    jwks_log = work / "jwks-slow.log"
    server = procs.start(
        [str(python), tools, "jwks-server", "--keys", str(work / "keys"), "--delay", str(delay)],
        env=base_env(),
        cwd=work,
        output=jwks_log,
    )
    try:
        port = int(first_line(jwks_log, server))
        issuer = f"http://127.0.0.1:{port}"
        tokens = work / "burst-tokens.txt"
        mint(python, work, issuer, n, tokens, jobs=1)
        app = App("ours-cold", "cold", ours_env(issuer))
        app.port = free_port()
        output = work / "ours-cold.log"
        service = procs.start(
            app.argv(python, slug),
            env={**base_env(), **app.env},
            cwd=work,
            output=output,
        )
        try:
            result = subprocess.run(
                [str(python), tools, "burst", "--url", app.url, "--tokens", str(tokens)],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            burst = json.loads(result.stdout)
            with urllib.request.urlopen(f"{issuer}/stats", timeout=5) as response:  # noqa: S310
                stats = json.loads(response.read())
        finally:
            procs.stop(service)
    finally:
        procs.stop(server)
    answered = stats["jwks_answered_at"]
    return {
        "n": n,
        "delay": delay,
        "statuses": burst["statuses"],
        "jwks_fetches": stats["counts"].get("jwks", 0),
        "discovery_fetches": stats["counts"].get("discovery", 0),
        "keys_arrived_ms": (answered[0] - burst["started"]) * 1000 if answered else None,
        "burst_ms": (burst["finished"] - burst["started"]) * 1000,
    }


def startup(
    procs: Processes, python: Path, slug: str, issuer: str, work: Path, times: int
) -> dict[str, float]:
    """Process start to the first 200 on /health (median of `times` starts), RSS at that point."""
    seconds, sizes = [], []
    for index in range(times):
        app = App("ours-startup", "start-up", ours_env(issuer), stack=STANDARD)
        app.port = free_port()
        output = work / f"startup-{index}.log"
        started = time.monotonic()
        proc = procs.start(
            app.argv(python, slug), env={**base_env(), **app.env}, cwd=work, output=output
        )
        try:
            wait_for(proc, f"{app.url}/health", output)
            seconds.append(time.monotonic() - started)
            sizes.append(rss_mib(proc.pid))
        finally:
            procs.stop(proc)
    return {"seconds": statistics.median(seconds), "rss": statistics.median(sizes)}


def scaling(
    procs: Processes,
    python: Path,
    slug: str,
    issuer: str,
    work: Path,
    workload: Workload,
    rounds: int,
    seconds: float,
) -> dict[int, float]:
    """Median req/s of `serve --workers 1` and `--workers 2` (as generated), rounds interleaved.

    wrk runs two threads and twice the connections, so that it can keep two workers busy; on
    a two-core machine it competes with them for the CPU, which the figures include.
    """
    apps = {
        workers: App(f"serve-{workers}w", "", ours_env(issuer), stack=STANDARD, workers=workers)
        for workers in (1, 2)
    }
    for app in apps.values():
        app.port = free_port()
        output = work / f"{app.key}.log"
        app.proc = procs.start(
            app.argv(python, slug), env={**base_env(), **app.env}, cwd=work, output=output
        )
        wait_for(app.proc, f"{app.url}/health", output)
    try:
        for app in apps.values():
            run_wrk(app, workload, 1.0, threads=2, connections=2 * CONNECTIONS)  # warm-up
        rates: dict[int, list[float]] = {workers: [] for workers in apps}
        for _ in range(rounds):
            for workers, app in apps.items():
                result = run_wrk(app, workload, seconds, threads=2, connections=2 * CONNECTIONS)
                rates[workers].append(result.rate)
    finally:
        for app in apps.values():
            if app.proc is not None:
                procs.stop(app.proc)
    return {workers: statistics.median(values) for workers, values in rates.items()}
