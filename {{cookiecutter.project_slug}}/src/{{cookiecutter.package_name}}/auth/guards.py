"""Route guards for authorization by scope."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import InsufficientScope

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler
    from litestar.types import Guard

    from .verify import Principal

__all__ = ("requires_scopes",)


def requires_scopes(*scopes: str) -> Guard:
    """A guard that lets a request through only if its token carries every one of `scopes`."""
    required = frozenset(scopes)

    def guard(connection: ASGIConnection[Any, Principal, Any, Any], _: BaseRouteHandler) -> None:
        if not required <= connection.user.scopes:
            raise InsufficientScope(required)

    return guard
