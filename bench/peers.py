"""The peers our service is measured against: one trivial handler behind different authentication.

uvicorn imports `peers:app`; `BENCH_PEER` picks the peer. Each is written the way its own
documentation shows it, verifying the same claims our service verifies (signature, `exp`,
`iss`, `aud`):

- `baseline`: no authentication at all (the route every ratio is taken against).
- `ceiling`: Litestar's `AbstractAuthenticationMiddleware` that reads the header, verifies nothing.
- `pyjwt-jwks`: PyJWT's `PyJWKClient.get_signing_key_from_jwt`, then `jwt.decode`.
- `litestar-jwt`: Litestar's built-in `JWTAuth` with the issuer's public key as a static PEM.
- `tutorial`: python-jose as the common tutorials show it: JWKS fetched once at start-up, the key
  rebuilt from the JWK dict on every request (made to run: no JWKS fetch per request).
- `signature-only`: no authentication middleware and no claims; the handler checks the token's
  RS256 signature with a prebuilt python-jose key. Not a verifier: the floor, what any RS256
  verifier pays on this machine before doing anything else.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.request
from pathlib import Path
from typing import Any, ClassVar

import jwt as pyjwt
from jose import jwk
from jose import jwt as jose_jwt
from jose.exceptions import JOSEError
from litestar import Litestar, Request, get
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import DefineMiddleware
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)
from litestar.security.jwt import JWTAuth, Token

PEER = os.environ["BENCH_PEER"]
ISSUER = os.environ["BENCH_ISSUER"]
AUDIENCE = os.environ["BENCH_AUDIENCE"]
JWKS_URL = os.environ["BENCH_JWKS_URL"]
PUBLIC_PEM = os.environ["BENCH_PUBLIC_PEM"]


def bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """Return the token of `Authorization: Bearer <token>`, or raise 401."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthorizedException("bearer token required")
    return token


def describe(user: Any) -> dict[str, Any]:  # noqa: ANN401 - claims dict or Litestar Token
    """Describe the user as the handler returns it (the same shape as our /protected)."""
    if isinstance(user, Token):
        subject, scope = user.sub, user.extras.get("scope", "")
    else:
        subject, scope = user["sub"], user.get("scope", "")
    return {"subject": subject, "scopes": sorted(scope.split())}


@get("/health", exclude_from_auth=True, sync_to_thread=False)
def health() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}


@get("/protected", sync_to_thread=False)
def protected(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Answer a small JSON about the authenticated user (the trivial handler)."""
    return {"message": "Access granted", "user": describe(request.user)}


@get("/protected", sync_to_thread=False, name="open")
def unprotected(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Answer the same with no authentication (the baseline).

    It takes the request like the authenticated handler, so the ratios measure authentication
    and not the handler's signature.
    """
    return {"message": "Access granted", "user": {"subject": "anonymous", "scopes": []}}


@get("/protected", sync_to_thread=False, name="signature-only")
def signature_only(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Check the bearer token's signature, nothing else (the floor), and answer like the others."""
    token = dict(request.scope["headers"])[b"authorization"].partition(b" ")[2]
    signing_input, _, signature = token.rpartition(b".")
    signature += b"=" * (-len(signature) % 4)
    if not request.app.state.key.verify(signing_input, base64.urlsafe_b64decode(signature)):
        raise NotAuthorizedException("bad signature")
    return {"message": "Access granted", "user": {"subject": "anonymous", "scopes": []}}


class CeilingMiddleware(AbstractAuthenticationMiddleware):
    """Litestar's authentication middleware verifying nothing: the most a verifier can keep."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """Accept any bearer token."""
        bearer(connection)
        return AuthenticationResult(user={"sub": "anonymous"}, auth=None)


class PyJWKClientMiddleware(AbstractAuthenticationMiddleware):
    """PyJWT's documented JWKS usage inside a Litestar authentication middleware."""

    jwks_client = pyjwt.PyJWKClient(JWKS_URL)

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """`get_signing_key_from_jwt`, then `jwt.decode` with issuer and audience."""
        token = bearer(connection)
        try:
            signing_key = self.jwks_client.get_signing_key_from_jwt(token)
            claims = pyjwt.decode(
                token, signing_key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER
            )
        except pyjwt.PyJWTError as exc:
            raise NotAuthorizedException(str(exc)) from None
        return AuthenticationResult(user=claims, auth=token)


class TutorialMiddleware(AbstractAuthenticationMiddleware):
    """The python-jose tutorial: find the JWK by `kid`, rebuild `rsa_key`, `jwt.decode`."""

    jwks: ClassVar[dict[str, Any]] = {}

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """Build the key from the JWK dict on every request, as the tutorials do."""
        token = bearer(connection)
        try:
            unverified_header = jose_jwt.get_unverified_header(token)
            rsa_key = {}
            for key in self.jwks["keys"]:
                if key["kid"] == unverified_header["kid"]:
                    rsa_key = {
                        "kty": key["kty"],
                        "kid": key["kid"],
                        "use": key["use"],
                        "n": key["n"],
                        "e": key["e"],
                    }
            if not rsa_key:
                raise NotAuthorizedException("unable to find appropriate key")
            claims = jose_jwt.decode(
                token, rsa_key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER
            )
        except JOSEError as exc:
            raise NotAuthorizedException(str(exc)) from None
        return AuthenticationResult(user=claims, auth=token)


def load_tutorial_jwks(_: Litestar) -> None:
    """Fetch the JWKS with urlopen as the tutorials do; here once, at start-up."""
    with urllib.request.urlopen(JWKS_URL, timeout=10) as response:  # noqa: S310 - loopback
        TutorialMiddleware.jwks = json.loads(response.read())


async def retrieve_user(token: Token, _connection: ASGIConnection[Any, Any, Any, Any]) -> Token:
    """JWTAuth's user lookup: the token itself is the user."""
    return token


def create(peer: str) -> Litestar:
    """Build the Litestar app of one peer."""
    if peer == "baseline":
        return Litestar(route_handlers=[health, unprotected])
    if peer == "signature-only":
        key = jwk.construct(Path(PUBLIC_PEM).read_text(), "RS256")
        return Litestar(route_handlers=[health, signature_only], state=State({"key": key}))
    if peer == "litestar-jwt":
        jwt_auth = JWTAuth[Token](
            retrieve_user_handler=retrieve_user,
            token_secret=Path(PUBLIC_PEM).read_text(),
            algorithm="RS256",
            accepted_audiences=[AUDIENCE],
            accepted_issuers=[ISSUER],
        )
        return Litestar(route_handlers=[health, protected], on_app_init=[jwt_auth.on_app_init])
    middleware = {
        "ceiling": CeilingMiddleware,
        "pyjwt-jwks": PyJWKClientMiddleware,
        "tutorial": TutorialMiddleware,
    }[peer]
    return Litestar(
        route_handlers=[health, protected],
        middleware=[DefineMiddleware(middleware)],
        on_startup=[load_tutorial_jwks] if peer == "tutorial" else [],
    )


app = create(PEER)
