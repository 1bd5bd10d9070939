"""`serve --workers 2`: one JWKS fetch per worker, and one `/metrics` that counts every worker.

The real `serve` process with two uvicorn workers, against a real issuer process, on loopback.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import httpx
from conftest import Installed
from processes import LOOPBACK, START_TIMEOUT, metric_sample, running_issuer, running_service

AUDIENCE: Final = "api://workers"
REQUESTS: Final = 60
SHARE_SECONDS: Final = 5.0  # a worker shares its metrics every 0.5 s; a loaded CI is slower


def fetches(metrics: str) -> float:
    """The JWKS fetches that a scrape counts, over the workers that have shared their metrics."""
    return metric_sample(metrics, "jwks_fetches_total")


def test_two_workers_share_one_metrics_endpoint(
    installed_default: Installed, tmp_path: Path
) -> None:
    """Requests served by either worker are counted by every scrape; the folder goes at exit."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    with running_issuer(tmp_path / "issuer.log") as issuer:
        env = {"AUTH_ISSUER": issuer.url, "AUTH_AUDIENCE": AUDIENCE, "TMPDIR": str(temp)}
        with running_service(
            installed_default, "serve", tmp_path / "serve.log", "--workers", "2", env=env
        ) as service:
            service.wait_for("/ready", 200, START_TIMEOUT)
            # `/ready` answers from the first worker up; a loaded machine starts the second later.
            deadline = time.monotonic() + START_TIMEOUT
            while (started := fetches(service.expect("/metrics", 200).text)) < 2:
                assert time.monotonic() < deadline, service.process.report()
                time.sleep(0.2)
            assert started == 2, service.process.report()
            token = issuer.sign(aud=AUDIENCE)
            url = f"http://{LOOPBACK}:{service.port}/protected"

            def call(_: int) -> int:
                # A new connection each time, so that both workers accept some.
                headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
                return httpx.get(url, headers=headers, timeout=5.0, trust_env=False).status_code

            with ThreadPoolExecutor(8) as pool:
                assert list(pool.map(call, range(REQUESTS))) == [200] * REQUESTS
            (folder,) = temp.glob("metrics-*")
            deadline = time.monotonic() + SHARE_SECONDS
            counted = 0.0
            while counted != REQUESTS and time.monotonic() < deadline:
                text = service.expect("/metrics", 200).text
                counted = metric_sample(
                    text, "http_requests_total", path="/protected", status_code="200"
                )
                time.sleep(0.2)
            assert counted == REQUESTS, service.process.report()
            # Whichever worker answers, the totals are the service's.
            for _ in range(6):
                with httpx.Client(trust_env=False) as fresh:
                    text = fresh.get(f"http://{LOOPBACK}:{service.port}/metrics").text
                assert (
                    metric_sample(text, "http_requests_total", path="/protected", status_code="200")
                    == REQUESTS
                )
                assert fetches(text) == 2  # one per worker, at start-up
                assert metric_sample(text, "jwks_ready") == 1
            assert len(list(folder.glob("*.prom"))) == 2
        assert not folder.exists()
