"""Certificate-bound tokens (RFC 8705) behind a proxy that forwards the client certificate."""

from __future__ import annotations

import base64
import datetime
import hashlib
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from litestar.testing import AsyncTestClient

from {{ cookiecutter.package_name }}.auth.binding import certificate_thumbprint

from .conftest import auth_settings, build_app

if TYPE_CHECKING:
    from .conftest import IssuerStub, Keyring

HEADER: Final = "X-SSL-Client-Cert"


def certificate(name: str) -> bytes:
    """A self-signed client certificate, as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    built = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return built.public_bytes(serialization.Encoding.PEM)


def x5t_s256(pem: bytes) -> str:
    """`cnf.x5t#S256` of a PEM certificate: base64url SHA-256 of its DER."""
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def client_pem() -> bytes:
    """The client's certificate."""
    return certificate("client")


def nginx(pem: bytes) -> str:
    """The certificate as nginx's `$ssl_client_escaped_cert` sends it."""
    return quote(pem.decode(), safe="")


def envoy(*pems: bytes) -> str:
    """`X-Forwarded-Client-Cert` as Envoy sends it, one element per certificate."""
    return ",".join(
        f'By=spiffe://api.test;Hash=abc;Cert="{quote(pem.decode(), safe="")}";Subject="CN=x"'
        for pem in pems
    )


class TestCertificateBound:
    """A token with `cnf.x5t#S256` needs the forwarded certificate of that thumbprint."""

    @pytest.mark.parametrize("encode", [nginx, envoy], ids=["nginx", "envoy"])
    async def test_matching_certificate_is_served(
        self, stub: IssuerStub, keyring: Keyring, client_pem: bytes, encode: object
    ) -> None:
        """The forwarded certificate's thumbprint equals the token's: served."""
        assert callable(encode)
        app = build_app(stub, auth_settings(client_cert_header=HEADER))
        token = keyring.token(cnf={"x5t#S256": x5t_s256(client_pem)})
        async with AsyncTestClient(app) as client:
            headers = {"Authorization": f"Bearer {token}", HEADER: encode(client_pem)}
            response = await client.get("/protected", headers=headers)
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize(
        "forwarded",
        [
            pytest.param(lambda _pem: nginx(certificate("other")), id="another certificate"),
            pytest.param(lambda _pem: None, id="no certificate"),
            pytest.param(lambda _pem: "not%20a%20certificate", id="garbage"),
            pytest.param(lambda pem: nginx(pem + pem), id="two PEM blocks"),
            pytest.param(lambda pem: envoy(pem, pem), id="two XFCC elements"),
            pytest.param(lambda pem: nginx(pem) + "x" * 17000, id="too large"),
        ],
    )
    async def test_refused(
        self, stub: IssuerStub, keyring: Keyring, client_pem: bytes, forwarded: object
    ) -> None:
        """Any other forwarded value is a 401 `invalid_token`."""
        assert callable(forwarded)
        value = forwarded(client_pem)
        app = build_app(stub, auth_settings(client_cert_header=HEADER))
        token = keyring.token(cnf={"x5t#S256": x5t_s256(client_pem)})
        headers = {"Authorization": f"Bearer {token}", **({HEADER: value} if value else {})}
        async with AsyncTestClient(app) as client:
            response = await client.get("/protected", headers=headers)
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]

    async def test_refused_without_the_setting(
        self, stub: IssuerStub, keyring: Keyring, client_pem: bytes
    ) -> None:
        """Without `AUTH_CLIENT_CERT_HEADER` such tokens fail closed, even with the header sent."""
        app = build_app(stub, auth_settings())
        token = keyring.token(cnf={"x5t#S256": x5t_s256(client_pem)})
        async with AsyncTestClient(app) as client:
            headers = {"Authorization": f"Bearer {token}", HEADER: nginx(client_pem)}
            response = await client.get("/protected", headers=headers)
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]

    async def test_plain_tokens_need_no_certificate(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """With the setting, tokens without `cnf` are still served without a certificate."""
        app = build_app(stub, auth_settings(client_cert_header=HEADER))
        async with AsyncTestClient(app) as client:
            response = await client.get(
                "/protected", headers={"Authorization": f"Bearer {keyring.token()}"}
            )
        assert response.status_code == 200

    def test_thumbprint_of_nginx_and_envoy_forms_agree(self, client_pem: bytes) -> None:
        """Both encodings of one certificate give its `x5t#S256`."""
        expected = x5t_s256(client_pem)
        assert certificate_thumbprint(nginx(client_pem).encode()) == expected
        assert certificate_thumbprint(envoy(client_pem).encode()) == expected
