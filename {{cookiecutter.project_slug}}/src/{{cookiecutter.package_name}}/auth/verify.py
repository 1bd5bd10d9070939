"""Token -> principal: size and header checks, key choice, python-jose JWS check, claim policy."""

from __future__ import annotations

import binascii
import json
import math
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from cachetools import TTLCache
from jose import jws
from jose.utils import base64url_decode

from .errors import ExpiredToken, InvalidToken

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..settings import AuthSettings
    from .keys import KeySet

__all__ = ("Principal", "TokenVerifier")

TIME_CLAIMS: Final = ("exp", "nbf", "iat")
MAX_KID_LENGTH: Final = 256
# RFC 7515 section 7.1: three base64url segments without padding. python-jose's decoder skips
# characters outside the alphabet, so `sig!!!!` or `sig==` would otherwise verify like `sig`.
COMPACT_JWS: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for; set as `request.user`."""

    subject: str
    """The token's `sub`."""
    scopes: frozenset[str]
    """From `scope` (space-separated, OAuth 2.0) or `scp` (string or list: Entra ID, Okta)."""
    claims: Mapping[str, Any]
    """Every claim of the verified token."""


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    valid_until: float
    key_version: int


class TokenVerifier:
    """Verifies bearer tokens against the issuer's key set and the configured claim policy."""

    def __init__(
        self,
        settings: AuthSettings,
        keys: KeySet,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._keys = keys
        self._clock = clock
        self._algorithms = frozenset(settings.algorithms)
        self._audiences = frozenset(settings.audience)
        self._verified: TTLCache[str, _Verified] | None = (
            TTLCache(
                maxsize=settings.verified_cache_size,
                ttl=settings.verified_cache_ttl,
                timer=clock,
            )
            if settings.verified_cache_size and settings.verified_cache_ttl
            else None
        )

    async def verify(self, token: str) -> Principal:
        """Return the principal of a valid token.

        Raises:
            InvalidToken: the token is refused (`reason` says why).
            KeysUnavailable: the issuer's keys could not be loaded.
        """
        if len(token) > self._settings.max_token_bytes:
            raise InvalidToken("token_too_large")
        cached = self._cached(token)
        if cached is not None:
            return cached
        header = _read_header(token)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._algorithms:
            raise InvalidToken("algorithm_not_allowed")
        if "crit" in header or "b64" in header:
            raise InvalidToken("unsupported_header")
        kid = header.get("kid")
        # RFC 7515 section 4.1.4: a `kid` is a string; `"kid": null` is not the same as no kid.
        if "kid" in header and (not isinstance(kid, str) or len(kid) > MAX_KID_LENGTH):
            raise InvalidToken("malformed_kid")
        key = await self._keys.key_for(kid, algorithm)
        claims = self._decode(token, key, algorithm)
        principal = Principal(subject=claims["sub"], scopes=_scopes_of(claims), claims=claims)
        self._remember(token, principal)
        return principal

    def _decode(self, token: str, key: Any, algorithm: str) -> dict[str, Any]:
        """Check the signature with python-jose's JWS layer, then apply the claim policy.

        `jws.verify` (not `jwt.decode`) parses the token once and leaves the claims to
        `_check_claims`, which needs several audiences and stricter types than python-jose.
        """
        try:
            claims = json.loads(jws.verify(token, key, algorithms=[algorithm]))
        # Hostile input reaches python-jose and the standard library in many shapes
        # (JWSError, JWKError, ValueError, RecursionError...): every one of them is a
        # refused token, never a server error.
        except Exception:  # noqa: BLE001
            raise InvalidToken("bad_signature") from None
        if not isinstance(claims, dict):
            raise InvalidToken("payload_not_an_object")
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        for name in TIME_CLAIMS:
            if name in claims and not _is_number(claims[name]):
                raise InvalidToken(f"{name}_not_a_number")
        now, leeway = self._clock(), self._settings.leeway
        if "exp" not in claims:
            raise InvalidToken("missing_exp")
        if now > claims["exp"] + leeway:
            raise ExpiredToken("expired")
        if claims.get("nbf", -math.inf) > now + leeway:
            raise InvalidToken("not_yet_valid")
        if claims.get("iat", -math.inf) > now + leeway:
            raise InvalidToken("issued_in_future")
        if claims.get("iss") != self._settings.issuer:
            raise InvalidToken("wrong_issuer")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise InvalidToken("missing_sub")
        if self._audiences:
            audience = claims.get("aud")
            values = [audience] if isinstance(audience, str) else audience
            if not isinstance(values, list) or self._audiences.isdisjoint(
                value for value in values if isinstance(value, str)
            ):
                raise InvalidToken("wrong_audience")

    def _cached(self, token: str) -> Principal | None:
        if self._verified is None:
            return None
        entry = self._verified.get(token)
        if entry is None:
            return None
        if entry.key_version != self._keys.version or self._clock() >= entry.valid_until:
            self._verified.pop(token, None)
            return None
        return entry.principal

    def _remember(self, token: str, principal: Principal) -> None:
        if self._verified is None:
            return
        valid_until = principal.claims["exp"] + self._settings.leeway
        self._verified[token] = _Verified(principal, valid_until, self._keys.version)


def _read_header(token: str) -> dict[str, Any]:
    if not COMPACT_JWS.fullmatch(token):
        raise InvalidToken("malformed")
    try:
        segment = token.split(".", 1)[0]
        header = json.loads(base64url_decode(segment.encode("ascii")))
    # RecursionError: a header of thousands of nested brackets still fits in max_token_bytes.
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        raise InvalidToken("malformed") from None
    if not isinstance(header, dict) or token.count(".") != 2:
        raise InvalidToken("malformed")
    return header


def _is_number(value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond float range (`"exp": 1000...0`)
        return False


def _scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    scopes: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list):
            scopes.update(item for item in value if isinstance(item, str))
    return frozenset(scopes)
