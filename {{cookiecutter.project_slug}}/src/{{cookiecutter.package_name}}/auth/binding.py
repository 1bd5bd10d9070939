"""Sender-constrained tokens: the proof a token's `cnf` asks for, checked on every request.

`cnf.jkt` (RFC 9449): the `DPoP` scheme with a proof signed by that key. `cnf.x5t#S256`
(RFC 8705): the client certificate a trusted TLS-terminating proxy forwards, of that thumbprint.
A bound token is never accepted as a plain bearer token, whatever the settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .dpop import NonceSource, ProofVerifier, ReplayCache
from .errors import DPoPKeyMismatch, DPoPRequired, InvalidDPoPProof, InvalidToken, MissingToken

if TYPE_CHECKING:
    from collections.abc import Iterable

    from litestar.types import Scope

    from .errors import AuthError
    from .principal import Principal
    from .settings import AuthSettings

__all__ = ("DPOP", "Scheme", "SenderBinding", "certificate_thumbprint")

Scheme = Literal["bearer", "dpop"]
DPOP: Final[Scheme] = "dpop"
Mode = Literal["allowed", "required", "off"]

DPOP_HEADER: Final = b"dpop"
MAX_CERTIFICATE_HEADER_BYTES: Final = 16384
# Envoy's X-Forwarded-Client-Cert: `By=...;Hash=...;Cert="<URL-encoded PEM>"`, one element per hop.
XFCC_CERT: Final = re.compile(r'(?:^|[;,])\s*Cert="?([^";,]*)"?', re.IGNORECASE)
QUOTED: Final = re.compile(r'"[^"]*"')


class SenderBinding:
    """What a presented token must prove beyond its signature, and how refusals challenge."""

    def __init__(
        self,
        mode: Mode = "off",
        proofs: ProofVerifier | None = None,
        *,
        public_url: str | None = None,
        certificate_header: str | None = None,
    ) -> None:
        """The defaults refuse every bound token: no DPoP, no forwarded certificate."""
        self.mode: Mode = mode if proofs is not None else "off"
        self.offers_dpop = self.mode != "off"
        self._required = self.mode == "required"
        self._proofs = proofs
        self._public_url = public_url
        self._certificate_header = (
            certificate_header.lower().encode() if certificate_header else None
        )

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> SenderBinding:
        """The binding rules the `AUTH_DPOP*`, `AUTH_PUBLIC_URL` and `AUTH_CLIENT_CERT_HEADER` say."""
        secret = settings.dpop_nonce_secret
        nonces = (
            NonceSource(secret.get_secret_value().encode(), settings.dpop_nonce_lifetime)
            if settings.dpop_nonce and secret is not None
            else None
        )
        proofs = ProofVerifier(
            settings.dpop_algorithms,
            max_age=settings.dpop_max_age,
            leeway=settings.leeway,
            replays=ReplayCache(settings.dpop_replay_cache_size),
            nonces=nonces,
        )
        return cls(
            settings.dpop,
            proofs,
            public_url=settings.public_url,
            certificate_header=settings.client_cert_header,
        )

    def check(self, scope: Scope, scheme: Scheme, token: str, principal: Principal) -> None:
        """Refuse the request unless it proves what the token's `cnf` binds it to.

        Raises:
            InvalidToken: a malformed or unsupported `cnf`, or no matching certificate.
            DPoPRequired: a DPoP-bound token (or any, in `required` mode) sent as a bearer token.
            DPoPKeyMismatch: a DPoP proof of another key, or a DPoP proof with an unbound token.
            InvalidDPoPProof, UseDPoPNonce: the proof is refused.
        """
        confirmation = principal.claims.get("cnf")
        # The hot path: a plain bearer token where bearer tokens are accepted.
        if confirmation is None and scheme != DPOP and not self._required:
            return
        if confirmation is None:
            if scheme == DPOP:
                raise DPoPKeyMismatch("token_not_dpop_bound")
            raise DPoPRequired("dpop_required")
        if not isinstance(confirmation, dict) or not {"jkt", "x5t#S256"} & confirmation.keys():
            # RFC 7800 allows other confirmation methods; one we cannot check is refused.
            raise InvalidToken("unsupported_cnf")
        thumbprint = confirmation.get("jkt")
        certificate = confirmation.get("x5t#S256")
        if certificate is not None:
            self._check_certificate(scope, certificate)
        if scheme != DPOP:
            if thumbprint is not None and not self.offers_dpop:
                raise InvalidToken("dpop_bound_token_as_bearer")
            if thumbprint is not None:
                raise DPoPRequired("dpop_bound_token_as_bearer")
            if self._required:
                raise DPoPRequired("dpop_required")
            return
        if thumbprint is None:
            raise DPoPKeyMismatch("token_not_dpop_bound")
        if not isinstance(thumbprint, str):
            raise InvalidToken("malformed_cnf")
        if self._proofs is None:  # the DPoP scheme is only parsed when offered
            raise MissingToken("not_bearer_scheme")
        self._proofs.check(
            _one_proof(scope["headers"]),
            # A WebSocket handshake is a GET (RFC 6455 section 4.1).
            method=str(scope.get("method", "GET")),
            uri=self._request_uri(scope),
            token=token,
            thumbprint=thumbprint,
        )

    def www_authenticate(
        self, error: AuthError, realm: str, scheme: Scheme | None, **params: str
    ) -> str:
        """The challenges of a refusal: the error on the scheme the client must use.

        Bearer clients of an `allowed` service keep the plain Bearer challenge; a DPoP
        client, a DPoP error or a `required` service get the DPoP challenge (RFC 9449 7.1),
        followed in `allowed` mode by the Bearer challenge beside it.
        """
        if self._proofs is None or self.mode == "off":
            return error.challenge(realm, **params)
        if not (scheme == DPOP or error.dpop or self._required):
            return error.challenge(realm, **params)
        dpop = error.dpop_challenge(realm, " ".join(self._proofs.algorithms), **params)
        if self._required:
            return dpop
        return f"{dpop}, {MissingToken('').challenge(realm, **params)}"

    def _request_uri(self, scope: Scope) -> str:
        """The URI the proof must name: the configured public URL, else the bound address.

        Never the `Host` or `X-Forwarded-*` headers: a client chooses them, and a proof
        made for another server would then pass here.
        """
        path = scope.get("raw_path") or scope["path"].encode("utf-8")
        path_text = path.decode("latin-1").partition("?")[0]
        if self._public_url is not None:
            return self._public_url + path_text
        server = scope.get("server")
        if not server or server[1] is None:
            raise InvalidDPoPProof("htu_unknown_set_auth_public_url")
        host, port = server
        host = f"[{host}]" if ":" in host else host
        return f"{scope['scheme']}://{host}:{port}{path_text}"

    def _check_certificate(self, scope: Scope, expected: object) -> None:
        if self._certificate_header is None:
            raise InvalidToken("certificate_bound_token_without_client_cert_header")
        if not isinstance(expected, str):
            raise InvalidToken("malformed_cnf")
        values = [value for name, value in scope["headers"] if name == self._certificate_header]
        if not values:
            raise InvalidToken("client_certificate_missing")
        if len(values) > 1:
            raise InvalidToken("several_client_certificates")
        thumbprint = certificate_thumbprint(values[0])
        if thumbprint is None:
            raise InvalidToken("client_certificate_malformed")
        if not hmac.compare_digest(thumbprint, expected):
            raise InvalidToken("client_certificate_mismatch")


def _one_proof(headers: Iterable[tuple[bytes, bytes]]) -> str:
    proofs = [value for name, value in headers if name.lower() == DPOP_HEADER]
    if not proofs:
        raise InvalidDPoPProof("proof_missing")
    if len(proofs) > 1:
        raise InvalidDPoPProof("several_proofs")
    return proofs[0].decode("latin-1")


def certificate_thumbprint(value: bytes) -> str | None:
    """The `x5t#S256` of a forwarded certificate; None unless it holds exactly one certificate.

    Takes URL-encoded PEM as nginx sends it (`$ssl_client_escaped_cert`), or Envoy's
    `X-Forwarded-Client-Cert` with one element and its `Cert="..."` field.
    """
    if len(value) > MAX_CERTIFICATE_HEADER_BYTES:
        return None
    text = value.decode("latin-1").strip()
    if not text.startswith(("-----", "%2D", "%2d")):
        fields = XFCC_CERT.findall(text)
        # Several elements (one per proxy hop): which one is the client's is not ours to guess.
        if len(fields) != 1 or "," in QUOTED.sub("", text):
            return None
        text = fields[0]
    pem = unquote(text)
    if pem.count("-----BEGIN") != 1:
        return None
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode("latin-1"))
    except ValueError:
        return None
    der = certificate.public_bytes(Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")
