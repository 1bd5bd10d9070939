"""Side-by-side benchmark of the generated service against its peers (issue 6).

One command, from the template repository:

    uv run --group bench python bench/run.py

It renders the template into a temporary folder, installs the generated service (plus
`pyjwt[crypto]` and `py-spy`) in its own uv environment, starts the peers and the service on
both HTTP stacks on free loopback ports, loads each with `wrk` in interleaved rounds (RS256,
ES256 and EdDSA tokens, reused and fresh), runs the cold burst, the worker scaling, the
microbenchmark, the start-up measurement and a py-spy profile, prints the tables and writes
them to `bench/RESULTS.md`. Every process it starts is stopped on the way out, error or not.
The modules, each with one job: `processes` (start, stop, /proc), `environment` (render,
install, machine), `lineup` (the apps), `workloads` (wrk and the other measurements),
`profiling` (py-spy), `report` (RESULTS.md). See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

from environment import (
    TEMPLATE_DIR,
    install,
    machine_description,
    mint,
    package_versions,
    render,
    start_issuer,
    tool,
)
from lineup import App, make_apps, start_apps
from processes import (
    STARTED,
    Processes,
    http_status,
    load_average,
    log,
    raise_interrupt,
    rss_mib,
    set_niceness,
)
from profiling import profile
from report import CONTENDED_CORES, report
from workloads import Workload, cold_burst, run_wrk, scaling, startup, summarise

RESULTS: Final = Path(__file__).resolve().parent / "RESULTS.md"
ALGORITHMS: Final = {"RS256": 3600, "ES256": 3600, "EdDSA": 300}
"""The token algorithms and lifetimes (EdDSA: Zuplo's issuer, which signs 300 s tokens)."""
OTHER_ALGORITHM_APPS: Final = {"baseline", "ours-observed", "baseline-std", "ours-observed-std"}
"""The apps the ES256 and EdDSA workloads run on (the peers are RS256-only); EdDSA adds the
service without its verified-token cache."""


def apps_for(apps: list[App], workload: Workload) -> list[App]:
    """Return the apps that run `workload`."""
    if workload.algorithm == "RS256":
        return [app for app in apps if app.key != "ours-nocache"]
    wanted = OTHER_ALGORITHM_APPS | ({"ours-nocache"} if workload.algorithm == "EdDSA" else set())
    return [app for app in apps if app.key in wanted]


def parse_args() -> argparse.Namespace:
    """Command-line options (the defaults keep the whole run near fifteen minutes)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per wrk run")
    parser.add_argument(
        "--pool", type=int, default=20_000, help="fresh tokens to pre-mint per algorithm"
    )
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
    signal.signal(signal.SIGTERM, raise_interrupt)
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


def _run(
    args: argparse.Namespace, procs: Processes, work: Path, load_before: str, niceness: int
) -> int:
    log(f"rendering the template into {work}")
    project = render(work)
    slug = project.name
    package = slug.replace("-", "_")
    log("installing the generated service and the peers in a uv environment")
    python = install(project, work / "venv")
    versions = package_versions(python)
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    wrk_line = (wrk_version.stdout + wrk_version.stderr).split("\n", 1)[0].split(" [")[0]
    issuer, keys, jwks_server = start_issuer(procs, python, work)
    workloads = [
        Workload(algorithm, kind, work / f"{algorithm}-{kind}.txt", lifetime)
        for algorithm, lifetime in ALGORITHMS.items()
        for kind in ("reused", "fresh")
    ]
    apps = make_apps(issuer, f"{issuer}/.well-known/jwks.json", keys / "rsa-public.pem")
    log("starting " + ", ".join(app.key for app in apps))
    start_apps(procs, python, slug, apps, work)
    config_problems = [
        f"{app.key}: GET /metrics answered {status}, expected {expected}"
        for app in apps
        if app.key.startswith("ours")
        for expected in [404 if app.key.startswith("ours-std") or app.key == "ours" else 200]
        if (status := http_status(f"{app.url}/metrics")) != expected
    ]
    for problem in config_problems:
        log(f"WARNING: {problem} (did the observability settings change?)")
    other: list[float] = []
    for workload in workloads:
        # Minted just before their runs: the EdDSA tokens live only 300 s.
        log(f"minting {workload.key} tokens")
        count = 1 if workload.kind == "reused" else args.pool
        mint(
            python,
            work,
            issuer,
            count,
            workload.tokens,
            jobs=os.cpu_count() or 1,
            algorithm=workload.algorithm,
            lifetime=workload.lifetime,
        )
        for app in apps_for(apps, workload):
            run_wrk(app, workload, 1.0)  # warm-up: first key fetch, lazy imports, caches
        for index in range(args.rounds):
            log(f"{workload.key}, round {index + 1}/{args.rounds}")
            for app in apps_for(apps, workload):
                result = run_wrk(app, workload, args.duration)
                app.rounds.setdefault(workload.key, []).append(result)
                other.append(result.other_cores)
    for app in apps:
        app.rss = rss_mib(app.pid)
    ours = next(app for app in apps if app.key == "ours")
    log("profiling the fresh-token path with py-spy")
    rs256_fresh = next(w for w in workloads if w.key == "RS256 fresh")
    profile_data = profile(python, ours, rs256_fresh, args.duration, work, package)
    for app in apps:
        if app.proc is not None:
            procs.stop(app.proc)
    load_after = load_average()

    log("serve --workers 1 and 2")
    rs256_reused = next(w for w in workloads if w.key == "RS256 reused")
    workers = scaling(procs, python, slug, issuer, work, rs256_reused, args.rounds, args.duration)
    log("cold burst")
    burst = cold_burst(procs, python, slug, work, args.burst, args.burst_delay)
    log("start-up time")
    start = startup(procs, python, slug, issuer, work, times=3)
    procs.stop(jwks_server)
    log("microbenchmark")
    micro = json.loads(tool(python, "micro", "--package", package, "--keys", str(keys)))

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
            "rows": {w.key: summarise(apps_for(apps, w), w.key) for w in workloads},
            "workers": workers,
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
