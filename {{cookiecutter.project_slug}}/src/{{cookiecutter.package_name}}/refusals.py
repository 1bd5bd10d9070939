"""How a refused request is answered: one JSON error shape, RFC 6750 headers, a log line."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from litestar import Request, Response

from .logs import note_auth_failure

if TYPE_CHECKING:
    from .auth import AuthError

__all__ = ("RefusalHandler",)

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
            # Not `request.url`: it is built from the Host header, which a client can make
            # unparsable (`x:65536`), and the refusal would become a 500.
            request.scope["path"],
        )
        note_auth_failure(request.scope, error.reason)
        return Response(
            {"status_code": error.status_code, "detail": error.description},
            status_code=error.status_code,
            headers=error.headers(self._realm),
        )
