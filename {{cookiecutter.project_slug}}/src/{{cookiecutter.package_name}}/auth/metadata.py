"""The protected resource metadata document (RFC 9728) and the public routes that serve it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from litestar import Request, Response, Router, get, route
from litestar.enums import HttpMethod
from litestar.routes import HTTPRoute

from .guards import required_scopes
from .profiles import TENANT_PLACEHOLDER
from .resource import metadata_paths

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from litestar import Litestar

    from .settings import AuthSettings

__all__ = ("SCOPES_OPT", "metadata_document", "metadata_router", "scopes_supported")

SCOPES_OPT: Final = "scopes_supported"
"""A route's `opt` key listing scopes it may ask for beyond its guards' (an MCP tool's, say)."""
# Browser-based clients (MCP inspectors, SPAs) read the document from another origin.
CORS_HEADERS: Final = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET",
    "Access-Control-Allow-Headers": "*",
    "Access-Control-Max-Age": "86400",
}


def scopes_supported(app: Litestar) -> list[str]:
    """Every scope a route of `app` requires (its scope guards) or declares (`SCOPES_OPT`)."""
    found: set[str] = set()
    for app_route in app.routes:
        # An HTTP route holds one handler per method; ASGI and websocket routes hold one.
        handlers = (
            app_route.route_handlers
            if isinstance(app_route, HTTPRoute)
            else [getattr(app_route, "route_handler", None)]
        )
        for handler in handlers:
            found |= required_scopes(handler)
            found.update(getattr(handler, "opt", {}).get(SCOPES_OPT, ()))
    return sorted(found)


def authorization_servers(settings: AuthSettings) -> list[str]:
    """The issuers a client may get a token from; a `{tenantid}` template, once per tenant."""
    servers: list[str] = []
    for entry in settings.issuer_entries():
        if TENANT_PLACEHOLDER in entry.issuer:
            servers.extend(entry.issuer.replace(TENANT_PLACEHOLDER, t) for t in entry.tenants)
        else:
            servers.append(entry.issuer)
    return list(dict.fromkeys(servers))


def metadata_document(settings: AuthSettings, scopes: Iterable[str]) -> dict[str, Any]:
    """The metadata of the resource `settings.resource` names (RFC 9728 section 2)."""
    algorithms = dict.fromkeys(
        name for entry in settings.issuer_entries() for name in entry.allowed_algorithms
    )
    return {
        "resource": settings.resource,
        "authorization_servers": authorization_servers(settings),
        "scopes_supported": list(scopes),
        "bearer_methods_supported": ["header"],
        "resource_name": settings.resource_name,
        # Not an RFC 9728 member (its `resource_signing_alg_values_supported` is about signed
        # responses): which signatures the tokens this service accepts may carry.
        "access_token_signing_alg_values_supported": list(algorithms),
    }


def metadata_router(resource: str, document: Callable[[Litestar], dict[str, Any]]) -> Router:
    """Public `GET` (and CORS preflight) routes serving `document(app)` at the metadata paths."""

    @get(
        list(metadata_paths(resource)),
        exclude_from_auth=True,
        sync_to_thread=False,
        summary="Protected resource metadata (RFC 9728)",
        response_headers={"Access-Control-Allow-Origin": "*"},
    )
    def protected_resource_metadata(request: Request[Any, Any, Any]) -> dict[str, Any]:
        return document(request.app)

    @route(
        list(metadata_paths(resource)),
        http_method=HttpMethod.OPTIONS,
        exclude_from_auth=True,
        include_in_schema=False,
        sync_to_thread=False,
    )
    def preflight() -> Response[None]:
        return Response(None, status_code=204, headers=CORS_HEADERS)

    # The preflight first: registered after the GET, it would lose to Litestar's own OPTIONS.
    return Router("/", route_handlers=[preflight, protected_resource_metadata])
