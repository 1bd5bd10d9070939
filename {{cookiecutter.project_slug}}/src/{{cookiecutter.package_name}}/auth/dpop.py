"""DPoP proofs (RFC 9449 section 4.3): checks, key thumbprints, server nonces, the replay cache."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final, NamedTuple
from urllib.parse import urlsplit

import msgspec
from jose import jwk

from .algorithms import KEY_TYPES
from .errors import DPoPKeyMismatch, InvalidDPoPProof, InvalidToken, UseDPoPNonce
from .verify import _b64decode, _split

if TYPE_CHECKING:
    from collections.abc import Callable

    from jose.backends.base import Key

__all__ = (
    "NonceSource",
    "ProofVerifier",
    "ReplayCache",
    "access_token_hash",
    "jwk_thumbprint",
    "normalized_uri",
)

MAX_PROOF_BYTES: Final = 8192
MAX_JTI_LENGTH: Final = 256
MAX_CACHED_KEYS: Final = 256
MIN_RSA_MODULUS_BYTES: Final = 256  # RSA-2048, the smallest key RFC 7518 section 3.3 allows
TYPE: Final = "dpop+jwt"
# RFC 7638 section 3.2: the members a thumbprint covers, by key type.
THUMBPRINT_MEMBERS: Final = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}
PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
DEFAULT_PORTS: Final = {"http": 80, "https": 443}
UNRESERVED: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
PERCENT_ESCAPE: Final = re.compile(r"%([0-9A-Fa-f]{2})")
JSON: Final = msgspec.json.Decoder()


class ProofKey(NamedTuple):
    """The checked header of a proof: its algorithm, its public key and that key's thumbprint."""

    algorithm: str
    key: Key
    thumbprint: str


class ProofVerifier:
    """Checks one DPoP proof against the request it came with and the token it presents."""

    def __init__(
        self,
        algorithms: tuple[str, ...],
        *,
        max_age: float,
        leeway: float,
        replays: ReplayCache,
        nonces: NonceSource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.algorithms = algorithms
        self._allowed = frozenset(algorithms)
        self._max_age = max_age
        self._leeway = leeway
        self._replays = replays
        self._nonces = nonces
        self._clock = clock
        self._keys: dict[bytes, ProofKey] = {}

    def check(self, proof: str, *, method: str, uri: str, token: str, thumbprint: str) -> None:
        """Accept `proof` for `method uri` presenting `token` bound to the key `thumbprint`.

        `uri` is the request's URI as configured (normalised here), never a client's claim.

        Raises:
            InvalidDPoPProof: the proof is refused (`reason` says why).
            UseDPoPNonce: the proof lacks the current server nonce.
            DPoPKeyMismatch: the proof's key is not the one the token is bound to.
        """
        if len(proof) > MAX_PROOF_BYTES:
            raise InvalidDPoPProof("proof_too_large")
        try:
            header_segment, signing_input, signature = _split(proof)
        except InvalidToken:
            raise InvalidDPoPProof("proof_malformed") from None
        key = self._proof_key(header_segment)
        if not _verifies(key.key, signing_input, signature):
            raise InvalidDPoPProof("proof_bad_signature")
        jti, issued_at = self._check_claims(_payload(signing_input), method, uri, token)
        if not hmac.compare_digest(key.thumbprint, thumbprint):
            raise DPoPKeyMismatch("dpop_key_mismatch")
        if not self._replays.first_use((key.thumbprint, jti), issued_at + self._max_age):
            raise InvalidDPoPProof("proof_replayed")

    def _check_claims(
        self, claims: dict[str, Any], method: str, uri: str, token: str
    ) -> tuple[str, float]:
        """Check `htm`, `htu`, `iat`, `ath` and `nonce`; return the `jti` and `iat`."""
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
            raise InvalidDPoPProof("proof_bad_jti")
        if claims.get("htm") != method:
            raise InvalidDPoPProof("proof_htm_mismatch")
        htu = claims.get("htu")
        if not isinstance(htu, str) or normalized_uri(htu) != normalized_uri(uri):
            raise InvalidDPoPProof("proof_htu_mismatch")
        issued_at = claims.get("iat")
        # msgspec decodes JSON numbers as int or float; `true` is a bool, refused here.
        if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
            raise InvalidDPoPProof("proof_bad_iat")
        now = self._clock()
        if issued_at > now + self._leeway:
            raise InvalidDPoPProof("proof_iat_in_future")
        if now - issued_at > self._max_age:
            raise InvalidDPoPProof("proof_too_old")
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(ath, access_token_hash(token)):
            raise InvalidDPoPProof("proof_ath_mismatch")
        if self._nonces is not None:
            nonce = claims.get("nonce")
            if nonce is None:
                raise UseDPoPNonce("proof_nonce_missing", self._nonces.current())
            if not isinstance(nonce, str) or not self._nonces.is_valid(nonce):
                raise UseDPoPNonce("proof_nonce_stale", self._nonces.current())
        return jti, issued_at

    def _proof_key(self, segment: bytes) -> ProofKey:
        """The proof's `typ`, `alg` and `jwk`, checked; remembered per header segment.

        A client signs every proof with one key, so its proofs share one header segment:
        the public key is built and thumbprinted once, not on every request.
        """
        checked = self._keys.get(segment)
        if checked is not None:
            return checked
        try:
            header = JSON.decode(_b64decode(segment))
        except (ValueError, RecursionError):
            raise InvalidDPoPProof("proof_malformed") from None
        if not isinstance(header, dict):
            raise InvalidDPoPProof("proof_malformed")
        if header.get("typ") != TYPE:
            raise InvalidDPoPProof("proof_wrong_typ")
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._allowed:
            raise InvalidDPoPProof("proof_algorithm_not_allowed")
        if "crit" in header or "b64" in header:
            raise InvalidDPoPProof("proof_unsupported_header")
        checked = ProofKey(algorithm, *_public_key(header.get("jwk"), algorithm))
        if len(self._keys) >= MAX_CACHED_KEYS:
            self._keys.clear()
        self._keys[segment] = checked
        return checked


def _public_key(members: Any, algorithm: str) -> tuple[Key, str]:
    """The proof's public key and its thumbprint; private and symmetric keys are refused."""
    if not isinstance(members, dict):
        raise InvalidDPoPProof("proof_missing_jwk")
    if PRIVATE_MEMBERS & members.keys():
        raise InvalidDPoPProof("proof_jwk_private")
    key_type, curve = KEY_TYPES[algorithm]
    if members.get("kty") != key_type or members.get("crv", None) != curve:
        raise InvalidDPoPProof("proof_jwk_wrong_type")
    required = THUMBPRINT_MEMBERS[key_type]
    if not all(isinstance(members.get(name), str) for name in required):
        raise InvalidDPoPProof("proof_bad_jwk")
    if key_type == "RSA" and len(members["n"]) * 3 // 4 < MIN_RSA_MODULUS_BYTES:
        raise InvalidDPoPProof("proof_weak_key")
    public = {name: members[name] for name in required}
    try:
        key = jwk.construct(public, algorithm)
    # A hostile `jwk` reaches python-jose and cryptography in many shapes: all are refusals.
    except Exception:  # noqa: BLE001
        raise InvalidDPoPProof("proof_bad_jwk") from None
    return key, jwk_thumbprint(public)


def _verifies(key: Key, signing_input: bytes, signature: bytes) -> bool:
    try:
        return bool(key.verify(signing_input, signature))
    except Exception:  # noqa: BLE001 - malformed signatures raise in many shapes
        return False


def _payload(signing_input: bytes) -> dict[str, Any]:
    try:
        claims = JSON.decode(_b64decode(signing_input.partition(b".")[2]))
    except (ValueError, RecursionError):
        raise InvalidDPoPProof("proof_malformed") from None
    if not isinstance(claims, dict):
        raise InvalidDPoPProof("proof_malformed")
    return claims


def jwk_thumbprint(members: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url: what `cnf.jkt` holds."""
    required = THUMBPRINT_MEMBERS[members["kty"]]
    canonical = msgspec.json.encode({name: members[name] for name in sorted(required)})
    return _b64url(hashlib.sha256(canonical).digest())


def access_token_hash(token: str) -> str:
    """The proof's `ath`: base64url of the SHA-256 of the access token (RFC 9449 section 4.2)."""
    return _b64url(hashlib.sha256(token.encode("ascii")).digest())


def normalized_uri(uri: str) -> str | None:
    """`uri` without query and fragment, normalised as RFC 3986 section 6 says; None if unusable.

    Scheme and host lowercased, the default port dropped, percent-escapes of unreserved
    characters decoded and the others uppercased, dot segments removed, an empty path `/`.
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    if ":" in host:
        host = f"[{host}]"
    authority = host if port in {None, DEFAULT_PORTS[scheme]} else f"{host}:{port}"
    return f"{scheme}://{authority}{_normalized_path(parts.path)}"


def _normalized_path(path: str) -> str:
    path = PERCENT_ESCAPE.sub(_unescape_unreserved, path)
    output: list[str] = []
    segments = path.split("/")[1:] if path.startswith("/") else path.split("/")
    for index, segment in enumerate(segments):
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
            continue
        if index == len(segments) - 1:
            output.append("")
    return "/" + "/".join(output)


def _unescape_unreserved(match: re.Match[str]) -> str:
    code = int(match.group(1), 16)
    return chr(code) if code in UNRESERVED else f"%{match.group(1).upper()}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class NonceSource:
    """Server nonces derived from a secret and the time window: every worker knows them alike.

    A nonce names its window and carries an HMAC of it; one from the current or the previous
    window is accepted, so a nonce stays valid for one to two `lifetime`s.
    """

    def __init__(self, secret: bytes, lifetime: float, clock: Callable[[], float] = time.time):
        self._secret = secret
        self._lifetime = lifetime
        self._clock = clock

    def current(self) -> str:
        """The nonce of the current window, for `DPoP-Nonce`."""
        return self._nonce(self._window())

    def is_valid(self, nonce: str) -> bool:
        """Whether `nonce` is this server's, of the current or the previous window."""
        window_text, dot, _ = nonce.partition(".")
        if not dot or not 0 < len(window_text) <= 16 or not window_text.isalnum():
            return False
        try:
            window = int(window_text, 16)
        except ValueError:
            return False
        if self._window() - window not in {0, 1}:
            return False
        return hmac.compare_digest(nonce, self._nonce(window))

    def _window(self) -> int:
        return int(self._clock() // self._lifetime)

    def _nonce(self, window: int) -> str:
        mac = hmac.new(self._secret, b"dpop-nonce:%d" % window, hashlib.sha256).digest()
        return f"{window:x}.{_b64url(mac[:18])}"


class ReplayCache:
    """The `jti` of every proof accepted within its window, per key; at most `maxsize` kept.

    Per worker: another worker or replica does not see these. When full, the oldest entry
    is forgotten first, so size it for the proofs one worker accepts within `AUTH_DPOP_MAX_AGE`.
    """

    def __init__(self, maxsize: int, clock: Callable[[], float] = time.time) -> None:
        self._maxsize = maxsize
        self._clock = clock
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def first_use(self, key: tuple[str, str], expires_at: float) -> bool:
        """Record `key` until `expires_at`; False if it is already recorded and not expired."""
        now = self._clock()
        while self._seen:
            oldest, oldest_expiry = next(iter(self._seen.items()))
            if oldest_expiry > now:
                break
            del self._seen[oldest]
        previous = self._seen.get(key)
        if previous is not None and previous > now:
            return False
        if len(self._seen) >= self._maxsize:
            self._seen.popitem(last=False)
        self._seen[key] = expires_at
        return True
