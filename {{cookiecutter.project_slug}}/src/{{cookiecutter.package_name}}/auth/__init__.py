"""Bearer-token authentication against trusted issuers' JWKS, as a Litestar plugin."""

from .errors import (
    AuthError,
    ExpiredToken,
    InsufficientRole,
    InsufficientScope,
    InvalidToken,
    KeysUnavailable,
    MissingToken,
)
from .guards import requires_roles, requires_scopes
from .issuers import Issuer, IssuerRegistry
from .keys import KeySet
from .plugin import JWKSAuth
from .principal import Principal
from .refusals import refusal_reason
from .settings import AuthSettings, IssuerSettings, SettingsError, load_auth_settings
from .verify import TokenVerifier

__all__ = (
    "AuthError",
    "AuthSettings",
    "ExpiredToken",
    "InsufficientRole",
    "InsufficientScope",
    "InvalidToken",
    "Issuer",
    "IssuerRegistry",
    "IssuerSettings",
    "JWKSAuth",
    "KeySet",
    "KeysUnavailable",
    "MissingToken",
    "Principal",
    "SettingsError",
    "TokenVerifier",
    "load_auth_settings",
    "refusal_reason",
    "requires_roles",
    "requires_scopes",
)
