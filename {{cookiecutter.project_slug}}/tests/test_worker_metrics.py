"""`SharedMetrics`: the workers' metrics merged, whichever worker answers the scrape."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Final

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from {{ cookiecutter.package_name }}.worker_metrics import SharedMetrics

from .conftest import bearer, service_app

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from prometheus_client.core import Metric

    from .conftest import IssuerStub, Keyring

ISSUER_LABEL: Final = ["https://issuer.test"]


class Worker(Collector):
    """The metrics one worker would have: a counter, a histogram and three kinds of gauge."""

    def __init__(self, requests: int, *, ready: float, age: float, in_progress: int) -> None:
        self.requests, self.ready, self.age, self.in_progress = requests, ready, age, in_progress

    def collect(self) -> Iterator[Metric]:
        """The families, with this worker's values."""
        requests = CounterMetricFamily("http_requests", "Total requests", labels=["path"])
        requests.add_metric(["/protected"], self.requests)
        durations = HistogramMetricFamily("duration_seconds", "Duration", labels=["path"])
        durations.add_metric(
            ["/protected"], [("0.1", self.requests), ("+Inf", self.requests)], 0.01 * self.requests
        )
        ready = GaugeMetricFamily("jwks_ready", "Keys loaded", labels=["issuer"])
        ready.add_metric(ISSUER_LABEL, self.ready)
        age = GaugeMetricFamily("jwks_key_set_age_seconds", "Key set age", labels=["issuer"])
        age.add_metric(ISSUER_LABEL, self.age)
        running = GaugeMetricFamily("http_requests_in_progress", "In progress", labels=["path"])
        running.add_metric(["/protected"], self.in_progress)
        yield from (requests, durations, ready, age, running)


def registry_of(collector: Collector) -> CollectorRegistry:
    """A registry holding only `collector`."""
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def write_worker(folder: Path, pid: int, worker: Worker) -> None:
    """What another worker, process `pid`, would have published."""
    (folder / f"{pid}.prom").write_bytes(generate_latest(registry_of(worker)))


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def merged(folder: Path, own: Worker) -> dict[str, float]:
    """The merged samples, as `name{label values}` -> value, with this process as `own`."""
    text = generate_latest(registry_of(SharedMetrics(folder, registry_of(own)))).decode()
    return {
        f"{item.name}{sorted(item.labels.values())}": item.value
        for family in text_string_to_metric_families(text)
        for item in family.samples
    }


class TestMerge:
    """How the workers' samples combine."""

    def test_counters_and_histograms_are_summed(self, tmp_path: Path) -> None:
        """Requests, buckets, counts and sums add up over the workers."""
        write_worker(tmp_path, os.getppid(), Worker(5, ready=1, age=10, in_progress=0))
        samples = merged(tmp_path, Worker(3, ready=1, age=20, in_progress=0))
        assert samples["http_requests_total['/protected']"] == 8
        assert samples["duration_seconds_bucket['+Inf', '/protected']"] == 8
        assert samples["duration_seconds_count['/protected']"] == 8
        assert samples["duration_seconds_sum['/protected']"] == pytest.approx(0.08)

    def test_gauges_follow_their_own_rule(self, tmp_path: Path) -> None:
        """Ready only if every worker is, the oldest key set, requests in progress summed."""
        write_worker(tmp_path, os.getppid(), Worker(1, ready=0, age=40, in_progress=2))
        samples = merged(tmp_path, Worker(1, ready=1, age=math.nan, in_progress=1))
        assert samples[f"jwks_ready{ISSUER_LABEL}"] == 0
        assert samples[f"jwks_key_set_age_seconds{ISSUER_LABEL}"] == 40
        assert samples["http_requests_in_progress['/protected']"] == 3

    def test_a_worker_that_exited_keeps_its_counts_but_not_its_gauges(self, tmp_path: Path) -> None:
        """A restarted worker's requests stay counted; its last gauges no longer count."""
        write_worker(tmp_path, dead_pid(), Worker(7, ready=0, age=999, in_progress=4))
        samples = merged(tmp_path, Worker(2, ready=1, age=5, in_progress=0))
        assert samples["http_requests_total['/protected']"] == 9
        assert samples[f"jwks_ready{ISSUER_LABEL}"] == 1
        assert samples[f"jwks_key_set_age_seconds{ISSUER_LABEL}"] == 5
        assert samples["http_requests_in_progress['/protected']"] == 0

    def test_an_unreadable_file_is_skipped_with_a_warning(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A file that is not the text format costs its own samples only."""
        (tmp_path / f"{os.getppid()}.prom").write_text("http_requests_total{ 12 garbage\n")
        samples = merged(tmp_path, Worker(2, ready=1, age=5, in_progress=0))
        assert samples["http_requests_total['/protected']"] == 2
        assert any("metrics of" in record.getMessage() for record in caplog.records)

    def test_publishing_into_a_vanished_folder_warns(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Without its folder a worker still answers the scrape, with a warning and no samples."""
        shared = SharedMetrics(
            tmp_path / "gone", registry_of(Worker(1, ready=1, age=1, in_progress=0))
        )
        assert generate_latest(registry_of(shared)) == b""
        assert "not shared with the other workers" in caplog.text


async def test_the_app_serves_the_merged_metrics(
    stub: IssuerStub, keyring: Keyring, tmp_path: Path
) -> None:
    """With `METRICS_DIR`, `/metrics` counts another worker's requests besides its own."""
    write_worker(tmp_path, os.getppid(), Worker(40, ready=1, age=3, in_progress=0))
    async with AsyncTestClient(service_app(stub, metrics_dir=tmp_path)) as client:
        assert (await client.get("/protected", headers=bearer(keyring.token()))).status_code == 200
        text = (await client.get("/metrics")).text
    published = {path.name for path in tmp_path.iterdir()}  # noqa: ASYNC240  # the app has stopped
    lines = text.splitlines()
    assert 'http_requests_total{path="/protected"} 40.0' in lines
    assert any(
        line.startswith("http_requests_total{")
        and 'path="/protected"' in line
        and 'status_code="200"' in line
        and line.endswith(" 1.0")
        for line in lines
    )
    assert f"{os.getpid()}.prom" in published
