"""How a refused request is answered: one JSON error shape, RFC 6750 headers, a log line."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from litestar import Request, Response

from .guards import required_scopes
from .middleware import authorization_scheme

if TYPE_CHECKING:
    from .binding import SenderBinding
    from .errors import AuthError

__all__ = ("REFUSAL_REASON_KEY", "RefusalHandler")

logger = logging.getLogger(__name__)

REFUSAL_REASON_KEY: Final = "auth_failure_reason"
"""Where a refusal's reason code is kept in `scope["state"]`, for access logs and metrics."""


class RefusalHandler:
    """Turns an `AuthError` into its response; also the app's exception handler for guards.

    Challenges name the `scope` that the route's scope guards require (RFC 6750 section 3) and,
    when given, the `resource_metadata` URL (RFC 9728 section 5.1); `binding` adds the DPoP
    challenge where DPoP is offered (RFC 9449 section 7.1).
    """

    def __init__(
        self,
        realm: str,
        resource_metadata: str | None = None,
        binding: SenderBinding | None = None,
    ) -> None:
        self._realm = realm
        self._resource_metadata = resource_metadata
        self._binding = binding
        self._scopes: dict[int, str] = {}

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
        params = self._challenge_params(request)
        headers = error.headers(self._realm, **params)
        if self._binding is not None:
            scheme = authorization_scheme(request.scope["headers"])
            headers["WWW-Authenticate"] = self._binding.www_authenticate(
                error, self._realm, scheme, **params
            )
        return Response(
            {"status_code": error.status_code, "detail": error.description},
            status_code=error.status_code,
            headers=headers,
        )

    def _challenge_params(self, request: Request[Any, Any, Any]) -> dict[str, str]:
        params = {}
        # Refusals under attack come fast: the scopes of each route are gathered once.
        handler = request.scope.get("route_handler")
        scope = self._scopes.get(id(handler))
        if scope is None:
            scope = self._scopes[id(handler)] = " ".join(sorted(required_scopes(handler)))
        if scope:
            params["scope"] = scope
        if self._resource_metadata is not None:
            params["resource_metadata"] = self._resource_metadata
        return params
