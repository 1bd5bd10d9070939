"""Fetch the issuer's JWKS (via OpenID discovery when needed) and parse it into verification keys."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import httpx
from jose import jwk
from jose.exceptions import JOSEError

from .algorithms import KEY_TYPES
from .urls import check_url

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from jose.backends.base import Key

    from .settings import AuthSettings

__all__ = ("MAX_DOCUMENT_BYTES", "JWKSError", "ParsedKeys", "fetch_jwks", "parse_jwks")

logger = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES: Final = 256 * 1024
MIN_RSA_BITS: Final = 2048


class JWKSError(Exception):
    """The issuer's keys could not be fetched or made sense of; the message says why."""


@dataclass(frozen=True, slots=True)
class ParsedKeys:
    """The usable keys of one JWKS document, built once, indexed for lookup per token."""

    by_kid: dict[str, dict[str, Key]] = field(default_factory=dict)
    """`kid` -> algorithm -> key."""
    by_algorithm: dict[str, list[Key]] = field(default_factory=dict)
    """Algorithm -> every usable key for it (for tokens without `kid`)."""

    def find(self, kid: str | None, algorithm: str) -> Key | None:
        """The key for a token's `kid` and `alg`; without `kid`, the one key for `alg`, if unique."""
        if kid is not None:
            return self.by_kid.get(kid, {}).get(algorithm)
        candidates = self.by_algorithm.get(algorithm, [])
        return candidates[0] if len(candidates) == 1 else None

    def describe(self) -> str:
        """`kid:alg,alg` items for logs and `doctor`."""
        return ", ".join(f"{kid}:{','.join(algs)}" for kid, algs in self.by_kid.items()) or "-"


async def fetch_jwks(
    client: httpx.AsyncClient, settings: AuthSettings
) -> tuple[str, dict[str, Any]]:
    """Return the JWKS URL and document: `AUTH_JWKS_URL`, else discovery, else `/.well-known/jwks.json`."""
    url = settings.jwks_url or await discover_jwks_url(client, settings.issuer)
    document = await get_json(client, url)
    if not isinstance(document.get("keys"), list):
        raise JWKSError(f"{url} returned JSON without a 'keys' list")
    return url, document


async def discover_jwks_url(client: httpx.AsyncClient, issuer: str) -> str:
    """Read `jwks_uri` from the issuer's OpenID discovery document (issuer must match exactly)."""
    base = issuer.rstrip("/")
    url = f"{base}/.well-known/openid-configuration"
    try:
        document = await get_json(client, url)
    except _NotFound:
        return f"{base}/.well-known/jwks.json"
    if document.get("issuer") != issuer:
        raise JWKSError(
            f"the discovery document at {url} names issuer {document.get('issuer')!r} but "
            f"AUTH_ISSUER is {issuer!r}; they must be equal character for character "
            "(a trailing slash counts)"
        )
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise JWKSError(f"the discovery document at {url} has no 'jwks_uri'")
    try:
        return check_url(jwks_uri)
    except ValueError as exc:
        raise JWKSError(f"the discovery document at {url}: jwks_uri {exc}") from None


class _NotFound(JWKSError):
    pass


async def get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """GET a JSON object of at most `MAX_DOCUMENT_BYTES`; redirects are not followed."""
    try:
        async with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
            if response.status_code == httpx.codes.NOT_FOUND:
                raise _NotFound(f"{url} answered HTTP 404")
            if response.status_code != httpx.codes.OK:
                raise JWKSError(f"{url} answered HTTP {response.status_code}, expected 200")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise JWKSError(f"{url} returned more than {MAX_DOCUMENT_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise JWKSError(f"{url} could not be fetched ({type(exc).__name__})") from None
    try:
        document = json.loads(body)
    except ValueError:
        raise JWKSError(f"{url} did not return JSON") from None
    if not isinstance(document, dict):
        raise JWKSError(f"{url} did not return a JSON object")
    return document


def parse_jwks(document: Mapping[str, Any], algorithms: Iterable[str]) -> ParsedKeys:
    """Build a key object for every (key, allowed algorithm) pair the JWKS supports.

    Keys meant for encryption (`use` other than `sig`, `key_ops` without `verify`), keys whose
    type or curve fits no allowed algorithm, short RSA keys and malformed keys are skipped.
    """
    parsed = ParsedKeys()
    for item in document.get("keys", []):
        if not isinstance(item, dict) or not _is_signing_key(item):
            continue
        kid = item.get("kid")
        for algorithm in _algorithms_for(item, algorithms):
            key = _construct(item, algorithm)
            if key is None:
                continue
            parsed.by_algorithm.setdefault(algorithm, []).append(key)
            if isinstance(kid, str):
                parsed.by_kid.setdefault(kid, {}).setdefault(algorithm, key)
    if not parsed.by_algorithm:
        raise JWKSError("the JWKS holds no usable signing key for AUTH_ALGORITHMS")
    return parsed


def _is_signing_key(item: Mapping[str, Any]) -> bool:
    if item.get("use", "sig") != "sig":
        return False
    key_ops = item.get("key_ops")
    return key_ops is None or (isinstance(key_ops, list) and "verify" in key_ops)


def _algorithms_for(item: Mapping[str, Any], allowed: Iterable[str]) -> list[str]:
    declared = item.get("alg")
    return [
        algorithm
        for algorithm in allowed
        if (declared is None or declared == algorithm)
        and KEY_TYPES[algorithm] == (item.get("kty"), item.get("crv"))
    ]


def _construct(item: Mapping[str, Any], algorithm: str) -> Key | None:
    public = {name: value for name, value in item.items() if name not in _PRIVATE_MEMBERS}
    try:
        key = jwk.construct(public, algorithm)
        size = getattr(getattr(key, "prepared_key", None), "key_size", MIN_RSA_BITS)
    except (JOSEError, TypeError, ValueError) as exc:
        logger.warning("JWKS key %r skipped for %s: %s", item.get("kid"), algorithm, exc)
        return None
    if item.get("kty") == "RSA" and size < MIN_RSA_BITS:
        logger.warning("JWKS key %r skipped: RSA key shorter than %d bits", item.get("kid"), size)
        return None
    return key


# A JWKS is public; should it carry private members anyway, they are never loaded.
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
