"""Litestar authentication middleware: `Authorization: Bearer <JWT>` -> `request.user`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)

from .errors import InvalidToken, MissingToken

if TYPE_CHECKING:
    from collections.abc import Sequence

    from litestar.connection import ASGIConnection
    from litestar.types import ASGIApp

    from .verify import TokenVerifier

__all__ = ("BearerTokenMiddleware",)


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    """Authenticates every request that is not excluded, or raises an `AuthError`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: TokenVerifier,
        exclude: Sequence[str] = (),
    ) -> None:
        super().__init__(
            app, exclude=list(exclude) or None, exclude_from_auth_key="exclude_from_auth"
        )
        self.verifier = verifier

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """Verify the bearer token: the principal becomes `request.user`, its claims `request.auth`.

        Raises:
            MissingToken: no `Authorization: Bearer` header.
            InvalidToken: a malformed header or a refused token.
            KeysUnavailable: the issuer's keys could not be loaded.
        """
        principal = await self.verifier.verify(
            bearer_token(connection.headers.getall("authorization", []))
        )
        return AuthenticationResult(user=principal, auth=principal.claims)


def bearer_token(values: Sequence[str]) -> str:
    """The token of the one `Authorization: Bearer <token>` header (RFC 6750 section 2.1)."""
    if not values:
        raise MissingToken("no_authorization_header")
    if len(values) > 1:
        raise InvalidToken("several_authorization_headers")
    scheme, _, token = values[0].partition(" ")
    if scheme.lower() != "bearer":
        raise MissingToken("not_bearer_scheme")
    token = token.strip()
    if not token or " " in token:
        raise InvalidToken("malformed_authorization_header")
    return token
