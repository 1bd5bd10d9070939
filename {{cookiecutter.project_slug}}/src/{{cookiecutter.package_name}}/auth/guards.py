"""Route guards for authorization by scope."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import InsufficientScope, MissingToken
from .verify import Principal

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler
    from litestar.types import Guard

__all__ = ("requires_scopes",)


def requires_scopes(*scopes: str) -> Guard:
    """A guard that lets a request through only if its token carries every one of `scopes`.

    On a route excluded from authentication there is no principal: the guard then refuses with
    401, as if the token were missing, rather than let Litestar fail with a 500.
    """
    required = frozenset(scopes)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = connection.scope.get("user")
        if not isinstance(principal, Principal):
            raise MissingToken("guarded_route_not_authenticated")
        if not required <= principal.scopes:
            raise InsufficientScope(required)

    return guard
