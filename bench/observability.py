"""CPU per request of the access log and the request metrics, in-process (not a test).

Run it inside a generated project's environment:

    uv run python <template>/bench/observability.py [--requests 20000] [--rounds 5]

It builds the generated app twice, with the observability off (`ACCESS_LOG=false METRICS_PATH=`)
and with its defaults (JSON access lines to /dev/null, metrics on), adds a trivial route that
needs no token, and calls the ASGI app directly, without a server, many times. The difference of
the best rounds' CPU time per request is what the access log and the metrics cost on the
request path. The periodic flush is held back; instead every 1024 requests (the service's
`MAX_PENDING`) a flush is timed on its own: request path plus flush is everything the service
spends per request, wherever it spends it. Against the code before the buffered access log
(an ASGI middleware formatting each line on the request path), "in the flush" reads 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar, get


@get("/bench", exclude_from_auth=True, sync_to_thread=False)
def bench_route() -> dict[str, str]:
    """Answer with a constant."""
    return {"status": "ok"}


def package() -> str:
    """Name the generated project's import package (the one with `logs.py`)."""
    for folder in Path("src").iterdir():
        if (folder / "logs.py").exists():
            return folder.name
    raise SystemExit("run this from a generated project's folder")


def build(observed: bool) -> Litestar:
    """Build the generated app, with or without its access log and metrics."""
    os.environ["AUTH_ISSUER"] = "https://issuer.invalid"
    os.environ["AUTH_AUDIENCE"] = "bench"
    pkg = package()
    settings = importlib.import_module(f"{pkg}.settings")
    auth = importlib.import_module(f"{pkg}.auth")
    app_module = importlib.import_module(f"{pkg}.app")
    service = settings.ServiceSettings(
        _env_file=None,
        log_format="json",
        access_log=observed,
        metrics_path="/metrics" if observed else "",
    )
    transport = httpx.MockTransport(lambda _: httpx.Response(503))
    app: Litestar = app_module.create_app(
        auth.AuthSettings(_env_file=None),
        service=service,
        jwks_transport=transport,
        route_handlers=[bench_route],
    )
    return app


async def lifespan(app: Litestar) -> tuple[Callable[[], Awaitable[None]], asyncio.Task[None]]:
    """Start the app's lifespan; return a coroutine function that ends it."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"].startswith("lifespan.startup"):
            started.set()
        elif message["type"].startswith("lifespan.shutdown"):
            stopped.set()

    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan"}, inbox.get, send))  # type: ignore[arg-type]
    await started.wait()

    async def stop() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await stopped.wait()
        await task

    return stop, task


BATCH = 1024  # the service's MAX_PENDING: it flushes at least this often
SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/bench",
    "raw_path": b"/bench",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}


async def run_round(app: Litestar, requests: int) -> tuple[float, float]:
    """CPU seconds per request over `requests` calls: answering, and flushing every 1024."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: object) -> None:
        return None

    answering = flushing = 0.0
    for start in range(0, requests, BATCH):
        started = time.process_time()
        for _ in range(min(BATCH, requests - start)):
            await app(dict(SCOPE, headers=list(SCOPE["headers"])), receive, send)  # type: ignore[arg-type]
        answered = time.process_time()
        drain(app)
        answering += answered - started
        flushing += time.process_time() - answered
    return answering / requests, flushing / requests


def drain(app: Litestar) -> None:
    """Write what the app buffered, if it buffers (the generated service's `RequestObserver`)."""
    flush = getattr(app.asgi_handler, "flush", None)
    if flush is not None:
        flush()


def hold_back_flushes() -> None:
    """No periodic or size-triggered flush during a round (when the service buffers)."""
    with contextlib.suppress(ModuleNotFoundError):
        observability = importlib.import_module(f"{package()}.observability")
        observability.FLUSH_SECONDS = 3600.0
        observability.MAX_PENDING = 10**9


async def measure(requests: int, rounds: int) -> None:
    """Print the best round of each app and their difference, in microseconds per request."""
    devnull = Path(os.devnull).open("w")  # noqa: SIM115 - lives as long as the process
    pkg = package()
    os.environ.setdefault("AUTH_ISSUER", "https://issuer.invalid")
    importlib.import_module(f"{pkg}.app")  # configures logging from the environment on import
    logs = importlib.import_module(f"{pkg}.logs")
    logs.configure_logging("json", "INFO")
    handler = logging.getLogger().handlers[0]
    if not isinstance(handler, logging.StreamHandler):
        raise SystemExit("configure_logging did not install a stream handler")
    handler.setStream(devnull)
    sys.stderr = devnull  # where the access lines go (the service's `AccessLog` writes there)
    hold_back_flushes()
    apps = {observed: build(observed) for observed in (False, True)}
    stops = [(await lifespan(app))[0] for app in apps.values()]
    results: dict[bool, list[float]] = {False: [], True: []}
    flushes: list[float] = []
    for app in apps.values():
        await run_round(app, requests // 10)
    for _ in range(rounds):  # interleaved, so that drifts of the machine hit both alike
        for observed, app in apps.items():
            answering, flushing = await run_round(app, requests)
            results[observed].append(answering)
            if observed:
                flushes.append(flushing)
    for stop in stops:
        await stop()
    best = {observed: min(values) for observed, values in results.items()}
    for observed, label in ((False, "off"), (True, "access log + metrics")):
        print(f"{label:>26}: {best[observed] * 1e6:7.2f} us/request (best of {rounds})")
    path = best[True] - best[False]
    print(f"{'on the request path':>26}: {path * 1e6:7.2f} us/request")
    print(f"{'in the flush':>26}: {min(flushes) * 1e6:7.2f} us/request")
    print(f"{'together':>26}: {(path + min(flushes)) * 1e6:7.2f} us/request")


def main() -> None:
    """Parse the arguments and measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(measure(args.requests, args.rounds))


if __name__ == "__main__":
    main()
