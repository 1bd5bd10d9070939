"""Bearer-token authentication against the issuer's JWKS."""

from .errors import (
    AuthError,
    ExpiredToken,
    InsufficientScope,
    InvalidToken,
    KeysUnavailable,
    MissingToken,
)
from .guards import requires_scopes
from .keys import KeySet
from .middleware import BearerTokenMiddleware
from .verify import Principal, TokenVerifier

__all__ = (
    "AuthError",
    "BearerTokenMiddleware",
    "ExpiredToken",
    "InsufficientScope",
    "InvalidToken",
    "KeySet",
    "KeysUnavailable",
    "MissingToken",
    "Principal",
    "TokenVerifier",
    "requires_scopes",
)
