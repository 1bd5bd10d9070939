"""What every HTTP answer leaves behind: one access line, its request metrics, its request id.

Litestar's middleware runs only for matched routes, so a 404, a 405 or a 500 answered by the
app's outermost exception handler would pass unseen. `RequestObserver` wraps the app's whole
ASGI handler instead. On the request path it only notes the request's facts (one tuple appended
to a list); the access lines are formatted and written, and the metrics folded, by `flush`: every
`FLUSH_SECONDS`, as soon as `MAX_PENDING` records wait, before each scrape and at shutdown.
With several workers, each also shares its metrics (`worker_metrics.py`) on the same beat.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Final

from litestar.enums import ScopeType
from litestar.plugins import InitPlugin

from .auth import REFUSAL_REASON_KEY
from .logs import REQUEST_ID_HEADER, AccessLog, request_id
from .metrics import (
    KeySetCollector,
    RequestMetrics,
    merged_registry,
    metrics_endpoint,
    service_registry,
)
from .worker_metrics import SharedMetrics

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from litestar import Litestar
    from litestar.config.app import AppConfig
    from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

    from .auth import IssuerRegistry
    from .settings import ServiceSettings

    # (time ended, request id, method, path, route, status, seconds taken, auth failure reason)
    Observation = tuple[float, str, str, str, str, int, float, str | None]
    Sink = Callable[[Sequence[Observation]], None]

__all__ = ("FLUSH_SECONDS", "MAX_PENDING", "UNMATCHED", "Observability", "RequestObserver")

FLUSH_SECONDS: Final = 0.5
MAX_PENDING: Final = 1024
UNMATCHED: Final = "(unmatched)"
"""The route of a request that no route matched (404, 405): never its raw path, whose values
are the client's to choose and would make one metric series each."""


class RequestObserver:
    """The app's ASGI handler, noting each HTTP request's facts for `flush` to hand on."""

    def __init__(self, app: ASGIApp, sinks: Sequence[Sink], *, request_ids: bool) -> None:
        self.app = app
        self._sinks = tuple(sinks)
        self._request_ids = request_ids
        self._pending: list[Observation] = []
        self._active: dict[int, HTTPScope] = {}
        self._flush_soon: asyncio.Handle | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app fails before it responds
        rid = request_id(scope) if self._request_ids else ""
        header = (REQUEST_ID_HEADER, rid.encode())

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if rid:
                    message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        key = id(scope)
        self._active[key] = scope
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            del self._active[key]
            self._pending.append(
                (
                    time.time(),
                    rid,
                    scope["method"],
                    scope["path"],
                    scope.get("path_template", UNMATCHED),
                    status,
                    time.perf_counter() - started,
                    scope["state"].get(REFUSAL_REASON_KEY),
                )
            )
            if len(self._pending) >= MAX_PENDING and self._flush_soon is None:
                self._flush_soon = asyncio.get_running_loop().call_soon(self.flush)

    def in_progress(self) -> list[tuple[str, str]]:
        """Method and route of each request being answered now."""
        return [
            (scope["method"], scope.get("path_template", UNMATCHED))
            for scope in list(self._active.values())
        ]

    def flush(self) -> None:
        """Hand every record noted so far to the sinks (the access log, the metrics)."""
        if self._flush_soon is not None:
            self._flush_soon.cancel()
            self._flush_soon = None
        batch, self._pending = self._pending, []
        if batch:
            for sink in self._sinks:
                sink(batch)


class Observability(InitPlugin):
    """Access log, request metrics and `/metrics`, as `ServiceSettings` configure them."""

    def __init__(self, service: ServiceSettings, issuers: IssuerRegistry, app_name: str) -> None:
        self._service = service
        self._metrics = RequestMetrics(app_name) if service.metrics_path else None
        self._sinks: list[Sink] = []
        if service.access_log:
            self._sinks.append(AccessLog(service.log_format))
        self._shared: SharedMetrics | None = None
        if self._metrics is not None:
            self._sinks.append(self._metrics.add)
            self._registry = service_registry(KeySetCollector(issuers), self._metrics)
            if service.metrics_dir is not None:
                self._shared = SharedMetrics(service.metrics_dir, self._registry)
                self._registry = merged_registry(self._shared)
        self._observer: RequestObserver | None = None
        self._ticker: asyncio.Task[None] | None = None

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add `/metrics`, and the start-up and shutdown steps of the observer."""
        if self._metrics is not None:
            app_config.route_handlers.append(
                metrics_endpoint(
                    self._service.metrics_path,
                    self._registry,
                    require_token=self._service.metrics_require_token,
                )
            )
        if self._sinks:
            app_config.on_startup.append(self._start)
            app_config.on_shutdown.append(self._stop)
        return app_config

    def _start(self, app: Litestar) -> None:
        # Litestar builds its outermost handler after the plugins ran: it is wrapped here.
        self._observer = RequestObserver(
            app.asgi_handler, self._sinks, request_ids=self._service.access_log
        )
        if self._metrics is not None:
            self._metrics.observe(self._observer)
        app.asgi_handler = self._observer
        self._ticker = asyncio.get_running_loop().create_task(self._tick(self._observer))

    async def _tick(self, observer: RequestObserver) -> None:
        """Every `FLUSH_SECONDS`: flush the observer, and share the metrics with other workers."""
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            observer.flush()
            if self._shared is not None:
                self._shared.publish()

    def _stop(self, app: Litestar) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self._observer is not None:
            self._observer.flush()
            app.asgi_handler = self._observer.app
        if self._shared is not None:
            self._shared.publish()
