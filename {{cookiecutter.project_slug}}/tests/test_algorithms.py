"""The accepted algorithms, and the PS* and EdDSA keys registered with python-jose."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import pytest
from cryptography.hazmat.primitives import hashes
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
            *("ES256", "ES384", "ES512", "EdDSA"),
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

    @pytest.mark.parametrize("algorithm", ["ES256", "RS256", "Ed25519"])
    def test_other_algorithm_is_refused(self, algorithm: str) -> None:
        """The key class serves EdDSA only."""
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
