"""`serve --workers 2`: one JWKS fetch per worker, and one `/metrics` that counts every worker.

The real `serve` process with two uvicorn workers, against a real issuer process, on loopback.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import httpx
from conftest import Installed
from processes import LOOPBACK, START_TIMEOUT, running_issuer, running_service

SAMPLE: Final = re.compile(r"(?P<name>[a-z_]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)")
LABEL: Final = re.compile(r'([a-z_]+)="([^"]*)"')
AUDIENCE: Final = "api://workers"
REQUESTS: Final = 60
SHARE_SECONDS: Final = 5.0  # a worker shares its metrics every 0.5 s; a loaded CI is slower


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the sample `name` having `labels` in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        found = SAMPLE.fullmatch(line)
        if found and found["name"] == name:
            pairs = dict(LABEL.findall(found["labels"] or ""))
            if labels.items() <= pairs.items():
                return float(found["value"])
    return 0.0


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
                counted = sample(text, "http_requests_total", path="/protected", status_code="200")
                time.sleep(0.2)
            assert counted == REQUESTS, service.process.report()
            # Whichever worker answers, the totals are the service's.
            for _ in range(6):
                with httpx.Client(trust_env=False) as fresh:
                    text = fresh.get(f"http://{LOOPBACK}:{service.port}/metrics").text
                assert (
                    sample(text, "http_requests_total", path="/protected", status_code="200")
                    == REQUESTS
                )
                assert sample(text, "jwks_fetches_total") == 2  # one per worker, at start-up
                assert sample(text, "jwks_ready") == 1
            assert len(list(folder.glob("*.prom"))) == 2
        assert not folder.exists()
