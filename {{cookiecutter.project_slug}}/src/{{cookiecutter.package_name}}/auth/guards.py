"""Route guards for authorization by scope or role."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import InsufficientRole, InsufficientScope, MissingToken
from .principal import Principal

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler
    from litestar.types import Guard

__all__ = ("requires_roles", "requires_scopes")


def requires_scopes(*scopes: str) -> Guard:
    """A guard that lets a request through only if its token carries every one of `scopes`."""
    required = frozenset(scopes)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if not required <= principal_of(connection).scopes:
            raise InsufficientScope(required)

    return guard


def requires_roles(*roles: str) -> Guard:
    """A guard that lets a request through only if its token carries every one of `roles`."""
    required = frozenset(roles)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if not required <= principal_of(connection).roles:
            raise InsufficientRole(required)

    return guard


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The request's principal.

    Raises:
        MissingToken: the route is excluded from authentication, so there is none; a guard
            then refuses with 401 rather than let Litestar fail with a 500.
    """
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):
        raise MissingToken("guarded_route_not_authenticated")
    return principal
