"""The OpenAPI operations, per route: who needs a token, and the 401, 403 and 503 answers."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from litestar.openapi.spec import OpenAPIHeader, OpenAPIMediaType, OpenAPIResponse, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.routes import HTTPRoute

from .guards import is_guarded

if TYPE_CHECKING:
    from collections.abc import Sequence

    from litestar.handlers import HTTPRouteHandler
    from litestar.openapi.spec import OpenAPI

__all__ = ("document_authentication",)

STRING: Final = Schema(type=OpenAPIType.STRING)
ERROR_BODY: Final = {
    "application/json": OpenAPIMediaType(
        schema=Schema(
            type=OpenAPIType.OBJECT,
            required=["status_code", "detail"],
            properties={
                "status_code": Schema(type=OpenAPIType.INTEGER),
                "detail": STRING,
            },
        )
    )
}
CHALLENGE: Final = OpenAPIHeader(
    schema=STRING,
    description="An RFC 6750 Bearer challenge: realm, error, scope, resource_metadata.",
)
REFUSALS: Final = {
    "401": OpenAPIResponse(
        description="No token, or a token that is invalid, expired or meant for another service.",
        headers={"WWW-Authenticate": CHALLENGE},
        content=ERROR_BODY,
    ),
    "503": OpenAPIResponse(
        description="The issuer's signing keys could not be loaded; try again later.",
        headers={
            "WWW-Authenticate": CHALLENGE,
            "Retry-After": OpenAPIHeader(schema=Schema(type=OpenAPIType.INTEGER)),
        },
        content=ERROR_BODY,
    ),
}
FORBIDDEN: Final = OpenAPIResponse(
    description="A valid token that lacks a scope or role the route needs.",
    headers={"WWW-Authenticate": CHALLENGE},
    content=ERROR_BODY,
)


def document_authentication(
    openapi: OpenAPI,
    routes: Sequence[object],
    scheme: str,
    exclusion_patterns: Sequence[str],
) -> None:
    """Give each authenticated operation the security requirement and its refusals.

    Routes that need no token (excluded from authentication, or by an excluded path) keep no
    security requirement, so clients and tools do not send a token there.
    """
    patterns = [re.compile(pattern) for pattern in exclusion_patterns]
    for route in routes:
        if not isinstance(route, HTTPRoute) or any(p.search(route.path) for p in patterns):
            continue
        path_item = (openapi.paths or {}).get(route.path_format or "/")
        if path_item is None:
            continue
        for handler in route.route_handlers:
            if handler.opt.get("exclude_from_auth"):
                continue
            for method in _methods(handler):
                operation = getattr(path_item, method, None)
                if operation is None:
                    continue
                operation.security = [{scheme: []}]
                responses = operation.responses = dict(operation.responses or {})
                responses.update(REFUSALS)
                if is_guarded(handler):
                    responses["403"] = FORBIDDEN


def _methods(handler: HTTPRouteHandler) -> list[str]:
    # OPTIONS is never authenticated (CORS preflights carry no credentials).
    return [method.lower() for method in handler.http_methods if method != "OPTIONS"]
