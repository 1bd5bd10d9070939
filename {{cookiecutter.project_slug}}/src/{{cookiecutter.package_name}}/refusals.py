"""How a refused request is answered: one JSON error shape, RFC 6750 headers, a log line, a metric."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from litestar import Request, Response
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware

from .auth import AuthError
from .logs import note_auth_failure
from .metrics import AUTH_REFUSALS

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

__all__ = ("AuthRefusalMiddleware", "RefusalHandler")

logger = logging.getLogger(__name__)


class RefusalHandler:
    """Turns an `AuthError` into its response; the app's exception handler for guards too."""

    def __init__(self, realm: str) -> None:
        self._realm = realm

    def __call__(self, request: Request[Any, Any, Any], error: AuthError) -> Response[Any]:
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
            headers=error.headers(self._realm),
        )


class AuthRefusalMiddleware(ASGIMiddleware):
    """Answers an `AuthError` of the authentication middleware where it is raised.

    Litestar would answer it outside every middleware (litestar issue #4747): the access log and
    the request metrics would record a 500 (or a 200) without the reason, and the response would
    lack its request id. Guards raise inside the route, where the app's exception handler answers.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(self, handler: RefusalHandler) -> None:
        self._handler = handler

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        try:
            await next_app(scope, receive, send)
        except AuthError as error:
            request: Request[Any, Any, Any] = Request(scope, receive, send)
            response = self._handler(request, error)
            await response.to_asgi_response(None, request)(scope, receive, send)
