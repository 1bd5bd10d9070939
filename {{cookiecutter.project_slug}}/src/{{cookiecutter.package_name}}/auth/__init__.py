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
from .refusals import REFUSAL_REASON_KEY
from .settings import AuthSettings, IssuerSettings, SettingsError, load_auth_settings
from .verify import TokenVerifier

__all__ = (
    "REFUSAL_REASON_KEY",
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
    "requires_roles",
    "requires_scopes",
)
