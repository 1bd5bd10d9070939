"""Litestar authentication middleware: `Authorization: Bearer|DPoP <JWT>` -> `request.user`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)

from .binding import SenderBinding
from .errors import AuthError, InvalidToken, MissingToken

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from litestar import Response
    from litestar.connection import ASGIConnection
    from litestar.types import ASGIApp, Receive, Scope, Send

    from .binding import Scheme
    from .principal import Principal
    from .verify import TokenVerifier

    Refuse = Callable[[Request[Any, Any, Any], AuthError], Response[Any]]

__all__ = ("BearerTokenMiddleware",)


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    """Authenticates every request that is not excluded; `refuse` answers the others."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: TokenVerifier,
        refuse: Refuse,
        exclude: Sequence[str] = (),
        binding: SenderBinding | None = None,
    ) -> None:
        """`binding` checks sender-constrained tokens; without it, every bound token is refused."""
        super().__init__(
            app, exclude=list(exclude) or None, exclude_from_auth_key="exclude_from_auth"
        )
        self.verifier = verifier
        self.refuse = refuse
        self.binding = binding or SenderBinding()
        self._offers_dpop = self.binding.offers_dpop
        self._check_every_token = self.binding.mode == "required"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Litestar's authentication, with two differences on the hot path of every request.

        - The token is verified straight from the ASGI scope; the per-request `ASGIConnection`
          that `authenticate_request` needs cost more than a cached verification.
        - An `AuthError` is answered here, inside the other middleware. Left to Litestar, it
          would be answered outside every middleware (litestar issue #4747): the access log and
          the request metrics would miss the refusal and its reason. Guards raise theirs inside
          the route, where the app's exception handler answers them.
        """
        if self._excluded(scope):
            await self.app(scope, receive, send)
            return
        try:
            # `_authenticate`, inlined: an extra coroutine costs a tenth of a cached verification.
            scheme, token = credentials(scope["headers"], dpop=self._offers_dpop)
            principal = await self.verifier.verify(token)
            if self._check_every_token or scheme == "dpop" or "cnf" in principal.claims:
                self.binding.check(scope, scheme, token, principal)
        except AuthError as error:
            request: Request[Any, Any, Any] = Request(scope, receive, send)
            response = self.refuse(request, error)
            await response.to_asgi_response(None, request)(scope, receive, send)
            return
        scope["user"] = principal
        scope["auth"] = principal.claims
        await self.app(scope, receive, send)

    def _excluded(self, scope: Scope) -> bool:
        """Whether the request goes through unauthenticated, by Litestar's rules for this middleware.

        Other scope types, a route with `exclude_from_auth=True`, `OPTIONS` (CORS preflights) and
        the paths of `AUTH_EXCLUDE_PATHS` (a mount is matched on its raw path, as Litestar does).
        """
        if scope["type"] not in self.scopes:
            return True
        handler = scope.get("route_handler")
        if handler is not None and handler.opt.get(self.exclude_opt_key):
            return True
        if scope.get("method") in self.exclude_http_methods:
            return True
        if self.exclude is None:
            return False
        path = scope["raw_path"].decode() if getattr(handler, "is_mount", False) else scope["path"]
        return self.exclude.search(path) is not None

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """The same verification, through Litestar's interface: the principal and its claims.

        Raises:
            MissingToken: no `Authorization: Bearer` header.
            InvalidToken: a malformed header or a refused token.
            KeysUnavailable: the issuer's keys could not be loaded.
        """
        principal = await self._authenticate(connection.scope)
        return AuthenticationResult(user=principal, auth=principal.claims)

    async def _authenticate(self, scope: Scope) -> Principal:
        """Verify the token, then what its `cnf` binds it to (the proof on every request)."""
        scheme, token = credentials(scope["headers"], dpop=self.binding.offers_dpop)
        principal = await self.verifier.verify(token)
        self.binding.check(scope, scheme, token, principal)
        return principal


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The token of the one `Authorization: Bearer <token>` header (RFC 6750 section 2.1)."""
    return credentials(headers, dpop=False)[1]


def credentials(headers: Iterable[tuple[bytes, bytes]], *, dpop: bool) -> tuple[Scheme, str]:
    """The scheme and token of the one `Authorization` header: `Bearer`, or `DPoP` if offered.

    Reads the ASGI scope's raw headers: building Litestar's `Headers` would cost more than
    the rest of a cached verification.
    """
    values = [value for name, value in headers if name.lower() == b"authorization"]
    if not values:
        raise MissingToken("no_authorization_header")
    if len(values) > 1:
        raise InvalidToken("several_authorization_headers")
    scheme_name, _, token = values[0].decode("latin-1").partition(" ")
    scheme = scheme_name.lower()
    if scheme != "bearer" and not (dpop and scheme == "dpop"):
        raise MissingToken("not_bearer_scheme")
    token = token.strip()
    if not token or " " in token:
        raise InvalidToken("malformed_authorization_header")
    return ("dpop" if scheme == "dpop" else "bearer"), token


def authorization_scheme(headers: Iterable[tuple[bytes, bytes]]) -> Scheme | None:
    """Which scheme the request's `Authorization` header names, for the refusal's challenge."""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme = value.partition(b" ")[0].lower()
            return "dpop" if scheme == b"dpop" else "bearer" if scheme == b"bearer" else None
    return None
