"""`JWKSAuth`: the Litestar plugin that puts token verification in front of every route."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from copy import copy
from typing import TYPE_CHECKING

from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import InitPluginProtocol

from .binding import SenderBinding
from .errors import AuthError
from .issuers import IssuerRegistry
from .metadata import metadata_document, metadata_router, scopes_supported
from .middleware import BearerTokenMiddleware
from .openapi import document_authentication
from .refusals import RefusalHandler
from .resource import metadata_url
from .verify import TokenVerifier

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from typing import Any

    import httpx
    from litestar import Litestar
    from litestar.config.app import AppConfig

    from .settings import AuthSettings

__all__ = ("SECURITY_SCHEME", "JWKSAuth")

logger = logging.getLogger(__name__)

SECURITY_SCHEME = "BearerToken"


class JWKSAuth(InitPluginProtocol):
    """Verifies every request's bearer token against the trusted issuers' JWKS.

    `on_app_init` adds the authentication middleware, the lifespan that loads the issuers'
    keys, the handler that answers refusals (guards' included), the OpenAPI security scheme
    with each operation's refusals, the `issuers` dependency (the `IssuerRegistry`, for
    readiness checks) and, with `AUTH_RESOURCE` set, the protected resource metadata routes.
    """

    def __init__(
        self, settings: AuthSettings, *, jwks_transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        """`jwks_transport` replaces the network for the key fetches (tests use `httpx.MockTransport`)."""
        self.settings = settings
        self.issuers = IssuerRegistry.from_settings(settings, transport=jwks_transport)
        self.verifier = TokenVerifier(settings, self.issuers)
        self.binding = SenderBinding.from_settings(settings)
        self._metadata: dict[str, Any] | None = None

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Wire authentication into the app being built."""
        resource = self.settings.resource
        refuse = RefusalHandler(
            self.settings.realm, metadata_url(resource) if resource else None, self.binding
        )
        app_config.middleware.append(
            DefineMiddleware(
                BearerTokenMiddleware,
                verifier=self.verifier,
                refuse=refuse,
                exclude=self.settings.exclusion_patterns(),
                binding=self.binding,
            )
        )
        app_config.exception_handlers[AuthError] = refuse
        app_config.lifespan.append(self._load_keys)
        app_config.dependencies["issuers"] = Provide(lambda: self.issuers, sync_to_thread=False)
        app_config.on_startup.append(self._describe)
        if resource:
            app_config.route_handlers.append(metadata_router(resource, self.metadata))
        if app_config.openapi_config is not None:
            openapi = app_config.openapi_config = copy(app_config.openapi_config)
            scheme = SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
            components = openapi.components
            others = components if isinstance(components, list) else [components]
            openapi.components = [Components(security_schemes={SECURITY_SCHEME: scheme}), *others]
        return app_config

    def metadata(self, app: Litestar) -> dict[str, Any]:
        """The protected resource metadata, with the scopes that `app`'s routes require."""
        if self._metadata is None:
            self._metadata = metadata_document(self.settings, scopes_supported(app))
        return self._metadata

    def _describe(self, app: Litestar) -> None:
        """Once the routes are known: the metadata's scopes, and each operation's security."""
        if self.settings.resource:
            self.metadata(app)
        if app.openapi_config is not None:
            document_authentication(
                app.openapi_schema,
                app.routes,
                SECURITY_SCHEME,
                self.settings.exclusion_patterns(),
            )

    @asynccontextmanager
    async def _load_keys(self, _: Litestar) -> AsyncIterator[None]:
        for entry in self.settings.issuer_entries():
            logger.info(
                "trusting issuer %s (profile %s) with %s; keys from %s",
                entry.issuer,
                entry.profile,
                ",".join(entry.allowed_algorithms),
                entry.jwks_url or "OpenID discovery",
            )
            if not entry.audience and not self.settings.resource:
                logger.warning(
                    "no audience is set for issuer %s: the audience (aud) of its tokens is NOT "
                    "checked, so any token it issued is accepted, whoever it was meant for. "
                    "Set AUTH_AUDIENCE (or the entry's audience).",
                    entry.issuer,
                )
        async with self.issuers:
            yield
