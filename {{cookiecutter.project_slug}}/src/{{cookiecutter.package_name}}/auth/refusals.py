"""How a refused request is answered: one JSON error shape, RFC 6750 headers, a log line."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from litestar import Request, Response

from .middleware import authorization_scheme

if TYPE_CHECKING:
    from .binding import SenderBinding
    from .errors import AuthError

__all__ = ("REFUSAL_REASON_KEY", "RefusalHandler")

logger = logging.getLogger(__name__)

REFUSAL_REASON_KEY: Final = "auth_failure_reason"
"""Where a refusal's reason code is kept in `scope["state"]`, for access logs and metrics."""


class RefusalHandler:
    """Turns an `AuthError` into its response; also the app's exception handler for guards."""

    def __init__(self, realm: str, binding: SenderBinding | None = None) -> None:
        """`binding` adds the DPoP challenge where DPoP is offered."""
        self._realm = realm
        self._binding = binding

    def __call__(self, request: Request[Any, Any, Any], error: AuthError) -> Response[Any]:
        # DEBUG: the access line already carries the reason; this one costs time under attack.
        logger.debug(
            "request refused: reason=%s status=%d path=%s",
            error.reason,
            error.status_code,
            # Not `request.url`: it is built from the Host header, which a client can make
            # unparsable (`x:65536`), and the refusal would become a 500.
            request.scope["path"],
        )
        request.scope.setdefault("state", {})[REFUSAL_REASON_KEY] = error.reason
        headers = error.headers(self._realm)
        if self._binding is not None:
            scheme = authorization_scheme(request.scope["headers"])
            headers["WWW-Authenticate"] = self._binding.www_authenticate(error, self._realm, scheme)
        return Response(
            {"status_code": error.status_code, "detail": error.description},
            status_code=error.status_code,
            headers=headers,
        )
