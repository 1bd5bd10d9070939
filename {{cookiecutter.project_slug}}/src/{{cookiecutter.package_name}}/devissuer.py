"""The embedded development issuer: local keys served as discovery + JWKS, for `dev` only.

`dev` runs `create_dev_app`, which mounts two read-only routes next to the service and points
`AUTH_ISSUER` at them, so the service fetches its keys over HTTP exactly as in production.
`token` signs with the same keys. The default app (`app.py`) and `serve` never mount any of it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jose import jwk, jwt
from litestar import Router, get

from .app import create_app
from .auth import SettingsError, load_auth_settings
from .auth.algorithms import KEY_TYPES, SUPPORTED_ALGORITHMS
from .auth.dpop import access_token_hash, jwk_thumbprint
from .logs import configure_logging
from .settings import load_service_settings

if TYPE_CHECKING:
    from litestar import Litestar

__all__ = (
    "DEV_ALGORITHMS",
    "ISSUER_PATH",
    "KEY_DIRECTORY",
    "DPoPKey",
    "DevKeys",
    "DevKeysError",
    "create_dev_app",
    "key_directory",
    "mint_token",
)

logger = logging.getLogger(__name__)

ISSUER_PATH: Final = "/dev-issuer"
KEY_DIRECTORY: Final = Path(".dev-issuer")
# The dev keys are RSA, EC P-256 and Ed25519: every supported algorithm those keys can sign.
DEV_KEY_TYPES: Final = frozenset({("RSA", None), ("EC", "P-256"), ("OKP", "Ed25519")})
DEV_ALGORITHMS: Final = tuple(
    name for name in SUPPORTED_ALGORITHMS if KEY_TYPES[name] in DEV_KEY_TYPES
)

_CONNECT_RETRIES: Final = 3  # connection attempts back off 0, 0.5 and 1 s: past the bind
_KEY_FILES: Final = {"rsa": "rsa.pem", "ec": "ec-p256.pem", "okp": "ed25519.pem"}


def issuer_url(host: str, port: int) -> str:
    """The issuer URL of the development issuer served by `dev` on `host:port`."""
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 - a bind-all address is not a URL host
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{ISSUER_PATH}"


class DevKeysError(Exception):
    """The development keys cannot be used safely; the message says how to fix it."""


def key_directory(start: Path | None = None) -> Path:
    """The project's `.dev-issuer/`: beside the nearest `pyproject.toml` at or above `start`.

    `dev` and `token` must find the same keys wherever they run; without a `pyproject.toml`
    above (an installed service), the working directory is used.
    """
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder / KEY_DIRECTORY
    return start / KEY_DIRECTORY


@dataclass(frozen=True, slots=True)
class DevKeys:
    """One private key per family (RSA, EC P-256, Ed25519), kept as PEM files on disk."""

    pems: dict[str, bytes]

    @classmethod
    def load_or_create(cls, directory: Path | None = None) -> DevKeys:
        """Read the keys from `directory`, generating any that are missing (tokens survive restarts).

        Raises:
            DevKeysError: the directory or a key file is readable or writable by other users.
        """
        directory = directory or key_directory()
        directory.mkdir(mode=0o700, exist_ok=True)
        _check_private(directory, "chmod 700")
        ignore = directory / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# Development signing keys: never commit them.\n*\n")
        pems = {}
        for family, name in _KEY_FILES.items():
            path = directory / name
            if not path.exists():
                _write_private(path, _generate(family))
            _check_private(path, "chmod 600")
            pems[family] = path.read_bytes()
        return cls(pems)

    def kid(self, family: str) -> str:
        """A key id derived from the public key, so regenerated keys get new ids."""
        public = _public_pem(self.pems[family])
        return f"dev-{family}-{hashlib.sha256(public).hexdigest()[:12]}"

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public JWKS document."""
        keys = []
        for family, algorithm in (("rsa", "RS256"), ("ec", "ES256"), ("okp", "EdDSA")):
            public = jwk.construct(self.pems[family], algorithm).public_key().to_dict()
            public.pop("alg", None)
            keys.append({**public, "kid": self.kid(family), "use": "sig"})
        return {"keys": keys}

    def sign(self, claims: dict[str, Any], algorithm: str) -> str:
        """A compact JWS of `claims`, with the `kid` of the key used."""
        family = {"RS": "rsa", "PS": "rsa", "ES": "ec", "Ed": "okp"}[algorithm[:2]]
        key = jwk.construct(self.pems[family], algorithm)
        return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": self.kid(family)})


def mint_token(
    keys: DevKeys,
    *,
    issuer: str,
    subject: str,
    scopes: tuple[str, ...] = (),
    roles: tuple[str, ...] = (),
    audience: tuple[str, ...] = (),
    lifetime: int = 3600,
    algorithm: str = "RS256",
    dpop_thumbprint: str | None = None,
) -> str:
    """A token the `dev` service accepts; bound to a DPoP key (`cnf.jkt`) if a thumbprint is given."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": issuer, "sub": subject, "iat": now, "exp": now + lifetime}
    if dpop_thumbprint:
        claims["cnf"] = {"jkt": dpop_thumbprint}
    if scopes:
        claims["scope"] = " ".join(scopes)
    if roles:
        claims["roles"] = list(roles)
    if audience:
        claims["aud"] = audience[0] if len(audience) == 1 else list(audience)
    return keys.sign(claims, algorithm)


@dataclass(frozen=True, slots=True)
class DPoPKey:
    """A client's DPoP key (EC P-256, ES256) kept as a PEM file: it signs proofs."""

    pem: bytes

    @classmethod
    def load_or_create(cls, path: Path) -> DPoPKey:
        """Read the key at `path`, creating it (mode 600) if missing.

        Raises:
            DevKeysError: the file is open to other users, or holds no EC P-256 private key.
        """
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_private(path, ec.generate_private_key(ec.SECP256R1()))
        _check_private(path, "chmod 600")
        pem = path.read_bytes()
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except ValueError as exc:
            raise DevKeysError(f"{path} holds no PEM private key ({exc})") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise DevKeysError(f"{path} is not an EC P-256 key; delete it to get a new one")
        return cls(pem)

    @property
    def public_jwk(self) -> dict[str, Any]:
        """The public JWK that proofs carry."""
        public: dict[str, Any] = jwk.construct(self.pem, "ES256").public_key().to_dict()
        public.pop("alg", None)
        return public

    @property
    def thumbprint(self) -> str:
        """The RFC 7638 thumbprint: the `cnf.jkt` of the tokens bound to this key."""
        return jwk_thumbprint(self.public_jwk)

    def proof(
        self, method: str, url: str, token: str | None = None, nonce: str | None = None
    ) -> str:
        """A DPoP proof (RFC 9449 section 4.2) for `method url`, presenting `token` if given."""
        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "htm": method.upper(),
            "htu": url.partition("#")[0].partition("?")[0],
            "iat": int(time.time()),
        }
        if token:
            claims["ath"] = access_token_hash(token)
        if nonce:
            claims["nonce"] = nonce
        headers = {"typ": "dpop+jwt", "jwk": self.public_jwk}
        key = jwk.construct(self.pem, "ES256")
        return jwt.encode(claims, key, algorithm="ES256", headers=headers)


def issuer_router(issuer: str, keys: DevKeys) -> Router:
    """Discovery document and JWKS of the development issuer (read-only, no auth)."""
    jwks = keys.jwks()
    discovery = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "id_token_signing_alg_values_supported": list(DEV_ALGORITHMS),
    }

    @get("/.well-known/openid-configuration", exclude_from_auth=True, sync_to_thread=False)
    def openid_configuration() -> dict[str, Any]:
        return discovery

    @get("/.well-known/jwks.json", exclude_from_auth=True, sync_to_thread=False)
    def jwks_document() -> dict[str, Any]:
        return jwks

    return Router(ISSUER_PATH, route_handlers=[openid_configuration, jwks_document])


def create_dev_app() -> Litestar:
    """The service plus the development issuer; `dev` sets `AUTH_ISSUER` to its URL first."""
    try:
        settings = load_auth_settings()
        service = load_service_settings()
    except SettingsError as exc:
        raise SystemExit(str(exc)) from None
    if not settings.issuer.endswith(ISSUER_PATH) or "AUTH_DEV_ISSUER" not in os.environ:
        raise SystemExit("create_dev_app is started by the `dev` command only.")
    configure_logging(service.log_format, service.log_level)
    logger.warning(
        "DEVELOPMENT ISSUER ACTIVE: tokens signed by local keys in %s/ are accepted. "
        "Never expose this server; use `serve` in production.",
        key_directory(),
    )
    try:
        keys = DevKeys.load_or_create()
    except DevKeysError as exc:
        raise SystemExit(str(exc)) from None
    return create_app(
        settings,
        service=service,
        # The first key fetch starts while uvicorn is still binding this very server: a refused
        # connection then means "not listening yet", so retry it rather than answer 503 at first.
        jwks_transport=httpx.AsyncHTTPTransport(retries=_CONNECT_RETRIES),
        route_handlers=[issuer_router(settings.issuer, keys)],
    )


def _check_private(path: Path, fix: str) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise DevKeysError(
            f"{path} is open to other users (mode {mode:o}), and it holds development signing "
            f"keys: anyone who reads them can mint accepted tokens. Run `{fix} {path}` "
            "(or delete the folder to get new keys), then try again."
        )


def _generate(
    family: str,
) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    if family == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if family == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def _write_private(
    path: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)


def _public_pem(private_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(private_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
