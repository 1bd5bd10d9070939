"""Prometheus metrics: requests (Litestar's plugin), auth refusals by reason, and the key set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from prometheus_client import REGISTRY, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .auth import KeySet

__all__ = ("AUTH_REFUSALS", "KeySetCollector", "metrics_controller", "prometheus_config")

AUTH_REFUSALS = Counter(
    "auth_refusals",
    "Requests refused by authentication or authorization, by reason code.",
    ["reason", "status"],
)


def prometheus_config(app_name: str) -> PrometheusConfig:
    """Request counts and latency per route and status (Litestar's Prometheus middleware)."""
    return PrometheusConfig(app_name=app_name, prefix="http", group_path=True)


def metrics_controller(path: str, *, require_token: bool) -> type[PrometheusController]:
    """The `/metrics` endpoint, excluded from authentication unless `require_token`."""
    return type(
        "MetricsController",
        (PrometheusController,),
        {"path": path, "opt": {"exclude_from_auth": not require_token}},
    )


class KeySetCollector(Collector):
    """Reads the key set's counters at scrape time: fetches, failures, age, readiness."""

    def __init__(self, keys: KeySet) -> None:
        self._keys = keys

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield CounterMetricFamily("jwks_fetches", "JWKS fetches started.", value=self._keys.fetches)
        yield CounterMetricFamily(
            "jwks_fetch_failures", "JWKS fetches that failed.", value=self._keys.failed_fetches
        )
        yield GaugeMetricFamily(
            "jwks_key_set_age_seconds",
            "Seconds since the key set in use was fetched (NaN before the first).",
            value=self._keys.age(),
        )
        yield GaugeMetricFamily(
            "jwks_ready", "1 when keys are loaded, else 0.", value=float(self._keys.ready)
        )

    def register(self) -> None:
        """Add to the process-wide registry (the app's lifespan does this)."""
        REGISTRY.register(self)

    def unregister(self) -> None:
        """Remove from the process-wide registry."""
        REGISTRY.unregister(self)
