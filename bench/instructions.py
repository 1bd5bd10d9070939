"""Instructions per request of the real servers, counted by callgrind: the noise-free ratios.

One command, from the template repository (valgrind must be installed):

    uv run --group bench python bench/instructions.py [--requests 200 600]

On a shared virtual machine one wrk run can land 30% either side of the next, which is more
than the margins the targets leave. The instructions a server executes per request do not
depend on the neighbours: each app below (the unauthenticated route, the generated service as
generated, and with its access log and metrics off) is started under
`valgrind --tool=callgrind`, answers a fixed number of sequential keep-alive requests with one
reused RS256 token, and stops. Two runs per app (200 and 600 requests by default) differ only
by the requests, so their difference, divided by 400, is the instructions per request, start-up
and shutdown excluded. Work done per second of wall time rather than per request (the access
log's once-a-second timestamp, the 0.5 s flush) is over-counted here, since valgrind slows the
server some fifty times. Instructions are not time (cache misses, system calls), so the
benchmark's req/s ratios stay the figures the targets are judged by; these tell which way a
change moved the code, to within about 1%.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from environment import base_env, install, mint, render, start_issuer
from lineup import AUDIENCE, ours_env
from processes import Processes, free_port, log

APPS = ("baseline", "ours-observed", "ours")
LABELS = {
    "baseline": "(a) unauthenticated route",
    "ours-observed": "(f) generated service as generated (access log, metrics)",
    "ours": "(f) generated service, access log and metrics off",
}


def command(app: str, python: Path, slug: str, port: int) -> list[str]:
    """The server of `app` on asyncio+h11, as the benchmark runs it."""
    if app == "baseline":
        return [
            *(str(python), "-m", "uvicorn", "peers:app", "--app-dir", str(Path(__file__).parent)),
            *("--port", str(port), "--no-access-log", "--loop", "asyncio", "--http", "h11"),
        ]
    return [str(python.parent / slug), "serve", "--http", "h11", "--port", str(port)]


def environment(app: str, issuer: str, keys: Path) -> dict[str, str]:
    """What `app` is configured with (the peers by `BENCH_*`, the service by its settings)."""
    if app == "baseline":
        return {
            "BENCH_PEER": "baseline",
            "BENCH_ISSUER": issuer,
            "BENCH_AUDIENCE": AUDIENCE,
            "BENCH_JWKS_URL": f"{issuer}/.well-known/jwks.json",
            "BENCH_PUBLIC_PEM": str(keys / "rsa-public.pem"),
        }
    return ours_env(issuer, observability=app == "ours-observed")


def readiness(app: str) -> str:
    """The path that answers 200 once `app` can serve tokens (the service: keys loaded)."""
    return "/health" if app == "baseline" else "/ready"


def counted(
    argv: list[str],
    env: dict[str, str],
    ready: str,
    port: int,
    token: str,
    requests: int,
    out: Path,
) -> int:
    """Total instructions of one server run under callgrind that answered `requests` requests."""
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    with (out.with_suffix(".log")).open("wb") as sink:
        server = subprocess.Popen(
            [*valgrind, *argv],
            env={**base_env(), **env, "PYTHONHASHSEED": "0"},
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=out.parent,
        )
    try:
        deadline = time.monotonic() + 600
        while _status(port, ready) != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not become ready; see {out.with_suffix('.log')}")
            time.sleep(1)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(requests):
            connection.request("GET", "/protected", headers={"Authorization": f"Bearer {token}"})
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"/protected answered {answer.status}")
        connection.close()
    finally:
        server.terminate()
        server.wait(timeout=600)
    for line in out.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no summary in {out}")


def _status(port: int, path: str) -> int | None:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None


def main() -> int:
    """Render, install, count, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, nargs=2, default=(200, 600), metavar=("FEW", "MANY")
    )
    args = parser.parse_args()
    few, many = sorted(args.requests)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: apt-get install -y valgrind", file=sys.stderr)
        return 2
    procs = Processes()
    work = Path(tempfile.mkdtemp(prefix="jwks-instructions-"))
    try:
        project = render(work)
        python = install(project, work / "venv")
        issuer, keys, _ = start_issuer(procs, python, work)
        tokens = work / "token.txt"
        mint(python, work, issuer, 1, tokens, jobs=1, algorithm="RS256", lifetime=36000)
        token = tokens.read_text().split()[0]

        def run(job: tuple[str, int]) -> int:
            app, requests = job
            port = free_port()
            argv = command(app, python, project.name, port)
            return counted(
                argv,
                environment(app, issuer, keys),
                readiness(app),
                port,
                token,
                requests,
                work / f"{app}-{requests}.out",
            )

        log(f"counting {few} and {many} requests of {', '.join(APPS)} under callgrind")
        jobs = [(app, requests) for app in APPS for requests in (few, many)]
        with ThreadPoolExecutor(2) as pool:
            totals = dict(zip(jobs, pool.map(run, jobs), strict=True))
        per_request = {app: (totals[app, many] - totals[app, few]) / (many - few) for app in APPS}
        base = per_request["baseline"]
        print("| app | instructions per request | ratio |\n| --- | ---: | ---: |")
        for app in APPS:
            count = per_request[app]
            print(f"| {LABELS[app]} | {count / 1e3:,.1f}k | {base / count:.3f}x |")
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
