"""Prometheus metrics: requests per route and status, auth refusals by reason, and the key set."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from litestar import Response, get
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from litestar.handlers import HTTPRouteHandler

    from .auth import IssuerRegistry
    from .observability import Observation, RequestObserver

__all__ = (
    "KeySetCollector",
    "RequestMetrics",
    "merged_registry",
    "metrics_endpoint",
    "service_registry",
)

REQUEST_LABELS: Final = ("method", "path", "status_code", "app_name")
BUCKETS: Final = Histogram.DEFAULT_BUCKETS
BUCKET_LABELS: Final = tuple("+Inf" if bound == math.inf else repr(bound) for bound in BUCKETS)
METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
OTHER_METHOD: Final = "OTHER"
"""The method label of any other method: clients choose them, each would make new series."""


@dataclass(slots=True)
class Series:
    """The requests of one method, route and status: how many, their total and bucketed time."""

    count: int = 0
    seconds: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))


class RequestMetrics(Collector):
    """The request and refusal metrics, folded from the observer's records at scrape time.

    Names and labels are those of Litestar's Prometheus middleware (`http_requests_total`,
    `http_request_duration_seconds`, `http_requests_error_total`, `http_requests_in_progress`)
    plus `auth_refusals_total{reason, status}`.
    """

    def __init__(self, app_name: str) -> None:
        self._app_name = app_name
        self._series: dict[tuple[str, str, int], Series] = {}
        self._refusals: dict[tuple[str, int], int] = {}
        self._observer: RequestObserver | None = None

    def observe(self, observer: RequestObserver) -> None:
        """Read requests in progress from `observer`, and flush it before each scrape."""
        self._observer = observer

    def add(self, batch: Sequence[Observation]) -> None:
        """Fold a batch of request records into the counters."""
        for _, _, method, _, route, status, seconds, reason in batch:
            key = (_method_label(method), route, status)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = Series()
            series.count += 1
            series.seconds += seconds
            series.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
            if reason:
                self._refusals[reason, status] = self._refusals.get((reason, status), 0) + 1

    def describe(self) -> Iterator[Metric]:
        """The families, without samples (the registry checks names with them)."""
        return self._families()

    def collect(self) -> Iterator[Metric]:
        """The families with every series seen so far, after a flush of pending records."""
        if self._observer is not None:
            self._observer.flush()
        return self._families(with_samples=True)

    def _families(self, *, with_samples: bool = False) -> Iterator[Metric]:
        requests = CounterMetricFamily("http_requests", "Total requests", labels=REQUEST_LABELS)
        durations = HistogramMetricFamily(
            "http_request_duration_seconds", "Request duration, in seconds", labels=REQUEST_LABELS
        )
        errors = CounterMetricFamily(
            "http_requests_error", "Total errors in requests", labels=REQUEST_LABELS
        )
        in_progress = GaugeMetricFamily(
            "http_requests_in_progress",
            "Total requests currently in progress",
            labels=("method", "path", "app_name"),
        )
        refusals = CounterMetricFamily(
            "auth_refusals",
            "Requests refused by authentication or authorization, by reason code.",
            labels=("reason", "status"),
        )
        if with_samples:
            self._add_samples(requests, durations, errors, in_progress, refusals)
        yield from (requests, durations, errors, in_progress, refusals)

    def _add_samples(
        self,
        requests: CounterMetricFamily,
        durations: HistogramMetricFamily,
        errors: CounterMetricFamily,
        in_progress: GaugeMetricFamily,
        refusals: CounterMetricFamily,
    ) -> None:
        running: dict[tuple[str, str], int] = {}
        for (method, route, status), series in sorted(self._series.items()):
            labels = [method, route, str(status), self._app_name]
            requests.add_metric(labels, series.count)
            cumulative, buckets = 0, []
            for bound, count in zip(BUCKET_LABELS, series.buckets, strict=True):
                cumulative += count
                buckets.append((bound, float(cumulative)))
            durations.add_metric(labels, buckets, series.seconds)
            if status >= 500:
                errors.add_metric(labels, series.count)
            running.setdefault((method, route), 0)
        if self._observer is not None:
            for method, route in self._observer.in_progress():
                key = (_method_label(method), route)
                running[key] = running.get(key, 0) + 1
        for (method, route), count in sorted(running.items()):
            in_progress.add_metric([method, route, self._app_name], count)
        for (reason, status), count in sorted(self._refusals.items()):
            refusals.add_metric([reason, str(status)], count)


def _method_label(method: str) -> str:
    return method if method in METHODS else OTHER_METHOD


class KeySetCollector(Collector):
    """Reads each issuer's key set counters at scrape time: fetches, failures, age, readiness."""

    def __init__(self, issuers: IssuerRegistry) -> None:
        self._issuers = issuers

    def collect(self) -> Iterator[Metric]:
        """The key-set families, one series per issuer, read now."""
        fetches = CounterMetricFamily("jwks_fetches", "JWKS fetches started.", labels=["issuer"])
        failures = CounterMetricFamily(
            "jwks_fetch_failures", "JWKS fetches that failed.", labels=["issuer"]
        )
        age = GaugeMetricFamily(
            "jwks_key_set_age_seconds",
            "Seconds since the key set in use was fetched (NaN before the first).",
            labels=["issuer"],
        )
        ready = GaugeMetricFamily(
            "jwks_ready", "1 when keys are loaded, else 0.", labels=["issuer"]
        )
        for issuer in self._issuers:
            keys, label = issuer.keys, [issuer.name]
            fetches.add_metric(label, keys.fetches)
            failures.add_metric(label, keys.failed_fetches)
            age.add_metric(label, keys.age())
            ready.add_metric(label, float(keys.ready))
        yield from (fetches, failures, age, ready)


def service_registry(*collectors: Collector) -> CollectorRegistry:
    """The app's own registry: `collectors` and the process's CPU, memory and file descriptors.

    Not prometheus_client's default registry, whose platform and garbage-collector metrics
    (the exact Python version among them) tell an unauthenticated scraper more than it needs.
    """
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    for collector in collectors:
        registry.register(collector)
    return registry


def merged_registry(collector: Collector) -> CollectorRegistry:
    """A registry serving only `collector` (the workers' merged metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def metrics_endpoint(
    path: str, registry: CollectorRegistry, *, require_token: bool
) -> HTTPRouteHandler:
    """`GET path`: the registry in the Prometheus text format, without a token unless required."""

    @get(path, exclude_from_auth=not require_token, include_in_schema=False, sync_to_thread=False)
    def metrics() -> Response[bytes]:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
