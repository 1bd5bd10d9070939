"""Side-by-side benchmark of the generated service against its peers (issue 6).

One command, from the template repository:

    uv run --group bench python bench/run.py

It renders the template into a temporary folder, installs the generated service (plus
`pyjwt[crypto]`, `uvicorn[standard]` and `py-spy`) in its own uv environment, starts the peers
and the service under the same uvicorn settings on free loopback ports, loads each with `wrk`
in interleaved rounds, runs the cold burst, the microbenchmark, the start-up and memory
measurements and a py-spy profile, prints the tables and writes them to `bench/RESULTS.md`.
Every process it starts is stopped on the way out, error or not. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

BENCH_DIR: Final = Path(__file__).resolve().parent
TEMPLATE_DIR: Final = BENCH_DIR.parent
RESULTS: Final = BENCH_DIR / "RESULTS.md"
CLK_TCK: Final = os.sysconf("SC_CLK_TCK")
PAGE_KIB: Final = os.sysconf("SC_PAGE_SIZE") // 1024
AUDIENCE: Final = "bench-api"
CONNECTIONS: Final = 32
PLAIN: Final = ("asyncio", "h11")
STANDARD: Final = ("uvloop", "httptools")
EXTRA_PACKAGES: Final = ("pyjwt[crypto]", "uvicorn[standard]", "py-spy")
VERSIONS_OF: Final = (
    "litestar",
    "python-jose",
    "uvicorn",
    "h11",
    "uvloop",
    "httptools",
    "cryptography",
    "pyjwt",
    "cachetools",
    "httpx",
)
CONTENDED_CORES: Final = 0.25
TARGET_REUSED: Final = 0.90
TARGET_FRESH: Final = 0.65


def log(message: str) -> None:
    """Progress on stderr, so stdout carries only the tables."""
    print(f"[{time.monotonic() - STARTED:5.0f}s] {message}", file=sys.stderr, flush=True)


STARTED = time.monotonic()


# --- processes --------------------------------------------------------------------------------


class Processes:
    """Every process the benchmark starts, each in its own process group, all stopped on exit."""

    def __init__(self) -> None:
        """No process yet."""
        self._running: list[subprocess.Popen[bytes]] = []

    def start(
        self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, output: Path
    ) -> subprocess.Popen[bytes]:
        """Start `argv` in a new session (its own process group), output to a file."""
        with output.open("ab") as sink:
            proc = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL it if it has not gone after `grace` seconds."""
        if proc in self._running:
            self._running.remove(proc)
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            # The leader is gone; make sure nothing it started outlives it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            return

    def stop_all(self) -> None:
        """Stop every process still running, the most recent first."""
        for proc in reversed(list(self._running)):
            self.stop(proc)


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """Return the status of GET `url`, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_for(proc: subprocess.Popen[bytes], url: str, log_file: Path, timeout: float = 60) -> float:
    """Poll `url` every 5 ms until it answers 200; seconds waited. Fails if the process dies."""
    started = time.monotonic()
    while True:
        if http_status(url, timeout=1.0) == 200:
            return time.monotonic() - started
        if proc.poll() is not None:
            tail = log_file.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"process exited ({proc.returncode}) before {url} answered:\n{tail}")
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s")
        time.sleep(0.005)


def cpu_ticks(pid: int) -> int:
    """Return utime + stime of `pid` in clock ticks (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def rss_mib(pid: int) -> float:
    """Resident set size of `pid` in MiB."""
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE_KIB / 1024


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine since boot (/proc/stat)."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


def load_average() -> str:
    """Return the 1, 5 and 15 minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- setup ------------------------------------------------------------------------------------


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1 (cookiecutter's hooks print their next-steps banner there)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def render(work: Path) -> Path:
    """Render the template with its default answers; the project folder."""
    from cookiecutter.main import cookiecutter

    with quiet_stdout():
        project = cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(work))
    return Path(project)


def install(project: Path, venv: Path) -> Path:
    """Make a uv environment with the generated service and the peers' packages; its python."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    interpreter = getattr(sys, "_base_executable", sys.executable)
    subprocess.run(["uv", "venv", "-q", "--python", interpreter, str(venv)], env=env, check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            "uv",
            "pip",
            "install",
            "-q",
            "--compile-bytecode",
            "--python",
            str(python),
            str(project),
            *EXTRA_PACKAGES,
        ],
        env=env,
        check=True,
    )
    return python


def package_versions(python: Path) -> dict[str, str]:
    """Installed versions of the packages that matter, read in the benchmark environment."""
    code = (
        "import json, sys\nfrom importlib.metadata import version, PackageNotFoundError\n"
        "out = {'python': sys.version.split()[0]}\n"
        "for name in sys.argv[1:]:\n"
        "    try: out[name] = version(name)\n"
        "    except PackageNotFoundError: out[name] = '-'\n"
        "print(json.dumps(out))"
    )
    result = subprocess.run(
        [str(python), "-c", code, *VERSIONS_OF], capture_output=True, text=True, check=True
    )
    return dict(json.loads(result.stdout))


def machine_description() -> dict[str, str]:
    """nproc, CPU model, memory, kernel."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": f"{memory_kib / 1024 / 1024:.0f} GiB",
        "kernel": platform.release(),
    }


# --- the apps ---------------------------------------------------------------------------------


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


@dataclass
class App:
    """One server under test."""

    key: str
    label: str
    target: str
    env: dict[str, str]
    server: tuple[str, str] = PLAIN
    baseline_key: str = "baseline"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    fresh_offset: int = 0
    rounds: dict[str, list[Round]] = field(default_factory=dict)
    rss: float = 0.0

    @property
    def url(self) -> str:
        """Base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The uvicorn process (one worker: the server itself)."""
        if self.proc is None:
            raise RuntimeError(f"{self.key} is not running")
        return self.proc.pid


def uvicorn_argv(python: Path, target: str, port: int, server: tuple[str, str]) -> list[str]:
    """Build the uvicorn command: the same for every app but the loop and HTTP choice."""
    loop, http = server
    return [
        str(python),
        "-m",
        "uvicorn",
        target,
        "--app-dir",
        str(BENCH_DIR),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--loop",
        loop,
        "--http",
        http,
        "--log-level",
        "warning",
    ]


def base_env() -> dict[str, str]:
    """Return the environment minus anything that would configure the service from outside."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AUTH_", "BENCH_", "VIRTUAL_ENV", "PYTHON"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # peers.py is imported from bench/: leave no cache there
    return env


def ours_env(issuer: str, *, observability: bool = False) -> dict[str, str]:
    """Our service configured for the bench issuer (keys by OpenID discovery, as by default).

    Without `observability` its access log and metrics are off, as uvicorn's access log is for
    every app (`--no-access-log`): the comparison is then of authentication alone.
    """
    env = {"AUTH_ISSUER": issuer, "AUTH_AUDIENCE": AUDIENCE}
    if not observability:
        env |= {"ACCESS_LOG": "false", "METRICS_PATH": ""}
    return env


def make_apps(package: str, issuer: str, jwks_url: str, public_pem: Path) -> list[App]:
    """List the apps: baseline, ceiling, three peers, ours, the floor, two on uvicorn[standard].

    Ours runs twice on asyncio+h11: authentication alone, and as shipped (access log, metrics).
    """
    peer_env = {
        "BENCH_ISSUER": issuer,
        "BENCH_AUDIENCE": AUDIENCE,
        "BENCH_JWKS_URL": jwks_url,
        "BENCH_PUBLIC_PEM": str(public_pem),
    }
    ours_target = f"{package}.app:app"

    def peer(key: str, label: str) -> App:
        return App(key, label, "peers:app", {**peer_env, "BENCH_PEER": key})

    return [
        peer("baseline", "(a) unauthenticated route"),
        peer("ceiling", "(b) auth middleware, no verification"),
        peer("pyjwt-jwks", "(c) PyJWT PyJWKClient"),
        peer("litestar-jwt", "(d) Litestar JWTAuth, static key"),
        peer("tutorial", "(e) tutorial: jose, key rebuilt per request"),
        App(
            "ours", "(f) generated service (access log, metrics off)", ours_target, ours_env(issuer)
        ),
        App(
            "ours-observed",
            "(f) generated service + access log + metrics (defaults)",
            ours_target,
            ours_env(issuer, observability=True),
        ),
        peer("signature-only", "(g) RS256 signature check alone (the floor)"),
        App(
            "baseline-std",
            "(a) unauthenticated route",
            "peers:app",
            {**peer_env, "BENCH_PEER": "baseline"},
            server=STANDARD,
            baseline_key="baseline-std",
        ),
        App(
            "ours-std",
            "(f) generated service (access log, metrics off)",
            ours_target,
            ours_env(issuer),
            server=STANDARD,
            baseline_key="baseline-std",
        ),
    ]


def start_app(procs: Processes, python: Path, app: App, work: Path) -> None:
    """Start one app on a free port and wait until /health answers."""
    output = work / f"{app.key}.log"
    for attempt in range(3):
        app.port = free_port()
        app.proc = procs.start(
            uvicorn_argv(python, app.target, app.port, app.server),
            env={**base_env(), **app.env},
            cwd=work,
            output=output,
        )
        try:
            wait_for(app.proc, f"{app.url}/health", output)
        except RuntimeError:
            procs.stop(app.proc)
            if attempt == 2:
                raise
        else:
            return


# --- load -------------------------------------------------------------------------------------


def run_wrk(app: App, workload: str, seconds: float, files: Mapping[str, Path]) -> Round:
    """One wrk run; CPU of the server, of wrk and of the rest of the machine measured around it."""
    if workload == "reused":
        script, script_args = BENCH_DIR / "report.lua", [str(files["reused"])]
    else:
        script, script_args = BENCH_DIR / "fresh.lua", [str(files["pool"]), str(app.fresh_offset)]
    argv = [
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
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
    if workload == "fresh":
        # The next run of this app continues in the pool, so no token is seen twice
        # before the whole pool has gone by; the margin covers requests still in flight.
        app.fresh_offset += data["requests"] + 2 * CONNECTIONS
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


# --- cold burst, start-up, micro, profile -----------------------------------------------------


def cold_burst(
    procs: Processes, python: Path, package: str, work: Path, n: int, delay: float
) -> dict[str, Any]:
    """N concurrent requests against a fresh service whose first key fetch is still under way."""
    tools = str(BENCH_DIR / "tools.py")
    jwks_log = work / "jwks-slow.log"
    server = procs.start(
        [str(python), tools, "jwks-server", "--keys", str(work / "keys"), "--delay", str(delay)],
        env=base_env(),
        cwd=work,
        output=jwks_log,
    )
    try:
        port = int(_first_line(jwks_log, server))
        issuer = f"http://127.0.0.1:{port}"
        tokens = work / "burst-tokens.txt"
        _mint(python, work, issuer, n, tokens, jobs=1)
        app = App("ours-cold", "cold", f"{package}.app:app", ours_env(issuer, observability=True))
        app.port = free_port()
        output = work / "ours-cold.log"
        service = procs.start(
            uvicorn_argv(python, app.target, app.port, PLAIN),
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
    procs: Processes, python: Path, package: str, issuer: str, work: Path, times: int
) -> dict[str, float]:
    """Process start to the first 200 on /health (median of `times` starts), RSS at that point."""
    seconds, sizes = [], []
    for index in range(times):
        port = free_port()
        output = work / f"startup-{index}.log"
        started = time.monotonic()
        proc = procs.start(
            uvicorn_argv(python, f"{package}.app:app", port, PLAIN),
            env={**base_env(), **ours_env(issuer, observability=True)},
            cwd=work,
            output=output,
        )
        try:
            wait_for(proc, f"http://127.0.0.1:{port}/health", output)
            seconds.append(time.monotonic() - started)
            sizes.append(rss_mib(proc.pid))
        finally:
            procs.stop(proc)
    return {"seconds": statistics.median(seconds), "rss": statistics.median(sizes)}


def _tool(python: Path, *args: str) -> str:
    result = subprocess.run(
        [str(python), str(BENCH_DIR / "tools.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"tools.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _mint(python: Path, work: Path, issuer: str, count: int, out: Path, jobs: int) -> None:
    _tool(
        python,
        "mint",
        "--keys",
        str(work / "keys"),
        "--issuer",
        issuer,
        "--count",
        str(count),
        "--jobs",
        str(jobs),
        "--out",
        str(out),
    )


def _first_line(path: Path, proc: subprocess.Popen[bytes], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if "\n" in text:
            return text.split("\n", 1)[0]
        if proc.poll() is not None:
            raise RuntimeError(f"{path.name}: the process exited:\n{text}")
        time.sleep(0.02)
    raise RuntimeError(f"{path.name}: nothing printed within {timeout:.0f}s")


def profile(
    python: Path, app: App, files: Mapping[str, Path], seconds: float, work: Path, package: str
) -> dict[str, Any]:
    """py-spy samples of the running service under the fresh-token load, grouped by library."""
    raw = work / "profile.txt"
    spy = Path(python).parent / "py-spy"
    # Blocking mode (py-spy pauses the worker for each sample): --nonblocking tears stacks.
    argv = [str(spy), "record", "-p", str(app.pid), "-d", f"{seconds + 1:g}", "-r", "200"]
    argv += ["-f", "raw", "-o", str(raw)]
    recorder = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        time.sleep(0.5)
        measured = run_wrk(app, "fresh", seconds, files)
        output, _ = recorder.communicate(timeout=seconds + 30)
    finally:
        if recorder.poll() is None:
            os.killpg(recorder.pid, signal.SIGKILL)
            recorder.wait()
    if recorder.returncode != 0 or not raw.exists():
        return {"error": output.decode(errors="replace").strip()[-500:]}
    analysis = analyse_profile(raw.read_text(), package)
    analysis["cpu_us"] = measured.cpu_seconds / measured.requests * 1e6
    return analysis


SIGNATURE_LEAF: Final = re.compile(
    r"^(CryptographyRSAKey|CryptographyECKey|RSAPSSKey|EdDSAKey)\.verify \("
)
INCLUSIVE: Final = {
    # The middleware's own work; its `__call__` frame also spans the route it calls.
    "auth": (
        "should_bypass_middleware (",
        "credentials (",
        "TokenVerifier.verify (",
        "SenderBinding.check (",
    ),
    "verify": ("TokenVerifier.verify (",),
    "split": ("_split (",),
    "header": ("TokenVerifier._header (",),
    "key_for": ("KeySet.key_for (",),
    "decode": ("TokenVerifier._decode (",),
    "claims": ("TokenVerifier._check_claims (",),
    "cache": ("VerifiedTokens.",),
}


def profile_groups(package: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Sample groups by the path prefix py-spy prints (relative to site-packages or stdlib)."""
    return (
        ("python-jose", ("jose/",)),
        ("our auth code", (f"{package}/auth/",)),
        ("our other code", (f"{package}/",)),
        ("cachetools", ("cachetools/",)),
        ("Litestar", ("litestar/", "msgspec/")),
        ("uvicorn + h11", ("uvicorn/", "h11/", "httptools/")),
        ("event loop + socket I/O", ("asyncio/", "selectors.py", "uvloop/")),
    )


def analyse_profile(raw: str, package: str) -> dict[str, Any]:
    """Shares of the server's event-loop-thread samples: by library, and inside the auth path."""
    groups_by_prefix = profile_groups(package)
    total = 0
    groups: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if frames[0].startswith("_bootstrap (threading.py"):
            continue  # a helper thread (logging queue) waiting; the event-loop thread serves
        count = int(count_text)
        total += count
        leaves[re.sub(r":\d+\)$", ")", frames[-1])] += count
        if SIGNATURE_LEAF.match(frames[-1]):
            groups["signature check (cryptography, C)"] += count
        else:
            groups[_group_of(frames, groups_by_prefix)] += count
        for name, prefixes in INCLUSIVE.items():
            if any(frame.startswith(prefixes) for frame in frames):
                inclusive[name] += count
    if not total:
        return {"error": "py-spy recorded no samples"}
    return {
        "samples": total,
        "groups": [(name, count / total) for name, count in groups.most_common()],
        "inclusive": {name: count / total for name, count in inclusive.items()},
        "leaves": [(name, count / total) for name, count in leaves.most_common(8)],
    }


def _group_of(
    frames: Sequence[str], groups_by_prefix: Sequence[tuple[str, tuple[str, ...]]]
) -> str:
    """Return the group of the innermost frame that belongs to a known library."""
    for frame in reversed(frames):
        path = frame.rpartition(" (")[2]
        for name, prefixes in groups_by_prefix:
            if path.startswith(prefixes):
                return name
    return "other (stdlib, interpreter)"


# --- report -----------------------------------------------------------------------------------


def fmt_ratio(value: float) -> str:
    """`0.93x`."""
    return f"{value:.2f}x"


def http_table(rows: Sequence[Row]) -> list[str]:
    """Format the side-by-side table of one workload."""
    lines = [
        "| app | server | req/s | **ratio** | rounds | p50 ms | p99 ms | CPU µs/req | CPU ratio "
        "| RSS MiB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        server = "uvloop+httptools" if row.app.server == STANDARD else "asyncio+h11"
        errors = f" ({row.errors} errors)" if row.errors else ""
        low, high = row.ratio_range
        lines.append(
            f"| {row.app.label}{errors} | {server} | {row.rate:,.0f} | **{fmt_ratio(row.ratio)}** "
            f"| {low:.2f}-{high:.2f} | {row.p50:.1f} | {row.p99:.1f} | {row.cpu_us:.0f} "
            f"| {fmt_ratio(row.cpu_ratio)} "
            f"| {row.app.rss:.0f} |"
        )
    return lines


def micro_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """µs per call and ratios to raw `cryptography`."""
    lines = [
        "| alg | ours, cache off µs | ours, cache hit µs | python-jose decode µs "
        "| raw cryptography µs | ours off / raw | jose / raw |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['algorithm']} | {row['ours_uncached']:.1f} | {row['ours_cached']:.2f} "
            f"| {row['jose_decode']:.1f} | {row['raw']:.1f} "
            f"| {fmt_ratio(row['ours_uncached'] / row['raw'])} "
            f"| {fmt_ratio(row['jose_decode'] / row['raw'])} |"
        )
    return lines


def profile_notes(data: Mapping[str, Any]) -> list[str]:
    """5-10 lines on where the fresh-token time goes, from the numbers of this run."""
    if "error" in data:
        return [f"- profile unavailable: {data['error']}"]
    groups = dict(data["groups"])
    inc = data["inclusive"]

    cpu_us = data["cpu_us"]

    def pct(value: float) -> str:
        return f"{value * 100:.0f}% ({value * cpu_us:.0f} µs)"

    lines = [
        f"- {data['samples']} py-spy samples (200 Hz) of the worker's event-loop thread during a "
        "fresh-token run of the generated service (asyncio+h11, access log and metrics off; "
        "every request carries a token the worker has never seen), which used "
        f"{cpu_us:.0f} µs of CPU per request under the profiler; shares below are of that.",
        f"- Authentication is {pct(inc.get('auth', 0.0))} of the worker's time: "
        f"`TokenVerifier.verify` {pct(inc.get('verify', 0.0))}.",
        f"- The signature check, python-jose's key `verify` into `cryptography`, is "
        f"{pct(groups.get('signature check (cryptography, C)', 0.0))}: the irreducible part.",
        f"- Our code around it is {pct(groups.get('our auth code', 0.0))}: splitting the token "
        f"{pct(inc.get('split', 0.0))}, reading its header {pct(inc.get('header', 0.0))} "
        "(decoded once per distinct header), the key lookup "
        f"{pct(inc.get('key_for', 0.0))}, decoding the claims and applying the policy "
        f"(`_decode` minus the signature check; `_check_claims` {pct(inc.get('claims', 0.0))}), "
        f"the `Principal`, and the verified-token cache {pct(inc.get('cache', 0.0))}.",
        "- The rest is the HTTP stack that the unauthenticated route pays too: Litestar "
        f"{pct(groups.get('Litestar', 0.0))}, "
        f"uvicorn + h11 {pct(groups.get('uvicorn + h11', 0.0))}, "
        f"event loop and socket syscalls {pct(groups.get('event loop + socket I/O', 0.0))}, "
        f"other {pct(groups.get('other (stdlib, interpreter)', 0.0))}.",
        "- Hottest leaves: "
        + ", ".join(f"`{name}` {share * 100:.0f}%" for name, share in data["leaves"][:5])
        + ".",
    ]
    return lines


def verdict(ok: bool) -> str:
    """`met` / `NOT met`."""
    return "met" if ok else "**NOT met**"


def report(context: Mapping[str, Any]) -> str:
    """Write the whole RESULTS.md text."""
    reused: list[Row] = context["reused"]
    fresh: list[Row] = context["fresh"]
    machine = context["machine"]
    versions = context["versions"]
    burst = context["burst"]
    start = context["startup"]
    ours_reused = next(r for r in reused if r.app.key == "ours")
    ours_fresh = next(r for r in fresh if r.app.key == "ours")
    ceiling_reused = next(r for r in reused if r.app.key == "ceiling")
    floor_fresh = next(r for r in fresh if r.app.key == "signature-only")
    peers_fresh = [r for r in fresh if r.app.key in {"pyjwt-jwks", "litestar-jwt", "tutorial"}]
    best_peer = max(peers_fresh, key=lambda r: r.ratio)
    best_peer_cpu = max(peers_fresh, key=lambda r: r.cpu_ratio)
    std_fresh = next(r for r in fresh if r.app.key == "ours-std")
    std_reused = next(r for r in reused if r.app.key == "ours-std")
    base = next(r for r in reused if r.app.key == "baseline")
    base_std = next(r for r in reused if r.app.key == "baseline-std")
    contention = context["contention"]
    heavy_contention = contention["contended"] > contention["runs"] / 10
    lines = [
        "# Benchmark results",
        "",
        f"Run {context['date']} by `uv run --group bench python bench/run.py` "
        f"({context['args']}); {context['elapsed']:.0f} s in all.",
        "",
        f"- Machine: {machine['nproc']} cores ({machine['cpu']}), {machine['memory']}, "
        f"Linux {machine['kernel']}.",
        "- Versions: Python "
        + versions["python"]
        + ", "
        + ", ".join(f"{name} {versions[name]}" for name in VERSIONS_OF),
        f"- Load: wrk {context['wrk']}, 1 thread, {CONNECTIONS} connections, "
        f"{context['rounds']} interleaved rounds of {context['duration']:g} s per app and "
        "workload; one uvicorn worker per app, `--no-access-log`; RS256 tokens (RSA-2048); "
        f"the benchmark and everything it starts ran at niceness {context['niceness']}.",
        f"- Contention: load average {context['load_before']} before, {context['load_after']} "
        f"after; CPU used by other processes during the wrk runs: mean "
        f"{contention['mean']:.2f} cores, max {contention['max']:.2f} cores, more than "
        f"{CONTENDED_CORES} cores in {contention['contended']} of {contention['runs']} runs. "
        + (
            "**Other processes competed for the CPU during much of this run**: req/s moved "
            "with them, the ratios (same round) less so, CPU per request least."
            if heavy_contention
            else "The machine was otherwise quiet."
            if not contention["contended"]
            else "The medians of the interleaved rounds absorb these few disturbed runs."
        ),
        "",
        *(f"- **Configuration check failed**: {problem}" for problem in context["config_problems"]),
        "",
        "Ratios are to the unauthenticated route of the same round and server options (median of "
        "the rounds; *rounds* gives the lowest and highest of them, the machine's noise). "
        "*CPU ratio* is the same comparison by server CPU time per request "
        "(utime+stime), which other processes disturb less than req/s.",
        "",
        "## Targets",
        "",
        "Each target is judged twice: by the req/s ratio (what the issue asks) and by the "
        "CPU ratio (server CPU per request; what the req/s ratio would be if the worker had a "
        "core to itself)."
        + (
            " Other processes competed during this run, so trust the CPU figures more."
            if heavy_contention
            else ""
        ),
        "",
        f"- Reused token >= {TARGET_REUSED:.2f}x the unauthenticated route: req/s "
        f"{fmt_ratio(ours_reused.ratio)} — {verdict(ours_reused.ratio >= TARGET_REUSED)}; CPU "
        f"{fmt_ratio(ours_reused.cpu_ratio)} — {verdict(ours_reused.cpu_ratio >= TARGET_REUSED)}."
        f" The ceiling (Litestar's authentication middleware verifying nothing) is "
        f"{fmt_ratio(ceiling_reused.ratio)} (CPU {fmt_ratio(ceiling_reused.cpu_ratio)}); ours "
        f"keeps {fmt_ratio(ceiling_reused.cpu_us / ours_reused.cpu_us)} of it by CPU.",
        f"- Fresh token >= {TARGET_FRESH:.2f}x: req/s {fmt_ratio(ours_fresh.ratio)} — "
        f"{verdict(ours_fresh.ratio >= TARGET_FRESH)}; CPU {fmt_ratio(ours_fresh.cpu_ratio)} — "
        f"{verdict(ours_fresh.cpu_ratio >= TARGET_FRESH)}. The floor, (g), an unauthenticated "
        "handler that only checks the token's RS256 signature, keeps "
        f"{fmt_ratio(floor_fresh.ratio)} "
        f"(CPU {fmt_ratio(floor_fresh.cpu_ratio)}): about the most any RS256 verifier keeps here. "
        f"Ours spends {ours_fresh.cpu_us - floor_fresh.cpu_us:.0f} µs per request beyond it.",
        f"- Fresh token ahead of every peer: req/s ratio ours {fmt_ratio(ours_fresh.ratio)}, "
        f"best peer {best_peer.app.label} {fmt_ratio(best_peer.ratio)} — "
        f"{verdict(all(ours_fresh.ratio > r.ratio for r in peers_fresh))}; CPU per request "
        f"ours {ours_fresh.cpu_us:.0f} µs, best peer {best_peer_cpu.app.label} "
        f"{best_peer_cpu.cpu_us:.0f} µs — "
        f"{verdict(all(ours_fresh.cpu_ratio > r.cpu_ratio for r in peers_fresh))}.",
        "",
        "## HTTP: one token reused by every request",
        "",
        *http_table(reused),
        "",
        f"## HTTP: a fresh token per request (pool of {context['pool']:,} distinct tokens)",
        "",
        *http_table(fresh),
        "",
        "## uvicorn[standard] (uvloop + httptools) vs asyncio + h11",
        "",
        f"- Unauthenticated route: {base_std.rate:,.0f} vs {base.rate:,.0f} req/s "
        f"({fmt_ratio(base_std.rate / base.rate)}).",
        f"- Generated service, reused token: {std_reused.rate:,.0f} vs {ours_reused.rate:,.0f} "
        f"req/s ({fmt_ratio(std_reused.rate / ours_reused.rate)}); fresh token: "
        f"{std_fresh.rate:,.0f} vs {ours_fresh.rate:,.0f} req/s "
        f"({fmt_ratio(std_fresh.rate / ours_fresh.rate)}).",
        "- The faster server shrinks the cost every request pays, so the fixed cost of a "
        f"signature check weighs more: fresh-token ratio {fmt_ratio(std_fresh.ratio)} on "
        f"uvloop+httptools vs {fmt_ratio(ours_fresh.ratio)} on asyncio+h11.",
        "",
        "## Cold burst",
        "",
        f"{burst['n']} concurrent requests, each with its own token, against a freshly started "
        f"service whose issuer answers discovery and JWKS after {burst['delay']:g} s each.",
        "",
        "| JWKS fetches | discovery fetches | statuses | keys arrived after the burst was sent "
        "| burst took |",
        "| ---: | ---: | --- | ---: | ---: |",
        f"| **{burst['jwks_fetches']}** | {burst['discovery_fetches']} | "
        + ", ".join(f"{status}: {count}" for status, count in sorted(burst["statuses"].items()))
        + f" | {_ms(burst['keys_arrived_ms'])} | {burst['burst_ms']:.0f} ms |",
        "",
        "## Verification alone (no HTTP), µs per call",
        "",
        *micro_table(context["micro"]),
        "",
        "*cache off*: `AUTH_VERIFIED_CACHE_SIZE=0`, every call verifies. *cache hit*: the same "
        "token again. *python-jose decode*: `jwt.decode` with a prebuilt key, issuer and "
        "audience (what the service used to call; it now parses the token once, calls the "
        "python-jose key's `verify` and checks the claims itself). *raw*: `cryptography`'s "
        "`verify` on the already-decoded signature and "
        "signing input (the floor).",
        "",
        "## Memory and start-up (generated service, one worker)",
        "",
        f"- RSS after the load rounds: {ours_fresh.app.rss:.0f} MiB (asyncio+h11), "
        f"{std_fresh.app.rss:.0f} MiB (uvloop+httptools); at start-up: {start['rss']:.0f} MiB.",
        f"- Start-up, process start to the first 200 on /health: {start['seconds'] * 1000:.0f} ms "
        "(median of 3, bytecode precompiled).",
        "",
        "## Profile of the fresh-token path",
        "",
        *profile_notes(context["profile"]),
        "",
    ]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


# --- main -------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    """Command-line options (defaults keep the whole run near four minutes)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per wrk run")
    parser.add_argument("--pool", type=int, default=20_000, help="fresh tokens to pre-mint")
    parser.add_argument("--burst", type=int, default=100, help="cold-burst concurrency")
    parser.add_argument("--burst-delay", type=float, default=0.5, help="issuer delay, seconds")
    parser.add_argument(
        "--nice",
        type=int,
        default=-10,
        help="niceness for the benchmark and every process it starts (default -10 when allowed,"
        " so other jobs on a shared machine disturb the measurements less)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; keep RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args()


def main() -> int:
    """Run everything; print the tables; write RESULTS.md."""
    args = parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk (see bench/README.md)", file=sys.stderr)
        return 2
    if shutil.which("uv") is None:
        print("uv is not on PATH", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _raise_interrupt)
    niceness = set_niceness(args.nice)
    procs = Processes()
    work = Path(tempfile.mkdtemp(prefix="jwks-bench-"))
    load_before = load_average()
    try:
        return _run(args, procs, work, load_before, niceness)
    finally:
        procs.stop_all()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def set_niceness(wanted: int) -> int:
    """Change this process's niceness (inherited by all it starts); return the one in force."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, wanted)
    except PermissionError:
        log(f"cannot set niceness {wanted} (not root?); running at {current}")
        return current
    return wanted


def _run(
    args: argparse.Namespace, procs: Processes, work: Path, load_before: str, niceness: int
) -> int:
    log(f"rendering the template into {work}")
    project = render(work)
    package = project.name.replace("-", "_")
    log("installing the generated service and the peers in a uv environment")
    python = install(project, work / "venv")
    versions = package_versions(python)
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    wrk_line = (wrk_version.stdout + wrk_version.stderr).split("\n", 1)[0].split(" [")[0]
    keys = work / "keys"
    keys.mkdir()
    _tool(python, "keys", "--out", str(keys))

    jwks_log = work / "jwks.log"
    jwks_server = procs.start(
        [str(python), str(BENCH_DIR / "tools.py"), "jwks-server", "--keys", str(keys)],
        env=base_env(),
        cwd=work,
        output=jwks_log,
    )
    issuer = f"http://127.0.0.1:{int(_first_line(jwks_log, jwks_server))}"
    log(f"minting {args.pool:,} RS256 tokens")
    files = {"reused": work / "reused.txt", "pool": work / "pool.txt"}
    _mint(python, work, issuer, 1, files["reused"], jobs=1)
    _mint(python, work, issuer, args.pool, files["pool"], jobs=os.cpu_count() or 1)

    apps = make_apps(package, issuer, f"{issuer}/.well-known/jwks.json", keys / "rsa-public.pem")
    log("starting " + ", ".join(app.key for app in apps))
    for app in apps:
        start_app(procs, python, app, work)
    config_problems = [
        f"{app.key}: GET /metrics answered {status}, expected {expected}"
        for app in apps
        if app.key.startswith("ours")
        for expected in [200 if app.key == "ours-observed" else 404]
        if (status := http_status(f"{app.url}/metrics")) != expected
    ]
    for problem in config_problems:
        log(f"WARNING: {problem} (did the observability settings change?)")
    for app in apps:
        run_wrk(app, "reused", 1.0, files)  # warm-up: first key fetch, lazy imports, caches
    other: list[float] = []
    for workload in ("reused", "fresh"):
        for index in range(args.rounds):
            log(f"{workload} token, round {index + 1}/{args.rounds}")
            for app in apps:
                result = run_wrk(app, workload, args.duration, files)
                app.rounds.setdefault(workload, []).append(result)
                other.append(result.other_cores)
    for app in apps:
        app.rss = rss_mib(app.pid)
    ours = next(app for app in apps if app.key == "ours")
    log("profiling the fresh-token path with py-spy")
    profile_data = profile(python, ours, files, args.duration, work, package)
    for app in apps:
        if app.proc is not None:
            procs.stop(app.proc)
    load_after = load_average()

    log("cold burst")
    burst = cold_burst(procs, python, package, work, args.burst, args.burst_delay)
    log("start-up time")
    start = startup(procs, python, package, issuer, work, times=3)
    procs.stop(jwks_server)
    log("microbenchmark")
    micro = json.loads(_tool(python, "micro", "--package", package, "--keys", str(keys)))

    text = report(
        {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "args": f"--rounds {args.rounds} --duration {args.duration:g} --pool {args.pool}",
            "niceness": niceness,
            "elapsed": time.monotonic() - STARTED,
            "machine": machine_description(),
            "versions": versions,
            "wrk": wrk_line,
            "rounds": args.rounds,
            "duration": args.duration,
            "pool": args.pool,
            "load_before": load_before,
            "load_after": load_after,
            "contention": {
                "mean": statistics.mean(other),
                "max": max(other),
                "runs": len(other),
                "contended": sum(cores > CONTENDED_CORES for cores in other),
            },
            "reused": summarise(apps, "reused"),
            "fresh": summarise(apps, "fresh"),
            "burst": burst,
            "startup": start,
            "micro": micro,
            "profile": profile_data,
            "config_problems": config_problems,
        }
    )
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
        log(f"wrote {RESULTS.relative_to(TEMPLATE_DIR)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: every process was stopped on the way
        print(f"interrupted ({exc or 'Ctrl-C'})", file=sys.stderr)
        sys.exit(130)
