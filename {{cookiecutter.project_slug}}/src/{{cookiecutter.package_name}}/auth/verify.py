"""Token -> principal: size and header checks, issuer and key choice, signature, claim policy."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import msgspec

from .errors import ExpiredToken, InvalidToken
from .principal import Principal
from .verified import VerifiedTokens

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from jose.backends.base import Key

    from .issuers import IssuerRegistry
    from .settings import AuthSettings

__all__ = ("TokenVerifier",)

MAX_TIMESTAMP: Final = 1e308  # a larger integer overflows a float when the leeway is added
MAX_KID_LENGTH: Final = 256
MAX_CACHED_HEADERS: Final = 64
BASE64URL: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
URLSAFE_TO_STANDARD: Final = bytes.maketrans(b"-_", b"+/")
CANONICAL_LAST: Final = {2: b"AQgw", 3: b"AEIMQUYcgkosw048"}
"""The characters that may end a segment whose final group has 2 or 3 characters."""
JSON: Final = msgspec.json.Decoder()
BASE64: Final = msgspec.json.Decoder(bytes)


class TokenVerifier:
    """Verifies bearer tokens against the trusted issuers' key sets and claim rules."""

    def __init__(
        self,
        settings: AuthSettings,
        issuers: IssuerRegistry,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._issuers = issuers
        self._clock = clock
        self._algorithms = frozenset().union(*(issuer.algorithms for issuer in issuers))
        self._headers: dict[bytes, Header] = {}
        self._verified: VerifiedTokens | None = (
            VerifiedTokens(settings.verified_cache_size, settings.verified_cache_ttl, clock)
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
        key_version = self._issuers.version
        if self._verified is not None:
            cached = self._verified.get(token, key_version)
            if cached is not None:
                return cached
        header_segment, signing_input, signature = _split(token)
        header = self._header(header_segment)
        # Not trusted yet: the claims only name the issuer whose key must then verify them.
        claims = _decode_claims(signing_input)
        issuer = self._issuers.find(claims.get("iss"))
        if header.algorithm not in issuer.algorithms:
            raise InvalidToken("algorithm_not_allowed")
        key = await issuer.keys.key_for(header.kid, header.algorithm)
        _check_signature(signing_input, signature, key)
        self._check_times(claims)
        subject = claims.get("sub")
        if type(subject) is not str or not subject:
            raise InvalidToken("missing_sub")
        issuer.rules.check_header(header.members)
        issuer.rules.check_claims(claims)
        principal = Principal(
            subject=subject,
            issuer=issuer.name,
            scopes=issuer.rules.scopes(claims),
            roles=issuer.rules.roles(claims),
            claims=claims,
        )
        if self._verified is not None:
            expires_at = claims["exp"] + self._settings.leeway
            self._verified.put(token, principal, expires_at, key_version)
        return principal

    def _header(self, segment: bytes) -> Header:
        """The JOSE header, checked: an allowed `alg`, a string `kid` if any, no extensions.

        Remembered per header segment: an issuer signs with a handful of headers, so most
        tokens skip decoding theirs. Only headers that pass are kept, and only a few dozen.
        """
        checked = self._headers.get(segment)
        if checked is not None:
            return checked
        try:
            members = JSON.decode(_b64decode(segment))
        # RecursionError: a header of thousands of nested brackets still fits in max_token_bytes.
        except (ValueError, RecursionError):
            raise InvalidToken("malformed") from None
        if not isinstance(members, dict):
            raise InvalidToken("malformed")
        algorithm = members.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._algorithms:
            raise InvalidToken("algorithm_not_allowed")
        if "crit" in members or "b64" in members:
            raise InvalidToken("unsupported_header")
        kid = members.get("kid")
        # RFC 7515 section 4.1.4: a `kid` is a string; `"kid": null` is not the same as no kid.
        if "kid" in members and (not isinstance(kid, str) or len(kid) > MAX_KID_LENGTH):
            raise InvalidToken("malformed_kid")
        if len(self._headers) >= MAX_CACHED_HEADERS:
            self._headers.clear()
        self._headers[segment] = checked = Header(algorithm, kid, members)
        return checked

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        expires_at = _timestamp(claims, "exp")
        not_before = _timestamp(claims, "nbf")
        issued_at = _timestamp(claims, "iat")
        if expires_at is None:
            raise InvalidToken("missing_exp")
        now, leeway = self._clock(), self._settings.leeway
        if now > expires_at + leeway:
            raise ExpiredToken("expired")
        if not_before is not None and not_before > now + leeway:
            raise InvalidToken("not_yet_valid")
        if issued_at is not None and issued_at > now + leeway:
            raise InvalidToken("issued_in_future")


class Header(NamedTuple):
    """A checked JOSE header."""

    algorithm: str
    kid: str | None
    members: dict[str, Any]


def _decode_claims(signing_input: bytes) -> dict[str, Any]:
    try:
        claims = JSON.decode(_b64decode(signing_input.partition(b".")[2]))
    except (ValueError, RecursionError):
        raise InvalidToken("payload_not_json") from None
    if not isinstance(claims, dict):
        raise InvalidToken("payload_not_an_object")
    return claims


def _check_signature(signing_input: bytes, signature: bytes, key: Key) -> None:
    """Check the signature with the python-jose key's own `verify`.

    The token was split and its header read once, by `_split`; python-jose's `jws.verify`
    would do both again.
    """
    try:
        verified = key.verify(signing_input, signature)
    # Hostile input reaches python-jose and cryptography in many shapes (JWKError,
    # ValueError, ...): every one of them is a refused token, never a server error.
    except Exception:  # noqa: BLE001
        verified = False
    if not verified:
        raise InvalidToken("bad_signature")


def _split(token: str) -> tuple[bytes, bytes, bytes]:
    """The header segment, signing input and signature of a compact JWS (RFC 7515 section 7.1)."""
    try:
        raw = token.encode("ascii")
    except UnicodeError:
        raise InvalidToken("malformed") from None
    # Exactly three non-empty base64url segments, without padding. The decoder would skip
    # characters outside the alphabet, so `sig!!` or `sig==` would otherwise verify like `sig`.
    if raw.translate(None, BASE64URL) != b"..":
        raise InvalidToken("malformed")
    signing_input, _, signature = raw.rpartition(b".")
    header_segment, _, payload_segment = signing_input.partition(b".")
    if not (
        _is_canonical(header_segment)
        and _is_canonical(payload_segment)
        and _is_canonical(signature)
    ):
        raise InvalidToken("malformed")
    try:
        return header_segment, signing_input, _b64decode(signature)
    except ValueError:  # msgspec's ValidationError: a length no base64 string has
        raise InvalidToken("malformed") from None


def _is_canonical(segment: bytes) -> bool:
    """Whether a non-empty base64url segment is the one spelling of its bytes (RFC 4648 3.5).

    A final group of 2 or 3 characters leaves 4 or 2 unused bits in its last character; a
    decoder ignores them, so unless they are zero one token has up to 16 spellings, and
    anything keyed on the token string (a cache, a revocation list) could be sidestepped.
    """
    if not segment:
        return False
    last_group = len(segment) % 4
    if last_group == 0:
        return True
    return last_group != 1 and segment[-1] in CANONICAL_LAST[last_group]


def _b64decode(segment: bytes) -> bytes:
    # `_split` has checked the alphabet. msgspec decodes a JSON string of (standard, padded)
    # base64 into bytes strictly and more than twice as fast as `binascii.a2b_base64`.
    padding = b"=" * (-len(segment) % 4)
    return BASE64.decode(b'"' + segment.translate(URLSAFE_TO_STANDARD) + padding + b'"')


def _timestamp(claims: Mapping[str, Any], name: str) -> float | None:
    """A time claim (seconds since the epoch), None if absent; refused unless a number.

    The claims come from msgspec, so `type` is exact (a JSON `true` is a bool, never an int)
    and a float is finite (msgspec refuses `1e400` and `NaN`).
    """
    value = claims.get(name)
    if type(value) is float or (type(value) is int and -MAX_TIMESTAMP < value < MAX_TIMESTAMP):
        return value
    if value is None and name not in claims:
        return None
    raise InvalidToken(f"{name}_not_a_number")
