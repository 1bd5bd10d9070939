"""The Litestar application: `create_app()` builds it, `app` is what uvicorn serves."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from litestar import Litestar, Request, Response
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware, DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from .auth import AuthError, BearerTokenMiddleware, KeySet, TokenVerifier
from .logs import AccessLogMiddleware, configure_logging, note_auth_failure
from .metrics import AUTH_REFUSALS, KeySetCollector, metrics_controller, prometheus_config
from .routes import admin, health, protected, ready
from .settings import (
    AuthSettings,
    ServiceSettings,
    SettingsError,
    load_service_settings,
    load_settings,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    import httpx
    from litestar.datastructures import State
    from litestar.types import ASGIApp, ControllerRouterHandler, Receive, Scope, Send

__all__ = ("app", "create_app")

logger = logging.getLogger(__name__)


def create_app(
    settings: AuthSettings | None = None,
    *,
    service: ServiceSettings | None = None,
    jwks_transport: httpx.AsyncBaseTransport | None = None,
    route_handlers: Sequence[ControllerRouterHandler] = (),
) -> Litestar:
    """Build the service. `jwks_transport` replaces the network (tests use `httpx.MockTransport`)."""
    settings = settings or load_settings()
    service = service or load_service_settings()
    keys = KeySet(settings, transport=jwks_transport)
    verifier = TokenVerifier(settings, keys)
    collector = KeySetCollector(keys)

    @asynccontextmanager
    async def load_keys(_: Litestar) -> AsyncIterator[None]:
        _log_configuration(settings)
        if service.metrics_path:
            collector.register()
        try:
            async with keys:
                yield
        finally:
            if service.metrics_path:
                collector.unregister()

    def reject(
        request: Request[object, object, State], error: AuthError
    ) -> Response[dict[str, object]]:
        logger.info(
            "request refused: reason=%s status=%d path=%s",
            error.reason,
            error.status_code,
            request.url.path,
        )
        note_auth_failure(request.scope, error.reason)
        AUTH_REFUSALS.labels(error.reason, str(error.status_code)).inc()
        return Response(
            {"status_code": error.status_code, "detail": error.description},
            status_code=error.status_code,
            headers=error.headers(settings.realm),
        )

    observability: list[Any] = [AccessLogMiddleware()] if service.access_log else []
    metrics: list[ControllerRouterHandler] = []
    if service.metrics_path:
        observability.append(prometheus_config({{ cookiecutter.project_slug | tojson }}).middleware)
        metrics.append(
            metrics_controller(service.metrics_path, require_token=service.metrics_require_token)
        )
    return Litestar(
        route_handlers=[health, ready, protected, admin, *metrics, *route_handlers],
        middleware=[
            *observability,
            AuthRefusalMiddleware(reject),
            DefineMiddleware(
                BearerTokenMiddleware, verifier=verifier, exclude=settings.exclude_paths
            ),
        ],
        logging_config=None,
        exception_handlers={AuthError: reject},
        lifespan=[load_keys],
        dependencies={"key_set": Provide(lambda: keys, sync_to_thread=False)},
        openapi_config=OpenAPIConfig(
            title={{ cookiecutter.project_name | tojson }},
            version="0.1.0",
            security=[{"BearerToken": []}],
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
        ),
    )


class AuthRefusalMiddleware(ASGIMiddleware):
    """Answers an `AuthError` of the authentication middleware with `reject`, where it is raised.

    Litestar would answer it outside every middleware: the access log and the request metrics
    would record a 500 (or a 200) without the reason, and the response would lack its request id.
    Guards and handlers raise inside the route, where Litestar answers them within the middleware.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(
        self, reject: Callable[[Request[Any, Any, Any], AuthError], Response[Any]]
    ) -> None:
        self._reject = reject

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        try:
            await next_app(scope, receive, send)
        except AuthError as error:
            request: Request[Any, Any, Any] = Request(scope, receive, send)
            response = self._reject(request, error)
            await response.to_asgi_response(None, request)(scope, receive, send)


def _log_configuration(settings: AuthSettings) -> None:
    logger.info(
        "verifying tokens of issuer %s with %s; keys from %s",
        settings.issuer,
        ",".join(settings.algorithms),
        settings.jwks_url or "OpenID discovery",
    )
    if not settings.audience:
        logger.warning(
            "AUTH_AUDIENCE is empty: the audience (aud) of tokens is NOT checked, so any token "
            "from this issuer is accepted, whoever it was meant for. Set AUTH_AUDIENCE."
        )


def app_from_environment() -> Litestar:
    """The app as `serve` runs it: settings and logging from the environment, clear errors."""
    try:
        service = load_service_settings()
        configure_logging(service.log_format, service.log_level)
        return create_app(service=service)
    except SettingsError as exc:
        raise SystemExit(str(exc)) from None


app = app_from_environment()
