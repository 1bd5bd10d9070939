"""Shared fixtures: signing keys, a stub issuer behind `httpx.MockTransport`, settings, a fake clock."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import gzip
import inspect
import json
import logging
import os
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jose import jwk, jws, jwt
from litestar import get
from litestar.testing import AsyncTestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.auth import AuthSettings, IssuerRegistry, KeySet, TokenVerifier
from {{ cookiecutter.package_name }}.auth.algorithms import (
    KEY_TYPES,
    SUPPORTED_ALGORITHMS,
)
from {{ cookiecutter.package_name }}.auth.jwks import MAX_DOCUMENT_BYTES
from {{ cookiecutter.package_name }}.settings import ServiceSettings

if TYPE_CHECKING:
    from collections.abc import (
        AsyncIterator,
        Awaitable,
        Callable,
        Iterable,
        Iterator,
        Mapping,
        Sequence,
    )

    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
    from jose.backends.base import Key
    from litestar import Litestar
    from litestar.types import ControllerRouterHandler

    Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]

ISSUER: Final = "https://issuer.test"
AUDIENCE: Final = "https://api.test"
REALM: Final = "tests"
DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
JWKS_PATH: Final = "/keys"
FALLBACK_JWKS_PATH: Final = "/.well-known/jwks.json"
JWKS_PATHS: Final = (JWKS_PATH, FALLBACK_JWKS_PATH)

ALGORITHMS: Final = SUPPORTED_ALGORITHMS
RSA_ALGORITHMS: Final = tuple(alg for alg in ALGORITHMS if KEY_TYPES[alg][0] == "RSA")
KIDS: Final = ("rsa-1", "p256-1", "p384-1", "p521-1", "ed25519-1")
"""The kids the stub issuer publishes by default."""

OMIT: Final[Any] = object()
"""A claim or header value meaning "leave this member out"."""


def b64url(data: bytes | str) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def claims(*, now: float | None = None, lifetime: float = 300, **overrides: Any) -> dict[str, Any]:
    """Claims that pass the default policy, with `overrides` applied (`OMIT` drops a claim)."""
    issued = int(time.time() if now is None else now)
    values: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + int(lifetime),
        "scope": "read",
        **overrides,
    }
    return {name: value for name, value in values.items() if value is not OMIT}


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key of the issuer and the public JWK it publishes."""

    kid: str
    private: PrivateKeyTypes
    public_jwk: dict[str, Any]
    _signers: dict[str, Key] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def generate(cls, kid: str, private: PrivateKeyTypes) -> SigningKey:
        """Wrap a `cryptography` private key; the JWK carries `kid` and no `alg`."""
        algorithm = "EdDSA" if isinstance(private, ed25519.Ed25519PrivateKey) else "RS256"
        if isinstance(private, ec.EllipticCurvePrivateKey):
            algorithm = {256: "ES256", 384: "ES384", 521: "ES512"}[private.curve.key_size]
        public = _key(private, algorithm).public_key().to_dict()
        public.pop("alg")
        return cls(kid, private, {**public, "kid": kid})

    @property
    def private_pem(self) -> bytes:
        """The private key as PKCS #8 PEM."""
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self, **members: Any) -> dict[str, Any]:
        """The public JWK with `members` added or replaced (`OMIT` drops one)."""
        merged = {**self.public_jwk, **members}
        return {name: value for name, value in merged.items() if value is not OMIT}

    def sign(self, payload: Mapping[str, Any] | bytes, algorithm: str, **headers: Any) -> str:
        """A token signed with this key: `kid` is this key's unless overridden (`OMIT` drops it)."""
        merged = {"kid": self.kid, **headers}
        header = {name: value for name, value in merged.items() if value is not OMIT}
        signer = self._signers.get(algorithm)
        if signer is None:
            signer = self._signers[algorithm] = _key(self.private, algorithm)
        if isinstance(payload, bytes):
            return jws.sign(payload, signer, headers=header, algorithm=algorithm)
        return jwt.encode(dict(payload), signer, algorithm=algorithm, headers=header)


def _key(private: PrivateKeyTypes, algorithm: str) -> Key:
    """python-jose's key for `algorithm`, built from the `cryptography` key object.

    Faster than from PEM (which re-checks an RSA key each time), and built once per algorithm.
    """
    key_class = jwk.get_key(algorithm)
    assert key_class is not None, algorithm
    return key_class(private, algorithm)


@dataclass(frozen=True, slots=True)
class Keyring:
    """Every key the tests sign with; generated once per session."""

    published: tuple[SigningKey, ...]
    """What the stub issuer publishes by default: RSA-2048, P-256, P-384, P-521, Ed25519."""
    impostors: tuple[SigningKey, ...]
    """Unpublished keys of the same types carrying the same kids: an attacker's keys."""
    rsa_next: SigningKey
    """An RSA key not published at first: the key an issuer rotates to (kid `rsa-2`)."""

    @property
    def rsa(self) -> SigningKey:
        """The published RSA key (`rsa-1`)."""
        return self.published[0]

    @property
    def p256(self) -> SigningKey:
        """The published P-256 key (`p256-1`)."""
        return self.published[1]

    @property
    def ed25519(self) -> SigningKey:
        """The published Ed25519 key (`ed25519-1`)."""
        return self.published[4]

    def for_algorithm(self, algorithm: str) -> SigningKey:
        """The published key that signs `algorithm`."""
        return self.published[_family(algorithm)]

    def impostor_for(self, algorithm: str) -> SigningKey:
        """An unpublished key for `algorithm` that claims the published key's kid."""
        return self.impostors[_family(algorithm)]

    def token(self, algorithm: str = "RS256", **overrides: Any) -> str:
        """A valid token signed for `algorithm`; `overrides` go to `claims()`."""
        return self.for_algorithm(algorithm).sign(claims(**overrides), algorithm)


_FAMILIES: Final = (
    ("RSA", None),
    ("EC", "P-256"),
    ("EC", "P-384"),
    ("EC", "P-521"),
    ("OKP", "Ed25519"),
)


def _family(algorithm: str) -> int:
    return _FAMILIES.index(KEY_TYPES[algorithm])


def _private_keys() -> list[PrivateKeyTypes]:
    return [
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP384R1()),
        ec.generate_private_key(ec.SECP521R1()),
        ed25519.Ed25519PrivateKey.generate(),
    ]


@pytest.fixture(scope="session")
def keyring() -> Keyring:
    """Keys for every algorithm family, generated once for the whole run."""
    return Keyring(
        published=tuple(map(SigningKey.generate, KIDS, _private_keys())),
        impostors=tuple(map(SigningKey.generate, KIDS, _private_keys())),
        rsa_next=SigningKey.generate(
            "rsa-2", rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ),
    )


Fault = Literal[
    "down",
    "error",
    "html",
    "not_json",
    "not_object",
    "no_keys",
    "huge",
    "redirect",
    "gzip_bomb",
    "stacked_gzip",
    "brotli",
    "nested",
    "too_many_keys",
]
"""A way for the stub issuer to fail every request."""

FAULTS: Final[tuple[Fault, ...]] = get_args(Fault)


BOMB_BYTES: Final = 16 * 1024 * 1024


@functools.cache
def gzip_bomb() -> bytes:
    """A gzip stream of 16 MiB of JSON whitespace: about 16 KiB on the wire, 64 times the limit."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * (1024 * 1024)
    body = b"".join(compressor.compress(block) for _ in range(BOMB_BYTES // len(block)))
    return body + compressor.flush()


_JSON: Final = {"Content-Type": "application/json"}
_GARBAGE: Final[dict[Fault, Callable[[], httpx.Response]]] = {
    "error": lambda: httpx.Response(500, text="internal error"),
    "html": lambda: httpx.Response(200, html="<html><body>Sign in</body></html>"),
    "not_json": lambda: httpx.Response(200, content=b'{"keys": [', headers=_JSON),
    "not_object": lambda: httpx.Response(200, json=[{"keys": []}]),
    "no_keys": lambda: httpx.Response(200, json={"issuer": ISSUER, "kid": "rsa-1"}),
    "huge": lambda: httpx.Response(200, json={"keys": [], "padding": "x" * MAX_DOCUMENT_BYTES}),
    "redirect": lambda: httpx.Response(302, headers={"Location": "https://elsewhere.test/keys"}),
    "gzip_bomb": lambda: raw_response(200, gzip_bomb(), {**_JSON, "Content-Encoding": "gzip"}),
    "stacked_gzip": lambda: raw_response(
        200, gzip.compress(gzip_bomb()), {**_JSON, "Content-Encoding": "gzip, gzip"}
    ),
    "brotli": lambda: raw_response(200, b"\x0b\x02\x80{}\x03", {**_JSON, "Content-Encoding": "br"}),
    "nested": lambda: raw_response(200, b'{"keys": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", _JSON),
    "too_many_keys": lambda: raw_response(200, b'{"keys": [' + b"1," * 99_999 + b"1]}", _JSON),
}


class IssuerStub:
    """A fake issuer: discovery document and JWKS behind `httpx.MockTransport`, counting requests.

    The JWKS is served at `JWKS_PATH` (named by discovery) and at `FALLBACK_JWKS_PATH`.
    """

    def __init__(self, keys: Iterable[Mapping[str, Any]], issuer: str = ISSUER) -> None:
        self.issuer = issuer
        """The issuer URL this stub answers for (its host is the stub's)."""
        self.keys: list[Mapping[str, Any]] = list(keys)
        """The JWKS `keys` list; tests replace or extend it to rotate keys."""
        self.discovery = True
        """Serve the OpenID discovery document; when False its path answers 404."""
        self.discovered_issuer = issuer
        """The `issuer` the discovery document names."""
        self.discovered_jwks_uri = issuer + JWKS_PATH
        """The `jwks_uri` the discovery document names."""
        self.fault: Fault | None = None
        """Fail every request this way until reset to None."""
        self.delay = 0.0
        """Seconds to wait before answering."""
        self.jwks_headers: dict[str, str] = {}
        """Extra headers of the JWKS answer (`Cache-Control`, ...)."""
        self.requests: Counter[str] = Counter()
        """Requests seen, by path."""
        self.urls: list[str] = []
        """Every URL requested, in order."""
        self.transport = streaming_transport(self.handle)

    @property
    def jwks_fetches(self) -> int:
        """How many JWKS documents were requested (at either path)."""
        return sum(self.requests[path] for path in JWKS_PATHS)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request, after `delay`, according to `fault` and the current keys."""
        self.requests[request.url.path] += 1
        self.urls.append(str(request.url))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fault == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if self.fault is not None:
            return _GARBAGE[self.fault]()
        if request.url.host == httpx.URL(self.issuer).host:
            if request.url.path == DISCOVERY_PATH and self.discovery:
                document = {"issuer": self.discovered_issuer, "jwks_uri": self.discovered_jwks_uri}
                return httpx.Response(200, json=document)
            if request.url.path in JWKS_PATHS:
                return httpx.Response(200, json={"keys": self.keys}, headers=self.jwks_headers)
        return httpx.Response(404)


def streaming_transport(handler: Handler) -> httpx.MockTransport:
    """A `MockTransport` whose answers arrive as a stream of raw bytes, as from a real server.

    The key fetcher reads the raw body (`aiter_raw`) to decode it under its size limit; a
    response built with `content=` or `json=` is read (and decoded) by httpx at once instead.
    """

    async def handle(request: httpx.Request) -> httpx.Response:
        answer = handler(request)
        response = await answer if inspect.isawaitable(answer) else answer
        if response.is_stream_consumed:  # built with `content=`: replay its bytes as a stream
            return raw_response(response.status_code, response.content, response.headers)
        return response

    return httpx.MockTransport(handle)


def raw_response(
    status: int, body: bytes, headers: Mapping[str, str] | httpx.Headers | None = None
) -> httpx.Response:
    """A response whose body is `body` exactly as sent (`Content-Encoding` is not applied)."""
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


@pytest.fixture
def stub(keyring: Keyring) -> IssuerStub:
    """An issuer that publishes one key per algorithm family."""
    return IssuerStub(key.public_jwk for key in keyring.published)


@get("/broken", exclude_from_auth=True, sync_to_thread=False)
def broken() -> None:
    """A route that fails, for the error paths of logs and metrics."""
    raise RuntimeError("boom")


def service_app(stub: IssuerStub, **service: Any) -> Litestar:
    """The real app on the stub issuer, with these `ServiceSettings`, and the `/broken` route.

    Its access lines are JSON unless `log_format` says otherwise: `AccessLines` reads them.
    """
    return create_app(
        auth_settings(),
        service=ServiceSettings(_env_file=None, **{"log_format": "json", **service}),
        jwks_transport=stub.transport,
        route_handlers=[broken],
    )


class AccessLines:
    """The access lines an app wrote to stderr so far, read through pytest's `capsys`."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self._text = ""

    @property
    def text(self) -> str:
        """Everything written to stderr since the test began."""
        self._text += self._capsys.readouterr().err
        return self._text

    def entries(self) -> list[dict[str, Any]]:
        """Each JSON access line, whole, in order."""
        entries = []
        for line in self.text.splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and entry.get("logger") == "access":
                    entries.append(entry)
        return entries

    def fields(self) -> list[dict[str, Any]]:
        """The request's own members of each access line (without time, level, logger, message)."""
        standard = {"time", "level", "logger", "message"}
        return [
            {key: value for key, value in entry.items() if key not in standard}
            for entry in self.entries()
        ]


@pytest.fixture
def access_log(capsys: pytest.CaptureFixture[str]) -> AccessLines:
    """The access lines of the apps this test runs."""
    return AccessLines(capsys)


def bearer(token: str) -> dict[str, str]:
    """The `Authorization` header for `token`."""
    return {"Authorization": f"Bearer {token}"}


def auth_settings(**overrides: Any) -> AuthSettings:
    """Settings for the stub issuer (audience `AUDIENCE`, every algorithm, the generic profile).

    Whatever profile the project was generated with, and ignoring any `.env`.
    """
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": (AUDIENCE,),
        "algorithms": ALGORITHMS,
        "profile": "generic",
        "realm": REALM,
        **overrides,
    }
    return AuthSettings(**values, _env_file=None)


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> AuthSettings:
    """`auth_settings()`; parametrize it indirectly with a dict of overrides."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    return auth_settings(**overrides)


@pytest.fixture
async def issuers(
    settings: AuthSettings, stub: IssuerStub, clock: FakeClock
) -> AsyncIterator[IssuerRegistry]:
    """The open issuer registry on the fake clock, every issuer's keys already loaded."""
    async with IssuerRegistry.from_settings(
        settings, transport=stub.transport, clock=clock
    ) as found:
        for issuer in found:
            await issuer.keys.current()
        yield found


@pytest.fixture
def keys(issuers: IssuerRegistry) -> KeySet:
    """The key set of the first (with the default settings: the only) issuer."""
    return next(iter(issuers)).keys


@pytest.fixture
def verifier(settings: AuthSettings, issuers: IssuerRegistry, clock: FakeClock) -> TokenVerifier:
    """A token verifier on the fake clock, using `issuers`."""
    return TokenVerifier(settings, issuers, clock=clock)


def build_app(
    stub: IssuerStub,
    settings: AuthSettings | None = None,
    route_handlers: Sequence[ControllerRouterHandler] = (),
) -> Litestar:
    """The real app for `settings` (default: `auth_settings()`), its network being `stub`."""
    return create_app(
        settings or auth_settings(),
        service=ServiceSettings(_env_file=None, log_format="json"),
        jwks_transport=stub.transport,
        route_handlers=route_handlers,
    )


@pytest.fixture
async def client(
    settings: AuthSettings, stub: IssuerStub
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The real app serving requests (lifespan included), its network being the stub issuer."""
    async with AsyncTestClient(build_app(stub, settings)) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting from the developer's shell (`AUTH_*`, `LOG_FORMAT`, ...) reaches a test."""
    service_variables = {name.upper() for name in ServiceSettings.model_fields}
    for name in list(os.environ):
        if name.upper().startswith("AUTH_") or name.upper() in service_variables:
            monkeypatch.delenv(name)


class FakeClock:
    """A clock that only moves when told to; serves as monotonic and as wall-clock time."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting now, for the key set and the verifier's claim checks."""
    return FakeClock(float(int(time.time())))


async def eventually(condition: Callable[[], bool]) -> None:
    """Let background tasks run until `condition` holds; fail after a second."""
    async with asyncio.timeout(1):
        while not condition():  # noqa: ASYNC110  # polling plain attributes: nothing to await
            await asyncio.sleep(0.001)


@dataclass(slots=True)
class CallCount:
    """How often a patched function was called."""

    calls: int = 0


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> CallCount:
    """Wrap `owner.name` so that calls are counted (and still made)."""
    count = CallCount()
    real = getattr(owner, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        count.calls += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return count


@pytest.fixture
def restore_logging(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Undo what `configure_logging` changes: root handlers and level, uvicorn's and httpx's loggers.

    pytest gives every test phase capture handlers of its own (of the type of `caplog.handler`):
    those of the setup phase are not put back, those of the teardown phase are kept.
    """
    root = logging.getLogger()
    phase_handler = type(caplog.handler)
    handlers = [handler for handler in root.handlers if not isinstance(handler, phase_handler)]
    level = root.level
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx")
    loggers = [logging.getLogger(name) for name in names]
    states = [(item.handlers[:], item.propagate, item.disabled, item.level) for item in loggers]
    yield
    teardown = [handler for handler in root.handlers if isinstance(handler, phase_handler)]
    root.handlers[:] = [*handlers, *teardown]
    root.setLevel(level)
    for item, (saved, propagate, disabled, saved_level) in zip(loggers, states, strict=True):
        item.handlers[:] = saved
        item.propagate, item.disabled = propagate, disabled
        item.setLevel(saved_level)
