"""Prometheus metrics: requests per route and status, auth refusals by reason, and the key set."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.plugins.prometheus import PrometheusController
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .auth import refusal_reason

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from .auth import IssuerRegistry

__all__ = ("AUTH_REFUSALS", "KeySetCollector", "RequestMetricsMiddleware", "metrics_controller")

REQUEST_LABELS = ("method", "path", "status_code", "app_name")
REQUESTS = Counter("http_requests", "Total requests", REQUEST_LABELS)
REQUEST_DURATION = Histogram(
    "http_request_duration_seconds", "Request duration, in seconds", REQUEST_LABELS
)
REQUEST_ERRORS = Counter("http_requests_error", "Total errors in requests", REQUEST_LABELS)
REQUESTS_IN_PROGRESS = Gauge(
    "http_requests_in_progress",
    "Total requests currently in progress",
    ("method", "path", "app_name"),
    multiprocess_mode="livesum",
)
AUTH_REFUSALS = Counter(
    "auth_refusals",
    "Requests refused by authentication or authorization, by reason code.",
    ["reason", "status"],
)


class RequestMetricsMiddleware(ASGIMiddleware):
    """Counts requests and their latency per route template, method and status.

    The metrics (and their names) of Litestar's Prometheus middleware, at a fraction of its
    cost per request: each label combination is looked up once and its series kept.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(self, app_name: str) -> None:
        self._app_name = app_name
        self._in_progress: dict[tuple[str, str], Gauge] = {}
        self._finished: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        method, route = str(scope.get("method", "GET")), scope["path_template"]
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_progress = self._in_progress.get((method, route))
        if in_progress is None:
            in_progress = REQUESTS_IN_PROGRESS.labels(method, route, self._app_name)
            self._in_progress[method, route] = in_progress
        in_progress.inc()
        try:
            await next_app(scope, receive, send_with_status)
        finally:
            in_progress.dec()
            self._finish(method, route, status, time.perf_counter() - started)
            reason = refusal_reason(scope)
            if reason:
                AUTH_REFUSALS.labels(reason, str(status)).inc()

    def _finish(self, method: str, route: str, status: int, duration: float) -> None:
        series = self._finished.get((method, route, status))
        if series is None:
            labels = (method, route, str(status), self._app_name)
            series = (REQUESTS.labels(*labels), REQUEST_DURATION.labels(*labels))
            self._finished[method, route, status] = series
        series[0].inc()
        series[1].observe(duration)
        if status >= 500:
            REQUEST_ERRORS.labels(method, route, str(status), self._app_name).inc()


def metrics_controller(path: str, *, require_token: bool) -> type[PrometheusController]:
    """The `/metrics` endpoint, excluded from authentication unless `require_token`."""
    return type(
        "MetricsController",
        (PrometheusController,),
        {"path": path, "opt": {"exclude_from_auth": not require_token}},
    )


class KeySetCollector(Collector):
    """Reads each issuer's key set counters at scrape time: fetches, failures, age, readiness."""

    def __init__(self, issuers: IssuerRegistry) -> None:
        self._issuers = issuers

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        families = (
            CounterMetricFamily("jwks_fetches", "JWKS fetches started.", labels=["issuer"]),
            CounterMetricFamily(
                "jwks_fetch_failures", "JWKS fetches that failed.", labels=["issuer"]
            ),
            GaugeMetricFamily(
                "jwks_key_set_age_seconds",
                "Seconds since the key set in use was fetched (NaN before the first).",
                labels=["issuer"],
            ),
            GaugeMetricFamily("jwks_ready", "1 when keys are loaded, else 0.", labels=["issuer"]),
        )
        fetches, failures, age, ready = families
        for issuer in self._issuers:
            keys, label = issuer.keys, [issuer.name]
            fetches.add_metric(label, keys.fetches)
            failures.add_metric(label, keys.failed_fetches)
            age.add_metric(label, keys.age())
            ready.add_metric(label, float(keys.ready))
        yield from families

    def register(self) -> None:
        """Add to the process-wide registry (the app's lifespan does this)."""
        REGISTRY.register(self)

    def unregister(self) -> None:
        """Remove from the process-wide registry."""
        REGISTRY.unregister(self)
