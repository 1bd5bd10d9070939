"""Fetch the issuer's JWKS (via OpenID discovery when needed) and parse it into verification keys.

The issuer's answers are untrusted input. A document is at most `MAX_DOCUMENT_BYTES`, both as
sent and once decoded (gzip and deflate are decoded here, a bounded piece at a time); a JWKS
lists at most `MAX_KEYS` keys. A key whose members are malformed, weak or degenerate is skipped;
anything wrong with the document as a whole fails the fetch (`JWKSError`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import httpx
from jose import jwk
from jose.exceptions import JOSEError

from .algorithms import KEY_TYPES, same_algorithm
from .urls import check_url

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from jose.backends.base import Key

    from .settings import AuthSettings

__all__ = (
    "MAX_DOCUMENT_BYTES",
    "MAX_KEYS",
    "Document",
    "JWKSError",
    "ParsedKeys",
    "UnusableKey",
    "build_keys",
    "discover_jwks_url",
    "fetch_jwks",
    "get_json",
    "key_list",
    "parse_jwks",
    "printable",
)

logger = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES: Final = 256 * 1024
MAX_KEYS: Final = 100
MIN_RSA_BITS: Final = 2048
MAX_RSA_BITS: Final = 16384  # OpenSSL's own limit for RSA verification
MAX_RSA_EXPONENT_BITS: Final = 32  # 65537 in practice; a huge exponent makes every check slow
ACCEPT_ENCODING: Final = "gzip, deflate"
_WBITS: Final = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]*", re.ASCII)
# Field size (bytes) and prime of each curve: coordinates are exactly that long and below p.
_CURVES: Final = {
    "P-256": (32, 2**256 - 2**224 + 2**192 + 2**96 - 1),
    "P-384": (48, 2**384 - 2**128 - 2**96 + 2**32 - 1),
    "P-521": (66, 2**521 - 1),
}
_ED25519_BYTES: Final = 32


class JWKSError(Exception):
    """The issuer's keys could not be fetched or made sense of; the message says why."""


class UnusableKey(Exception):
    """One JWKS entry cannot verify tokens: it is skipped, the message says why."""


@dataclass(frozen=True, slots=True)
class Document:
    """A JSON object fetched from the issuer, and how long the issuer says it stays fresh."""

    url: str
    content: dict[str, Any]
    max_age: float | None
    """Seconds from `Cache-Control: max-age`; 0 for `no-store`/`no-cache`; None without either."""


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
        return (
            ", ".join(f"{_label(kid)}:{','.join(algs)}" for kid, algs in self.by_kid.items()) or "-"
        )


async def fetch_jwks(client: httpx.AsyncClient, settings: AuthSettings) -> Document:
    """Return the JWKS: from `AUTH_JWKS_URL`, else discovery, else `/.well-known/jwks.json`."""
    url = settings.jwks_url or await discover_jwks_url(client, settings.issuer)
    document = await get_json(client, url)
    key_list(document)
    return document


def key_list(document: Document) -> list[Any]:
    """The `keys` list of a JWKS, of at most `MAX_KEYS` entries."""
    keys = document.content.get("keys")
    if not isinstance(keys, list):
        raise JWKSError(f"{document.url} returned JSON without a 'keys' list")
    if len(keys) > MAX_KEYS:
        raise JWKSError(f"{document.url} lists {len(keys)} keys; at most {MAX_KEYS} are read")
    return keys


async def discover_jwks_url(client: httpx.AsyncClient, issuer: str) -> str:
    """Read `jwks_uri` from the issuer's OpenID discovery document (issuer must match exactly)."""
    base = issuer.rstrip("/")
    url = f"{base}/.well-known/openid-configuration"
    try:
        document = (await get_json(client, url)).content
    except _NotFound:
        return f"{base}/.well-known/jwks.json"
    if document.get("issuer") != issuer:
        raise JWKSError(
            f"the discovery document at {url} names issuer {printable(document.get('issuer'))} "
            f"but AUTH_ISSUER is {issuer!r}; they must be equal character for character "
            "(a trailing slash counts)"
        )
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise JWKSError(f"the discovery document at {url} has no 'jwks_uri'")
    try:
        return check_url(jwks_uri)
    except ValueError as exc:
        raise JWKSError(f"the discovery document at {url}: jwks_uri {_shorten(str(exc))}") from None


class _NotFound(JWKSError):
    pass


async def get_json(client: httpx.AsyncClient, url: str) -> Document:
    """GET a JSON object of at most `MAX_DOCUMENT_BYTES` (sent and decoded); no redirects."""
    headers = {"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code == httpx.codes.NOT_FOUND:
                raise _NotFound(f"{url} answered HTTP 404")
            if response.status_code != httpx.codes.OK:
                raise JWKSError(f"{url} answered HTTP {response.status_code}, expected 200")
            if response.is_stream_consumed:
                # Answered whole and already decoded, as by `httpx.MockTransport` in tests.
                body = response.content
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise JWKSError(f"{url} returned more than {MAX_DOCUMENT_BYTES} bytes")
            else:
                body = await _read_bounded(url, response)
            max_age = _max_age(response.headers.get_list("Cache-Control", split_commas=True))
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise JWKSError(f"{url} could not be fetched ({type(exc).__name__})") from None
    try:
        content = json.loads(body)
    except RecursionError:
        raise JWKSError(f"{url} returned JSON nested too deeply") from None
    except ValueError:
        raise JWKSError(f"{url} did not return JSON") from None
    if not isinstance(content, dict):
        raise JWKSError(f"{url} did not return a JSON object")
    return Document(url, content, max_age)


async def _read_bounded(url: str, response: httpx.Response) -> bytes:
    """The body as sent, decoded here: at most `MAX_DOCUMENT_BYTES` both sent and decoded."""
    decoder = _Decoder(url, response.headers.get_list("Content-Encoding", split_commas=True))
    sent = 0
    async for chunk in response.aiter_raw():
        sent += len(chunk)
        if sent > MAX_DOCUMENT_BYTES:
            raise JWKSError(f"{url} returned more than {MAX_DOCUMENT_BYTES} bytes")
        decoder.feed(chunk)
    return decoder.finish()


class _Decoder:
    """Undoes one gzip or deflate content coding, never holding more than the size limit.

    httpx would decompress each chunk whole: a few kilobytes of gzip can expand to gigabytes
    before any limit is checked. Here zlib stops one byte past the limit.
    """

    def __init__(self, url: str, codings: list[str]) -> None:
        self._url = url
        self._body = bytearray()
        named = (name.strip().lower() for name in codings)
        applied = [name for name in named if name not in {"", "identity"}]
        if len(applied) > 1:
            raise JWKSError(
                f"{url} returned a body encoded {len(applied)} times ({_shorten(', '.join(applied))});"
                " one gzip or deflate coding is decoded, no more"
            )
        if applied and applied[0] not in _WBITS:
            raise JWKSError(
                f"{url} returned content coding {_shorten(applied[0])!r}; "
                f"only {ACCEPT_ENCODING} are decoded"
            )
        self._coding = applied[0] if applied else None
        self._zlib = zlib.decompressobj(_WBITS[self._coding]) if self._coding else None

    def feed(self, chunk: bytes) -> None:
        room = MAX_DOCUMENT_BYTES + 1 - len(self._body)
        if self._zlib is None:
            self._body += chunk[:room]
        else:
            try:
                self._body += self._zlib.decompress(chunk, room)
            except zlib.error:
                raise JWKSError(
                    f"{self._url} returned a body that is not valid {self._coding}"
                ) from None
            if self._zlib.unused_data:
                raise JWKSError(
                    f"{self._url} returned data after the end of its {self._coding} stream"
                )
        if len(self._body) > MAX_DOCUMENT_BYTES:
            raise JWKSError(
                f"{self._url} returned more than {MAX_DOCUMENT_BYTES} bytes once decoded"
            )

    def finish(self) -> bytes:
        if self._zlib is not None and not self._zlib.eof:
            raise JWKSError(f"{self._url} returned a truncated {self._coding} body")
        return bytes(self._body)


def _max_age(directives: list[str]) -> float | None:
    """The freshness lifetime a `Cache-Control` header grants; the smallest if it says several."""
    lifetimes = []
    for directive in directives:
        name, _, value = directive.partition("=")
        name = name.strip().lower()
        if name in {"no-store", "no-cache"}:
            lifetimes.append(0.0)
        elif name == "max-age":
            value = value.strip().strip('"')
            if value.isascii() and value.isdigit() and len(value) <= 10:
                lifetimes.append(float(value))
    return min(lifetimes, default=None)


def parse_jwks(document: Mapping[str, Any], algorithms: Iterable[str]) -> ParsedKeys:
    """Build a key object for every (key, allowed algorithm) pair the JWKS supports.

    Entries that cannot verify tokens are skipped, each with a warning saying why (see
    `build_keys`); a set left with no usable key at all is an error.
    """
    allowed = tuple(algorithms)
    parsed = ParsedKeys()
    for item in document.get("keys", []):
        try:
            built = build_keys(item, allowed)
        except UnusableKey as exc:
            if isinstance(item, dict) and not _is_signing_key(item):
                continue  # encryption keys are expected in a JWKS, not worth a warning
            logger.warning("JWKS key %s skipped: %s", _kid_of(item), exc)
            continue
        kid = item.get("kid")
        for algorithm, key in built.items():
            parsed.by_algorithm.setdefault(algorithm, []).append(key)
            if isinstance(kid, str):
                parsed.by_kid.setdefault(kid, {}).setdefault(algorithm, key)
    if not parsed.by_algorithm:
        raise JWKSError("the JWKS holds no usable signing key for AUTH_ALGORITHMS")
    return parsed


def build_keys(item: object, algorithms: tuple[str, ...]) -> dict[str, Key]:
    """The key objects of one JWKS entry, by algorithm.

    Raises `UnusableKey` for entries meant for encryption (`use` other than `sig`, `key_ops`
    without `verify`), of a type or curve that fits none of `algorithms`, with members that
    are not strict base64url of the right length, RSA keys outside 2048-16384 bits or with an
    exponent that is even, below 3 or over 32 bits, EC points off the curve or with
    coordinates >= p, and Ed25519 keys outside the prime-order subgroup.
    """
    if not isinstance(item, dict):
        raise UnusableKey("not a JSON object")
    if not _is_signing_key(item):
        raise UnusableKey("meant for encryption, not signatures (use, key_ops)")
    fitting = _algorithms_for(item, algorithms)
    if not fitting:
        raise UnusableKey(
            f"kty={printable(item.get('kty'))} crv={printable(item.get('crv'))} "
            f"alg={printable(item.get('alg'))} fits none of {','.join(algorithms)}"
        )
    public = _public_members(item)
    built: dict[str, Key] = {}
    try:
        for algorithm in fitting:
            # EdDSA and Ed25519 name one algorithm: one key object serves both names.
            twin = next(
                (key for name, key in built.items() if same_algorithm(name, algorithm)), None
            )
            built[algorithm] = twin or jwk.construct(public, algorithm)
    except (JOSEError, TypeError, ValueError) as exc:
        raise UnusableKey(_shorten(str(exc))) from None
    return built


def _is_signing_key(item: Mapping[str, Any]) -> bool:
    if item.get("use", "sig") != "sig":
        return False
    key_ops = item.get("key_ops")
    return key_ops is None or (isinstance(key_ops, list) and "verify" in key_ops)


def _algorithms_for(item: Mapping[str, Any], allowed: Iterable[str]) -> list[str]:
    declared = item.get("alg")
    kind = (item.get("kty"), item.get("crv"))
    return [
        algorithm
        for algorithm in allowed
        if (declared is None or same_algorithm(declared, algorithm))
        and KEY_TYPES[algorithm] == kind
    ]


def _public_members(item: Mapping[str, Any]) -> dict[str, str]:
    """The public key members python-jose needs, checked; private and other members are dropped."""
    kty = item["kty"]
    if kty == "RSA":
        n = int.from_bytes(_octets(item, "n", MAX_RSA_BITS // 8), "big")
        e = int.from_bytes(_octets(item, "e", MAX_RSA_EXPONENT_BITS // 8), "big")
        if not MIN_RSA_BITS <= n.bit_length() <= MAX_RSA_BITS or n % 2 == 0:
            raise UnusableKey(
                f"RSA modulus of {n.bit_length()} bits (odd, {MIN_RSA_BITS}-{MAX_RSA_BITS} bits needed)"
            )
        if e < 3 or e % 2 == 0:
            raise UnusableKey(f"RSA exponent {e} (odd and at least 3 needed)")
        return {"kty": kty, "n": item["n"], "e": item["e"]}
    crv = item["crv"]
    if kty == "EC":
        size, prime = _CURVES[crv]
        for name in ("x", "y"):
            coordinate = _octets(item, name, size)
            if len(coordinate) != size or int.from_bytes(coordinate, "big") >= prime:
                raise UnusableKey(f"EC coordinate {name} is not {size} bytes below p of {crv}")
        return {"kty": kty, "crv": crv, "x": item["x"], "y": item["y"]}
    if len(_octets(item, "x", _ED25519_BYTES)) != _ED25519_BYTES:
        raise UnusableKey(f"an Ed25519 key is {_ED25519_BYTES} bytes")
    return {"kty": kty, "crv": crv, "x": item["x"]}


def _octets(item: Mapping[str, Any], name: str, max_bytes: int) -> bytes:
    """Member `name` as strict, unpadded base64url of at most `max_bytes` bytes."""
    value = item.get(name)
    if not isinstance(value, str):
        raise UnusableKey(f"member {name!r} is {printable(value)}, not a base64url string")
    if len(value) > (max_bytes * 4 + 2) // 3 or not _BASE64URL.fullmatch(value):
        raise UnusableKey(f"member {name!r} is not base64url of at most {max_bytes} bytes")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):  # a length of 4k+1 characters encodes no bytes
        raise UnusableKey(f"member {name!r} is not base64url") from None


def _kid_of(item: object) -> str:
    return printable(item.get("kid")) if isinstance(item, dict) else "-"


def printable(value: object) -> str:
    """A short, safe rendering of an untrusted JSON value for logs and reports.

    Strings are quoted and cut; anything else is named by its type, never rendered: a
    50,000-deep list or a 200 KB string is not repeated into a log line.
    """
    if isinstance(value, str):
        return repr(_shorten(value))
    if value is None or isinstance(value, bool):
        return repr(value)
    return f"<JSON {type(value).__name__}>"


def _label(kid: str) -> str:
    """A kid as it reads, unless it holds something a log line must not (newlines, escapes)."""
    return _shorten(kid) if kid.isprintable() else printable(kid)


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
