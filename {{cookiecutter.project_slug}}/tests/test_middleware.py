"""The bearer-token middleware as clients see it: status, `WWW-Authenticate` and body."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import TYPE_CHECKING, Any, Final, cast

import pytest
from litestar.connection import ASGIConnection

from {{ cookiecutter.package_name }}.auth import InvalidToken, MissingToken, Principal
from {{ cookiecutter.package_name }}.auth.middleware import BearerTokenMiddleware, bearer_token
from {{ cookiecutter.package_name }}.auth.refusals import RefusalHandler

from .conftest import ALGORITHMS, ISSUER, OMIT, REALM, b64url, claims

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar import Litestar
    from litestar.testing import AsyncTestClient
    from litestar.types import Receive, Scope, Send

    from {{ cookiecutter.package_name }}.auth import TokenVerifier

    from .conftest import IssuerStub, Keyring

    Client = AsyncTestClient[Litestar]

MISSING: Final = f'Bearer realm="{REALM}"'
INVALID: Final = (
    f'Bearer realm="{REALM}", error="invalid_token", '
    'error_description="The access token is invalid."'
)
EXPIRED: Final = (
    f'Bearer realm="{REALM}", error="invalid_token", error_description="The access token expired."'
)
INSUFFICIENT: Final = (
    f'Bearer realm="{REALM}", error="insufficient_scope", '
    'error_description="The access token lacks a required scope.", scope="admin"'
)
INVALID_BODY: Final = {"status_code": 401, "detail": "The access token is invalid."}


def raw_claims(name: str, literal: str) -> bytes:
    """Valid claims as JSON bytes, with claim `name` set to the JSON `literal`."""
    placeholder: dict[str, Any] = {name: "@@"}
    return json.dumps(claims(**placeholder)).replace('"@@"', literal).encode("utf-8")


def forged(header: dict[str, Any]) -> Callable[[Keyring], str]:
    """A token with a hand-made `header` over valid claims, signed (wrongly) by the RSA key."""

    def build(keyring: Keyring) -> str:
        _, payload, signature = keyring.token().split(".")
        return f"{b64url(json.dumps(header))}.{payload}.{signature}"

    return build


def with_header_segment(segment: str) -> Callable[[Keyring], str]:
    """A valid token whose header segment is replaced by `segment`."""

    def build(keyring: Keyring) -> str:
        token = keyring.token()
        return segment + token[token.index(".") :]

    return build


def with_junk_in_signature(keyring: Keyring) -> str:
    """A valid token with characters outside base64url inside its signature."""
    header, payload, signature = keyring.token().split(".")
    return f"{header}.{payload}.{signature[:8]}!!!!{signature[8:]}"


def hs256_with_public_key(keyring: Keyring) -> str:
    """The algorithm-confusion forgery: HS256 keyed with the issuer's RSA public key PEM."""
    header = b64url(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}))
    payload = b64url(json.dumps(claims()))
    mac = hmac.new(keyring.rsa.public_pem, f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{b64url(mac.digest())}"


# Each builder makes one token that must be refused with 401 and `INVALID`.
REFUSED_TOKENS: Final[dict[str, Callable[[Keyring], str]]] = {
    "malformed": lambda _: "this-is-not-a-jwt",
    "two-segments": lambda k: k.token().rsplit(".", 1)[0],
    "four-segments": lambda k: k.token() + ".c2ln",
    "bad-base64": with_junk_in_signature,
    "header-not-json": with_header_segment(b64url("{alg: RS256}")),
    "header-not-utf8": with_header_segment(b64url(b'{"alg":"RS256\xff"}')),
    "header-nested-deeply": with_header_segment(b64url("[" * 3000)),
    "bad-signature": lambda k: k.impostor_for("ES256").sign(claims(), "ES256"),
    "signature-stripped": lambda k: k.token().rsplit(".", 1)[0] + ".",
    "alg-none": forged({"alg": "none", "kid": "rsa-1"}),
    "alg-None": forged({"alg": "None", "kid": "rsa-1"}),
    "alg-NONE": forged({"alg": "NONE", "kid": "rsa-1"}),
    "alg-missing": forged({"kid": "rsa-1"}),
    "alg-HS256-public-key-as-secret": hs256_with_public_key,
    "rsa-kid-with-ES256": lambda k: k.p256.sign(claims(), "ES256", kid="rsa-1"),
    "unknown-kid": lambda k: k.rsa.sign(claims(), "RS256", kid="rsa-404"),
    "kid-number": lambda k: k.rsa.sign(claims(), "RS256", kid=1),
    "kid-very-long": lambda k: k.rsa.sign(claims(), "RS256", kid="k" * 1000),
    "crit": lambda k: k.rsa.sign(claims(), "RS256", crit=["exp"]),
    "b64-false": lambda k: k.rsa.sign(claims(), "RS256", b64=False, crit=["b64"]),
    "nbf-in-future": lambda k: k.token(nbf=claims()["iat"] + 3600),
    "iat-in-future": lambda k: k.token(iat=claims()["iat"] + 3600),
    "no-exp": lambda k: k.token(exp=OMIT),
    "no-iss": lambda k: k.token(iss=OMIT),
    "wrong-iss": lambda k: k.token(iss=ISSUER + "/"),
    "no-aud": lambda k: k.token(aud=OMIT),
    "wrong-aud": lambda k: k.token(aud="https://other.test"),
    "no-sub": lambda k: k.token(sub=OMIT),
    "exp-null": lambda k: k.rsa.sign(raw_claims("exp", "null"), "RS256"),
    "exp-string": lambda k: k.rsa.sign(raw_claims("exp", '"4102444800"'), "RS256"),
    "exp-list": lambda k: k.rsa.sign(raw_claims("exp", "[4102444800]"), "RS256"),
    "exp-1e400": lambda k: k.rsa.sign(raw_claims("exp", "1e400"), "RS256"),
    "exp-huge-integer": lambda k: k.rsa.sign(raw_claims("exp", "9" * 400), "RS256"),
    "nbf-null": lambda k: k.rsa.sign(raw_claims("nbf", "null"), "RS256"),
    "nbf-1e400": lambda k: k.rsa.sign(raw_claims("nbf", "1e400"), "RS256"),
    "iat-string": lambda k: k.rsa.sign(raw_claims("iat", '"0"'), "RS256"),
    "iat-list": lambda k: k.rsa.sign(raw_claims("iat", "[0]"), "RS256"),
    "iat-huge-integer": lambda k: k.rsa.sign(raw_claims("iat", "9" * 400), "RS256"),
    "over-max-token-bytes": lambda k: k.token(padding="x" * 8192),
}


def connection_with(headers: list[tuple[bytes, bytes]]) -> ASGIConnection[Any, Any, Any, Any]:
    """A connection to `GET /protected` carrying `headers`."""
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/protected"}
    return ASGIConnection(cast("Scope", {**scope, "headers": headers}))


def scope_headers(*values: str, name: bytes = b"authorization") -> list[tuple[bytes, bytes]]:
    """ASGI scope headers: a `Host`, then one `Authorization` header per value."""
    return [(b"host", b"service.test"), *((name, value.encode()) for value in values)]


class TestBearerToken:
    """Reading the token out of the `Authorization` headers of the ASGI scope."""

    @pytest.mark.parametrize(
        ("values", "token"),
        [
            (["Bearer abc"], "abc"),
            (["bearer abc"], "abc"),
            (["BEARER abc"], "abc"),
            (["Bearer   abc  "], "abc"),
        ],
    )
    def test_token_is_read_from_one_bearer_header(self, values: list[str], token: str) -> None:
        """The scheme is case-insensitive and surrounding spaces are dropped."""
        assert bearer_token(scope_headers(*values)) == token

    def test_header_name_is_case_insensitive(self) -> None:
        """ASGI servers should lowercase header names, but the header is found if one does not."""
        assert bearer_token(scope_headers("Bearer abc", name=b"Authorization")) == "abc"

    @pytest.mark.parametrize("values", [[], ["Basic dXNlcjpwYXNz"], ["Token abc"], ["Bearerabc"]])
    def test_no_bearer_header_is_a_missing_token(self, values: list[str]) -> None:
        """No header, or another scheme, means no bearer token was offered."""
        with pytest.raises(MissingToken):
            bearer_token(scope_headers(*values))

    @pytest.mark.parametrize(
        "values",
        [["Bearer"], ["Bearer "], ["Bearer    "], ["Bearer a b"], ["Bearer a", "Bearer b"]],
    )
    def test_broken_bearer_header_is_an_invalid_token(self, values: list[str]) -> None:
        """A bearer header without exactly one token, or two headers, is invalid."""
        with pytest.raises(InvalidToken):
            bearer_token(scope_headers(*values))


class _Handler:
    """The route handler attributes the exclusion test reads."""

    def __init__(self, *, excluded: bool = False, mount: bool = False) -> None:
        self.opt = {"exclude_from_auth": True} if excluded else {}
        self.is_mount = mount


EXCLUSION_SCOPES: Final[dict[str, dict[str, Any]]] = {
    "plain": {},
    "excluded-route": {"route_handler": _Handler(excluded=True)},
    "options": {"method": "OPTIONS"},
    "websocket": {"type": "websocket"},
    "lifespan": {"type": "lifespan"},
    "excluded-path": {"path": "/schema/openapi.json"},
    "prefix-only": {"path": "/schemas"},
    "mount-raw-path": {
        "route_handler": _Handler(mount=True),
        "path": "/",
        "raw_path": b"/schema/swagger",
    },
    "mount-other": {"route_handler": _Handler(mount=True), "path": "/schema", "raw_path": b"/x"},
    "no-handler": {"route_handler": None},
}


class TestExclusion:
    """Which requests go through unauthenticated: exactly those Litestar's own rules let by."""

    @pytest.mark.parametrize("case", EXCLUSION_SCOPES)
    def test_same_answer_as_litestar(self, case: str) -> None:
        """The middleware's own test agrees with `should_bypass_middleware` on every shape."""
        from litestar.middleware._utils import should_bypass_middleware  # noqa: PLC0415

        middleware = BearerTokenMiddleware(
            cast("Any", None),
            verifier=cast("Any", None),
            refuse=cast("Any", None),
            exclude=["^/schema(?:/|$)"],
        )
        scope: dict[str, Any] = {
            "type": "http",
            "method": "GET",
            "path": "/protected",
            "raw_path": b"/protected",
            "route_handler": _Handler(),
            **EXCLUSION_SCOPES[case],
        }
        expected = should_bypass_middleware(
            exclude_http_methods=middleware.exclude_http_methods,
            exclude_opt_key=middleware.exclude_opt_key,
            exclude_path_pattern=middleware.exclude,
            scope=cast("Scope", scope),
            scopes=middleware.scopes,
        )
        assert middleware._excluded(cast("Scope", scope)) is expected


class TestAuthenticateRequest:
    """Litestar's `authenticate_request`, for code holding a connection: the same verification."""

    @pytest.fixture
    def middleware(self, verifier: TokenVerifier) -> BearerTokenMiddleware:
        """The middleware around an app that is never reached."""

        async def unreachable(scope: Scope, receive: Receive, send: Send) -> None:
            raise AssertionError

        return BearerTokenMiddleware(unreachable, verifier=verifier, refuse=RefusalHandler(REALM))

    async def test_valid_token_gives_the_principal_and_its_claims(
        self, middleware: BearerTokenMiddleware, keyring: Keyring
    ) -> None:
        """`user` is the principal of the token, `auth` its claims."""
        headers = scope_headers(f"Bearer {keyring.token(scope='read write')}")
        result = await middleware.authenticate_request(connection_with(headers))
        assert isinstance(result.user, Principal)
        assert (result.user.subject, result.user.scopes) == ("user-1", frozenset({"read", "write"}))
        assert result.auth == result.user.claims

    async def test_refusals_are_raised(
        self, middleware: BearerTokenMiddleware, keyring: Keyring
    ) -> None:
        """No token, or a refused one, raises the error the middleware answers."""
        with pytest.raises(MissingToken):
            await middleware.authenticate_request(connection_with(scope_headers()))
        headers = scope_headers(f"Bearer {keyring.token()}x")
        with pytest.raises(InvalidToken):
            await middleware.authenticate_request(connection_with(headers))


class TestAccepted:
    """Valid tokens reach the route."""

    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    async def test_valid_token_of_each_algorithm_is_accepted(
        self, client: Client, keyring: Keyring, algorithm: str
    ) -> None:
        """A token signed for this algorithm by the issuer's key gets 200."""
        response = await client.get(
            "/protected", headers={"Authorization": f"Bearer {keyring.token(algorithm)}"}
        )
        assert response.status_code == 200
        assert response.json()["user"] == {
            "subject": "user-1",
            "issuer": ISSUER,
            "scopes": ["read"],
            "roles": [],
        }


class TestMissingCredentials:
    """No bearer token at all: a bare challenge, no error code (RFC 6750 section 3.1)."""

    @pytest.mark.parametrize(
        "headers",
        [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Digest x"}],
        ids=["no-header", "basic", "digest"],
    )
    async def test_request_without_bearer_token_is_challenged(
        self, client: Client, headers: dict[str, str]
    ) -> None:
        """401 with `WWW-Authenticate: Bearer realm="..."` and no error."""
        response = await client.get("/protected", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == MISSING
        assert response.json() == {"status_code": 401, "detail": "Authentication is required."}


class TestRefused:
    """Tokens that are refused: 401, `error="invalid_token"`, and nothing else revealed."""

    @pytest.mark.parametrize(
        "authorization",
        [["Bearer"], ["Bearer    "], ["Bearer a b"], ["Bearer a.b.c", "Bearer a.b.c"]],
        ids=["no-token", "only-spaces", "two-tokens", "two-headers"],
    )
    async def test_broken_authorization_header_is_refused(
        self, client: Client, authorization: list[str]
    ) -> None:
        """A bearer header without exactly one token, or two Authorization headers, gets 401."""
        headers = [("Authorization", value) for value in authorization]
        response = await client.get("/protected", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == INVALID
        assert response.json() == INVALID_BODY

    @pytest.mark.parametrize("case", REFUSED_TOKENS)
    async def test_refused_token_gets_401_invalid_token(
        self, client: Client, keyring: Keyring, case: str
    ) -> None:
        """The client sees the same 401 and challenge whatever is wrong; the body holds no details."""
        token = REFUSED_TOKENS[case](keyring)
        response = await client.get("/protected", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == INVALID
        assert response.json() == INVALID_BODY

    async def test_expired_token_says_it_expired(self, client: Client, keyring: Keyring) -> None:
        """An expired token gets `error_description="The access token expired."`."""
        token = keyring.token(exp=claims()["iat"] - 3600)
        response = await client.get("/protected", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == EXPIRED
        assert response.json() == {"status_code": 401, "detail": "The access token expired."}

    @pytest.mark.parametrize("settings", [{"algorithms": ("EdDSA",)}], indirect=True)
    async def test_algorithm_outside_the_allow_list_is_refused(
        self, client: Client, keyring: Keyring
    ) -> None:
        """With `algorithms=EdDSA`, a valid RS256 token gets 401 and an EdDSA one 200."""
        for algorithm, status in (("RS256", 401), ("EdDSA", 200)):
            token = keyring.token(algorithm)
            response = await client.get("/protected", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == status

    async def test_refusal_reveals_neither_token_nor_exception(
        self, client: Client, keyring: Keyring, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The 401 body echoes no part of the token and no exception text; the log has the reason."""
        caplog.set_level(logging.DEBUG)
        token = keyring.impostor_for("RS256").sign(claims(), "RS256")
        response = await client.get("/protected", headers={"Authorization": f"Bearer {token}"})
        body = response.text
        assert response.status_code == 401
        for part in token.split("."):
            assert part not in body
        for leak in ("bad_signature", "Signature", "verification", "Error", "jose"):
            assert leak not in body
        assert "request refused: reason=bad_signature status=401 path=/protected" in caplog.text
        assert token not in caplog.text

    async def test_key_urls_in_the_header_are_never_fetched(
        self, client: Client, keyring: Keyring, stub: IssuerStub
    ) -> None:
        """Tokens pointing at their own keys (`jku`, `x5u`, `jwk`) cause no request to those places."""
        attacker = keyring.impostor_for("RS256")
        for header in (
            {"jku": "https://attacker.test/jwks.json", "kid": "attacker"},
            {"x5u": "https://attacker.test/cert.pem", "kid": "attacker"},
            {"jwk": attacker.public_jwk},
        ):
            token = attacker.sign(claims(), "RS256", **header)
            response = await client.get("/protected", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401
        assert stub.urls
        assert not [url for url in stub.urls if "attacker" in url]


class TestScopes:
    """Authorization by scope on `/admin`."""

    async def test_missing_scope_is_forbidden(self, client: Client, keyring: Keyring) -> None:
        """A valid token without the `admin` scope gets 403 `insufficient_scope` naming the scope."""
        token = keyring.token(scope="read write")
        response = await client.get("/admin", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403
        assert response.headers["WWW-Authenticate"] == INSUFFICIENT
        assert response.json() == {
            "status_code": 403,
            "detail": "The access token lacks a required scope.",
        }

    @pytest.mark.parametrize(
        "overrides",
        [{"scope": "read admin"}, {"scope": OMIT, "scp": ["admin"]}, {"scp": "admin other"}],
        ids=["scope-string", "scp-list", "scp-string"],
    )
    async def test_scope_from_scope_or_scp_is_allowed(
        self, client: Client, keyring: Keyring, overrides: dict[str, Any]
    ) -> None:
        """The `admin` scope counts whether it comes from `scope` or `scp`."""
        token = keyring.token(**overrides)
        response = await client.get("/admin", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert response.json()["message"] == "Admin access granted"

    async def test_scope_check_needs_a_valid_token_first(self, client: Client) -> None:
        """Without a token, `/admin` is 401, not 403, naming the scope it needs."""
        response = await client.get("/admin")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == f'{MISSING}, scope="admin"'
