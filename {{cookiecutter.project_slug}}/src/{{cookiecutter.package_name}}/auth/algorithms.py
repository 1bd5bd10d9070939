"""The signature algorithms the service accepts, and those python-jose lacks (PS*, EdDSA/Ed25519).

python-jose verifies RS* and ES* itself. RSASSA-PSS and Ed25519 are added through its
documented extension point, `jose.jwk.register_key`, so python-jose stays the one JWT library.
"""

from __future__ import annotations

from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jose import jwk
from jose.backends.base import Key
from jose.backends.cryptography_backend import CryptographyRSAKey
from jose.exceptions import JWKError
from jose.utils import base64url_decode, base64url_encode

from .ed25519 import check_public_key
from .rules import SUPPORTED_ALGORITHMS

__all__ = ("KEY_TYPES", "SUPPORTED_ALGORITHMS", "EdDSAKey", "RSAPSSKey", "same_algorithm")

# The JWK key type (and curve) that each algorithm needs: RFC 7518 section 3, RFC 8037.
KEY_TYPES: Final[dict[str, tuple[str, str | None]]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", "Ed25519"),
    "Ed25519": ("OKP", "Ed25519"),
}
# RFC 9864 names Ed25519 the fully specified algorithm that the polymorphic EdDSA meant.
_ALIASES: Final = {"Ed25519": "EdDSA"}


def same_algorithm(name: object, algorithm: str) -> bool:
    """Whether `name` (a JWK's `alg`, any JSON) denotes `algorithm` (`EdDSA` and `Ed25519` do)."""
    return type(name) is str and _ALIASES.get(name, name) == _ALIASES.get(algorithm, algorithm)


class RSAPSSKey(CryptographyRSAKey):
    """An RSA key for PS256/384/512: RSASSA-PSS with MGF1 and a salt as long as the digest."""

    def __init__(self, key: Any, algorithm: str) -> None:
        if algorithm not in {"PS256", "PS384", "PS512"}:
            raise JWKError(f"{algorithm} is not an RSASSA-PSS algorithm")
        super().__init__(key, "RS" + algorithm[2:])
        self._algorithm = algorithm
        digest = self.hash_alg()
        self._pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        key = self.prepared_key
        # python-jose's RSA key loads any PEM, an EC one included.
        if not isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
            raise JWKError("RSASSA-PSS needs an RSA key")
        self._public: rsa.RSAPublicKey = (
            key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
        )

    def sign(self, msg: bytes) -> bytes:
        try:
            signature: bytes = self.prepared_key.sign(msg, self._pss, self.hash_alg())
        except Exception as exc:
            raise JWKError(exc) from exc
        return signature

    def verify(self, msg: bytes, sig: bytes) -> bool:
        try:
            self._public.verify(sig, msg, self._pss, self.hash_alg())
        except InvalidSignature:
            return False
        return True


class EdDSAKey(Key):
    """An Ed25519 key for EdDSA (RFC 8037), from a JWK, a PEM or a `cryptography` key.

    A public key from a JWK or a PEM must be a point of the prime-order subgroup (`ed25519`).
    """

    def __init__(self, key: Any, algorithm: str) -> None:
        if not same_algorithm(algorithm, "EdDSA"):
            raise JWKError(f"{algorithm} is not EdDSA")
        self._key: Ed25519PrivateKey | Ed25519PublicKey = _load_ed25519(key)

    def sign(self, msg: bytes) -> bytes:
        if not isinstance(self._key, Ed25519PrivateKey):
            raise JWKError("signing needs a private key")
        return self._key.sign(msg)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        public = self._key.public_key() if isinstance(self._key, Ed25519PrivateKey) else self._key
        try:
            public.verify(sig, msg)
        except InvalidSignature:
            return False
        return True

    def public_key(self) -> EdDSAKey:
        if isinstance(self._key, Ed25519PrivateKey):
            return EdDSAKey(self._key.public_key(), "EdDSA")
        return self

    def to_dict(self) -> dict[str, Any]:
        public = self._key.public_key() if isinstance(self._key, Ed25519PrivateKey) else self._key
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "x": base64url_encode(raw).decode("ascii"),
        }


def _load_ed25519(key: Any) -> Ed25519PrivateKey | Ed25519PublicKey:
    if isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        return key
    if isinstance(key, dict):
        if key.get("kty") != "OKP" or key.get("crv") != "Ed25519":
            raise JWKError("EdDSA needs an OKP key on the Ed25519 curve")
        x = key.get("x")
        if not isinstance(x, str):
            raise JWKError("Ed25519 JWK has no 'x'")
        try:
            raw = base64url_decode(x.encode("ascii"))
            check_public_key(raw)
            return Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:  # UnicodeError included: `x` is not ASCII
            raise JWKError(exc) from exc
    if isinstance(key, str):
        key = key.encode("utf-8")
    if isinstance(key, bytes):
        try:
            loaded: object = (
                serialization.load_pem_private_key(key, password=None)
                if b"PRIVATE" in key
                else serialization.load_pem_public_key(key)
            )
        except ValueError as exc:
            raise JWKError(exc) from exc
        if isinstance(loaded, Ed25519PrivateKey):
            return loaded
        if isinstance(loaded, Ed25519PublicKey):
            raw = loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            try:
                check_public_key(raw)
            except ValueError as exc:
                raise JWKError(exc) from exc
            return loaded
    raise JWKError("not an Ed25519 key")


# Importing this module registers the key classes, once, for the whole process.
for _algorithm in ("PS256", "PS384", "PS512"):
    jwk.register_key(_algorithm, RSAPSSKey)
jwk.register_key("EdDSA", EdDSAKey)
jwk.register_key("Ed25519", EdDSAKey)
