"""One exception type per authentication outcome, each knowing its status and RFC 6750 challenge."""

from __future__ import annotations

from typing import ClassVar

__all__ = (
    "AuthError",
    "DPoPKeyMismatch",
    "DPoPRequired",
    "ExpiredToken",
    "InsufficientRole",
    "InsufficientScope",
    "InvalidDPoPProof",
    "InvalidToken",
    "KeysUnavailable",
    "MissingToken",
    "UseDPoPNonce",
)


class AuthError(Exception):
    """A request that cannot be let through. `reason` is a code for logs, never shown to clients."""

    status_code: ClassVar[int] = 401
    error: ClassVar[str | None] = None
    description: ClassVar[str] = "Authentication is required."
    dpop: ClassVar[bool] = False
    """Whether the client must answer with DPoP: the refusal then carries a DPoP challenge."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def challenge(self, realm: str, **params: str) -> str:
        """The `WWW-Authenticate` value (RFC 6750 section 3), with `params` (`scope`, ...) added.

        Parameters with an empty value are left out.
        """
        parts = [f'Bearer realm="{realm}"']
        if self.error:
            parts.append(f'error="{self.error}"')
            parts.append(f'error_description="{self.description}"')
        parts.extend(f'{name}="{value}"' for name, value in params.items() if value)
        return ", ".join(parts)

    def headers(self, realm: str, **params: str) -> dict[str, str]:
        """Response headers for this outcome; `params` go into the challenge."""
        return {"WWW-Authenticate": self.challenge(realm, **params)}

    def dpop_challenge(self, realm: str, algorithms: str, **params: str) -> str:
        """The same challenge for the DPoP scheme, naming the proof algorithms (RFC 9449 7.1)."""
        bearer = self.challenge(realm, **params).removeprefix("Bearer ")
        return f'DPoP {bearer}, algs="{algorithms}"'


class MissingToken(AuthError):
    """No bearer token: the client may not know that authentication is needed (no error code)."""


class InvalidToken(AuthError):
    """The token is malformed, forged, expired or not meant for this service."""

    error = "invalid_token"
    description = "The access token is invalid."


class ExpiredToken(InvalidToken):
    """The token was valid once; the client should get a new one."""

    description = "The access token expired."


class InsufficientScope(AuthError):
    """The token is valid but lacks a scope the route needs."""

    status_code = 403
    error = "insufficient_scope"
    description = "The access token lacks a required scope."

    def __init__(self, required: frozenset[str]) -> None:
        super().__init__("insufficient_scope")
        self.required = required

    def challenge(self, realm: str, **params: str) -> str:
        return super().challenge(realm, **{"scope": " ".join(sorted(self.required)), **params})


class InsufficientRole(AuthError):
    """The token is valid but lacks a role the route needs (RFC 6750's error for privileges)."""

    status_code = 403
    error = "insufficient_scope"
    description = "The access token lacks a required role."

    def __init__(self, required: frozenset[str]) -> None:
        super().__init__("insufficient_role")
        self.required = required


class KeysUnavailable(AuthError):
    """No signing keys could be loaded from the issuer: the fault is ours, not the client's."""

    status_code = 503
    description = "Token verification is temporarily unavailable."

    def __init__(self, retry_after: int) -> None:
        super().__init__("keys_unavailable")
        self.retry_after = retry_after

    def headers(self, realm: str, **params: str) -> dict[str, str]:
        return {**super().headers(realm, **params), "Retry-After": str(self.retry_after)}


class DPoPRequired(InvalidToken):
    """A token presented as a bearer token where a DPoP proof is needed (RFC 9449 section 7.2)."""

    description = "The access token must be sent with the DPoP scheme and a proof."
    dpop = True


class DPoPKeyMismatch(InvalidToken):
    """The token is not bound (`cnf.jkt`) to the key that signed the DPoP proof."""

    description = "The access token is not bound to the DPoP proof's key."
    dpop = True


class InvalidDPoPProof(AuthError):
    """The `DPoP` header is missing, malformed, replayed or does not fit this request."""

    error = "invalid_dpop_proof"
    description = "The DPoP proof is invalid."
    dpop = True


class UseDPoPNonce(AuthError):
    """The proof lacks this server's current nonce; the client retries with `DPoP-Nonce`."""

    error = "use_dpop_nonce"
    description = "The DPoP proof must carry the nonce in DPoP-Nonce."
    dpop = True

    def __init__(self, reason: str, nonce: str) -> None:
        super().__init__(reason)
        self.nonce = nonce

    def headers(self, realm: str, **params: str) -> dict[str, str]:
        return {**super().headers(realm, **params), "DPoP-Nonce": self.nonce}
