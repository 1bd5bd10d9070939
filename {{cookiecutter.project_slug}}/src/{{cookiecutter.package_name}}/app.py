"""The Litestar application: `create_app()` builds it, `app` is what uvicorn serves."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from .auth import AuthError, BearerTokenMiddleware, KeySet, TokenVerifier
from .logs import configure_logging
from .observability import Observability
from .refusals import RefusalHandler
from .routes import admin, health, protected, ready
from .settings import (
    AuthSettings,
    ServiceSettings,
    SettingsError,
    load_service_settings,
    load_settings,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    import httpx
    from litestar.types import ControllerRouterHandler

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

    @asynccontextmanager
    async def load_keys(_: Litestar) -> AsyncIterator[None]:
        _log_configuration(settings)
        async with keys:
            yield

    reject = RefusalHandler(settings.realm)

    return Litestar(
        route_handlers=[health, ready, protected, admin, *route_handlers],
        middleware=[
            DefineMiddleware(
                BearerTokenMiddleware,
                verifier=verifier,
                refuse=reject,
                exclude=settings.exclude_paths,
            ),
        ],
        logging_config=None,
        exception_handlers={AuthError: reject},
        lifespan=[load_keys],
        plugins=[Observability(service, keys, {{ cookiecutter.project_slug | tojson }})],
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
