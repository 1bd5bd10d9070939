"""The accepted algorithms, and the PS* and EdDSA keys registered with python-jose."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from jose import jwk, jws
from jose.exceptions import JWKError, JWSError
from jose.utils import base64url_decode

from {{ cookiecutter.package_name }}.auth.algorithms import (
    KEY_TYPES,
    SUPPORTED_ALGORITHMS,
    EdDSAKey,
    RSAPSSKey,
)
from {{ cookiecutter.package_name }}.auth.ed25519 import check_public_key

from .conftest import RSA_ALGORITHMS, SigningKey, b64url

if TYPE_CHECKING:
    from .conftest import Keyring

# RFC 8037 appendix A.1 (the key) and A.4 (an Ed25519 signature over "Example of Ed25519 signing").
RFC8037_D: Final = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X: Final = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_JWS: Final = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)
RFC8037_PUBLIC: Final = {"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X}
PSS_ALGORITHMS: Final = ("PS256", "PS384", "PS512")
DIGESTS: Final[dict[str, hashes.HashAlgorithm]] = {
    "PS256": hashes.SHA256(),
    "PS384": hashes.SHA384(),
    "PS512": hashes.SHA512(),
}


class TestAllowList:
    """Which algorithms exist at all."""

    def test_supported_algorithms_are_asymmetric_signatures_only(self) -> None:
        """HS* and none are never supported: a JWKS is public, so a shared secret cannot be in it."""
        assert set(SUPPORTED_ALGORITHMS) == {
            *("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
            *("ES256", "ES384", "ES512", "EdDSA", "Ed25519"),
        }

    def test_every_algorithm_names_its_key_type(self) -> None:
        """Each supported algorithm maps to the JWK key type and curve RFC 7518/8037 assign it."""
        assert set(KEY_TYPES) == set(SUPPORTED_ALGORITHMS)
        assert KEY_TYPES["ES512"] == ("EC", "P-521")
        assert KEY_TYPES["EdDSA"] == ("OKP", "Ed25519")
        assert {KEY_TYPES[alg] for alg in RSA_ALGORITHMS} == {("RSA", None)}

    @pytest.mark.parametrize(
        ("algorithm", "key_class"),
        [*((alg, RSAPSSKey) for alg in PSS_ALGORITHMS), ("EdDSA", EdDSAKey)],
    )
    def test_added_algorithms_are_registered_with_python_jose(
        self, algorithm: str, key_class: type[Any]
    ) -> None:
        """Importing the package registers PS* and EdDSA, so `jwk.construct` builds their keys."""
        assert jwk.get_key(algorithm) is key_class


class TestEdDSAKey:
    """Ed25519 signatures (RFC 8037)."""

    def test_rfc8037_signature_verifies(self) -> None:
        """The RFC 8037 A.4 example verifies with the A.1 public key."""
        key = jwk.construct(dict(RFC8037_PUBLIC), "EdDSA")
        assert jws.verify(RFC8037_JWS, key, algorithms=["EdDSA"]) == b"Example of Ed25519 signing"

    def test_rfc8037_signature_is_reproduced(self) -> None:
        """Signing the A.4 input with the A.1 private key yields the RFC's signature byte for byte."""
        private = ed25519.Ed25519PrivateKey.from_private_bytes(
            base64url_decode(RFC8037_D.encode("ascii"))
        )
        header, payload, signature = RFC8037_JWS.split(".")
        key = EdDSAKey(private, "EdDSA")
        assert key.sign(f"{header}.{payload}".encode("ascii")) == base64url_decode(
            signature.encode("ascii")
        )

    def test_rfc8037_public_key_round_trips(self) -> None:
        """A public key built from the A.1 JWK exports the same JWK, with alg EdDSA."""
        assert EdDSAKey(dict(RFC8037_PUBLIC), "EdDSA").to_dict() == {
            **RFC8037_PUBLIC,
            "alg": "EdDSA",
        }

    def test_tampered_message_is_refused(self) -> None:
        """A signature over one payload does not verify another."""
        header, _, signature = RFC8037_JWS.split(".")
        forged = f"{header}.{b64url('Example of Ed25519 signinG')}.{signature}"
        with pytest.raises(JWSError):
            jws.verify(forged, EdDSAKey(dict(RFC8037_PUBLIC), "EdDSA"), algorithms=["EdDSA"])

    def test_private_pem_signs_and_public_pem_verifies(self, keyring: Keyring) -> None:
        """PEM keys work in both roles."""
        signer = EdDSAKey(keyring.ed25519.private_pem, "EdDSA")
        verifier = EdDSAKey(keyring.ed25519.public_pem, "EdDSA")
        assert verifier.verify(b"message", signer.sign(b"message"))
        assert not verifier.verify(b"other message", signer.sign(b"message"))

    def test_public_key_of_private_key_verifies(self, keyring: Keyring) -> None:
        """`public_key()` of a private key verifies what the private key signs."""
        signer = EdDSAKey(keyring.ed25519.private_pem, "EdDSA")
        public = signer.public_key()
        assert public.verify(b"message", signer.sign(b"message"))
        assert public.to_dict() == signer.to_dict()

    def test_public_key_cannot_sign(self) -> None:
        """Signing with a public key raises `JWKError`."""
        with pytest.raises(JWKError, match="private key"):
            EdDSAKey(dict(RFC8037_PUBLIC), "EdDSA").sign(b"message")

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param({**RFC8037_PUBLIC, "crv": "Ed448"}, id="Ed448-curve"),
            pytest.param({**RFC8037_PUBLIC, "crv": "X25519"}, id="X25519-curve"),
            pytest.param({**RFC8037_PUBLIC, "kty": "EC"}, id="EC-key-type"),
            pytest.param({"kty": "OKP", "crv": "Ed25519"}, id="no-x"),
            pytest.param({**RFC8037_PUBLIC, "x": 12}, id="x-not-a-string"),
            pytest.param({**RFC8037_PUBLIC, "x": RFC8037_X[:20]}, id="x-too-short"),
            pytest.param(
                b"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----", id="bad-pem"
            ),
            pytest.param(12345, id="an-integer"),
        ],
    )
    def test_unusable_key_material_is_refused(self, data: Any) -> None:
        """Anything but an Ed25519 key raises `JWKError`."""
        with pytest.raises(JWKError):
            EdDSAKey(data, "EdDSA")

    def test_pem_of_another_key_type_is_refused(self, keyring: Keyring) -> None:
        """An RSA PEM is not an Ed25519 key."""
        with pytest.raises(JWKError, match="not an Ed25519 key"):
            EdDSAKey(keyring.rsa.public_pem, "EdDSA")

    @pytest.mark.parametrize("algorithm", ["ES256", "RS256", "Ed448", "eddsa"])
    def test_other_algorithm_is_refused(self, algorithm: str) -> None:
        """The key class serves EdDSA (and its RFC 9864 name Ed25519) only."""
        with pytest.raises(JWKError, match="not EdDSA"):
            EdDSAKey(dict(RFC8037_PUBLIC), algorithm)


class TestRSAPSSKey:
    """RSASSA-PSS signatures (RFC 7518 section 3.5)."""

    @pytest.mark.parametrize("algorithm", PSS_ALGORITHMS)
    def test_signature_round_trips_between_private_and_public_key(
        self, keyring: Keyring, algorithm: str
    ) -> None:
        """A PS* signature made with the private key verifies with the public JWK."""
        signature = RSAPSSKey(keyring.rsa.private_pem, algorithm).sign(b"message")
        public = jwk.construct(keyring.rsa.jwk(), algorithm)
        assert isinstance(public, RSAPSSKey)
        assert public.verify(b"message", signature)
        assert not public.verify(b"massage", signature)

    @pytest.mark.parametrize("algorithm", PSS_ALGORITHMS)
    def test_salt_as_long_as_the_digest_interoperates(
        self, keyring: Keyring, algorithm: str
    ) -> None:
        """A signature made by `cryptography` with MGF1 and a digest-sized salt verifies."""
        private = _private_rsa(keyring.rsa)
        digest = DIGESTS[algorithm]
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        signature = private.sign(b"message", pss, digest)
        assert RSAPSSKey(keyring.rsa.public_pem, algorithm).verify(b"message", signature)

    @pytest.mark.parametrize("algorithm", PSS_ALGORITHMS)
    def test_other_salt_length_is_refused(self, keyring: Keyring, algorithm: str) -> None:
        """RFC 7518 fixes the salt length; a maximum-length salt does not verify."""
        private = _private_rsa(keyring.rsa)
        digest = DIGESTS[algorithm]
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=padding.PSS.MAX_LENGTH)
        signature = private.sign(b"message", pss, digest)
        assert not RSAPSSKey(keyring.rsa.public_pem, algorithm).verify(b"message", signature)

    @pytest.mark.parametrize("algorithm", PSS_ALGORITHMS)
    def test_pkcs1_signature_is_refused(self, keyring: Keyring, algorithm: str) -> None:
        """An RS* (PKCS #1 v1.5) signature does not pass as PS*."""
        private = _private_rsa(keyring.rsa)
        signature = private.sign(b"message", padding.PKCS1v15(), DIGESTS[algorithm])
        assert not RSAPSSKey(keyring.rsa.public_pem, algorithm).verify(b"message", signature)

    @pytest.mark.parametrize("algorithm", ["RS256", "ES256", "PS"])
    def test_other_algorithm_is_refused(self, keyring: Keyring, algorithm: str) -> None:
        """The key class serves PS256, PS384 and PS512 only."""
        with pytest.raises(JWKError, match="not an RSASSA-PSS algorithm"):
            RSAPSSKey(keyring.rsa.public_pem, algorithm)

    def test_public_key_cannot_sign(self, keyring: Keyring) -> None:
        """Signing with a public key raises `JWKError`."""
        with pytest.raises(JWKError):
            RSAPSSKey(keyring.rsa.public_pem, "PS256").sign(b"message")

    def test_ec_key_is_refused(self, keyring: Keyring) -> None:
        """An EC key, as JWK or PEM, is not an RSA key."""
        with pytest.raises(JWKError):
            RSAPSSKey(keyring.p256.jwk(), "PS256")
        with pytest.raises(JWKError):
            RSAPSSKey(keyring.p256.public_pem, "PS256")


def _private_rsa(key: SigningKey) -> rsa.RSAPrivateKey:
    assert isinstance(key.private, rsa.RSAPrivateKey)
    return key.private


P: Final = 2**255 - 19


def encoding(y: int, sign: int = 0) -> bytes:
    """The 32-byte Ed25519 encoding of y (little-endian) with the sign bit of x."""
    return (y | sign << 255).to_bytes(32, "little")


# Every point of order 1, 2, 4 and 8, as libsodium's blocklist spells them (canonical or not).
SMALL_ORDER: Final = {
    "identity": encoding(1),
    "order-2": encoding(P - 1),
    "order-4": encoding(0),
    "order-4-negative": encoding(0, sign=1),
    "order-8-a": bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    "order-8-b": bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    "order-8-a-negative": bytes.fromhex(
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"
    ),
}
NOT_CANONICAL: Final = {
    "y-is-p": encoding(P),  # the order-4 point's y, plus p
    "y-is-p-plus-1": encoding(P + 1),  # the identity's y, plus p
    "y-is-2^255-1": encoding(2**255 - 1),
    "identity-with-sign-bit": encoding(1, sign=1),
    "order-2-with-sign-bit": encoding(P - 1, sign=1),
}
# The RFC 8032 base point B plus the order-8 point `order-8-a`: on the curve, of order 8 * L.
MIXED_ORDER: Final = bytes.fromhex(
    "da99e28ba529cdde35a25fba9059e78ecaee239f99755b9b1aa4f65df00803e2"
)
BASE_POINT: Final = bytes.fromhex(
    "5866666666666666666666666666666666666666666666666666666666666666"
)


def not_on_curve() -> bytes:
    """The smallest y for which no x exists: (y^2 - 1) / (d y^2 + 1) is not a square mod p."""
    d = -121665 * pow(121666, -1, P) % P
    for y in range(2, 100):
        u, v = (y * y - 1) % P, (d * y * y + 1) % P
        ratio = u * pow(v, -1, P) % P
        if pow(ratio, (P - 1) // 2, P) == P - 1:  # Euler's criterion: not a square
            return encoding(y)
    raise AssertionError("every small y is on the curve")


def okp(raw: bytes) -> dict[str, str]:
    """An Ed25519 JWK of the 32 bytes `raw`."""
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}


class TestDegenerateEd25519Keys:
    """Public keys outside the prime-order subgroup, or spelled non-canonically, are refused."""

    def test_identity_key_would_verify_a_forged_signature(self) -> None:
        """Why the check exists: OpenSSL verifies `01 00..00` against the identity as public key."""
        identity = ed25519.Ed25519PublicKey.from_public_bytes(SMALL_ORDER["identity"])
        identity.verify(encoding(1) + bytes(32), b"any message at all")

    @pytest.mark.parametrize("raw", SMALL_ORDER.values(), ids=SMALL_ORDER.keys())
    def test_small_order_key_is_refused(self, raw: bytes) -> None:
        """A point of order 1, 2, 4 or 8 is no public key."""
        with pytest.raises(ValueError, match="not in the prime-order subgroup"):
            check_public_key(raw)
        with pytest.raises(JWKError):
            EdDSAKey(okp(raw), "EdDSA")

    @pytest.mark.parametrize("raw", NOT_CANONICAL.values(), ids=NOT_CANONICAL.keys())
    def test_non_canonical_encoding_is_refused(self, raw: bytes) -> None:
        """y >= p, or x = 0 with the sign bit set, is refused as not canonical."""
        with pytest.raises(ValueError, match="not canonical"):
            check_public_key(raw)

    def test_point_off_the_curve_is_refused(self) -> None:
        """A y with no matching x is not a point."""
        with pytest.raises(ValueError, match="not a point on the curve"):
            check_public_key(not_on_curve())

    def test_mixed_order_key_is_refused(self) -> None:
        """A genuine point plus a point of order 8 is on the curve but outside the subgroup."""
        with pytest.raises(ValueError, match="not in the prime-order subgroup"):
            check_public_key(MIXED_ORDER)

    @pytest.mark.parametrize("size", [0, 31, 33, 64])
    def test_wrong_length_is_refused(self, size: int) -> None:
        """An Ed25519 public key is exactly 32 bytes."""
        with pytest.raises(ValueError, match="is 32 bytes"):
            check_public_key(b"\x01" * size)

    def test_genuine_keys_are_accepted(self, keyring: Keyring) -> None:
        """The base point, the RFC 8037 key and freshly generated keys pass."""
        check_public_key(BASE_POINT)
        check_public_key(base64url_decode(RFC8037_X.encode()))
        for _ in range(20):
            private = ed25519.Ed25519PrivateKey.generate()
            check_public_key(private.public_key().public_bytes_raw())

    def test_degenerate_public_pem_is_refused(self) -> None:
        """The identity point as a SubjectPublicKeyInfo PEM is refused too."""
        identity = ed25519.Ed25519PublicKey.from_public_bytes(SMALL_ORDER["identity"])
        pem = identity.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        with pytest.raises(JWKError, match="prime-order subgroup"):
            EdDSAKey(pem, "EdDSA")
