"""Route guards for authorization by scope or role."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import InsufficientRole, InsufficientScope, MissingToken
from .principal import Principal

if TYPE_CHECKING:
    from collections.abc import Iterable

    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler

__all__ = (
    "RoleGuard",
    "ScopeGuard",
    "is_guarded",
    "required_scopes",
    "requires_roles",
    "requires_scopes",
    "route_guards",
)


class ScopeGuard:
    """Lets a request through only if its token carries every one of `required` scopes.

    The scopes are kept on the guard so that the plugin can read them off the routes: for the
    `scope` of challenges and the `scopes_supported` of the protected resource metadata.
    """

    def __init__(self, scopes: Iterable[str]) -> None:
        self.required = frozenset(scopes)

    def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if not self.required <= principal_of(connection).scopes:
            raise InsufficientScope(self.required)


class RoleGuard:
    """Lets a request through only if its token carries every one of `required` roles."""

    def __init__(self, roles: Iterable[str]) -> None:
        self.required = frozenset(roles)

    def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if not self.required <= principal_of(connection).roles:
            raise InsufficientRole(self.required)


def requires_scopes(*scopes: str) -> ScopeGuard:
    """A guard that lets a request through only if its token carries every one of `scopes`."""
    return ScopeGuard(scopes)


def requires_roles(*roles: str) -> RoleGuard:
    """A guard that lets a request through only if its token carries every one of `roles`."""
    return RoleGuard(roles)


def route_guards(route_handler: object) -> list[object]:
    """The guards of `route_handler` and of its layers, as declared.

    `resolve_guards()` would wrap each one (into an async callable) and hide its type.
    """
    layers = getattr(route_handler, "ownership_layers", ())
    return [guard for layer in layers for guard in (getattr(layer, "guards", None) or ())]


def required_scopes(route_handler: object) -> frozenset[str]:
    """Every scope the scope guards of `route_handler` (and of its layers) require."""
    return frozenset().union(
        *(guard.required for guard in route_guards(route_handler) if isinstance(guard, ScopeGuard))
    )


def is_guarded(route_handler: object) -> bool:
    """Whether `route_handler` has a scope or role guard, so that it may answer 403."""
    return any(isinstance(guard, ScopeGuard | RoleGuard) for guard in route_guards(route_handler))


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
