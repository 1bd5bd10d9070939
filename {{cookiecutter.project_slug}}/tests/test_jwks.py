"""Fetching the JWKS (with OpenID discovery) and turning it into verification keys."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk

from {{ cookiecutter.package_name }}.auth.jwks import (
    MAX_DOCUMENT_BYTES,
    JWKSError,
    discover_jwks_url,
    fetch_jwks,
    get_json,
    parse_jwks,
)

from .conftest import (
    ALGORITHMS,
    DISCOVERY_PATH,
    FALLBACK_JWKS_PATH,
    ISSUER,
    JWKS_PATH,
    KIDS,
    OMIT,
    RSA_ALGORITHMS,
    IssuerStub,
    SigningKey,
    auth_settings,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from .conftest import Fault, Keyring


@pytest.fixture
async def http(stub: IssuerStub) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose network is the stub issuer, configured as `KeySet` configures its own."""
    async with httpx.AsyncClient(transport=stub.transport, follow_redirects=False) as client:
        yield client


class TestParseJwks:
    """Which JWKS entries become keys, and for which algorithms."""

    def test_each_family_yields_a_key_for_every_algorithm_it_serves(self, keyring: Keyring) -> None:
        """An RSA key serves RS* and PS*; each curve serves its one ES* algorithm; Ed25519 serves EdDSA."""
        keys = parse_jwks({"keys": [key.public_jwk for key in keyring.published]}, ALGORITHMS)
        assert {kid: sorted(algs) for kid, algs in keys.by_kid.items()} == {
            "rsa-1": sorted(RSA_ALGORITHMS),
            "p256-1": ["ES256"],
            "p384-1": ["ES384"],
            "p521-1": ["ES512"],
            "ed25519-1": ["EdDSA"],
        }
        assert {alg: len(found) for alg, found in keys.by_algorithm.items()} == dict.fromkeys(
            ALGORITHMS, 1
        )

    def test_only_allowed_algorithms_get_keys(self, keyring: Keyring) -> None:
        """Keys are built only for the configured algorithms."""
        keys = parse_jwks({"keys": [key.public_jwk for key in keyring.published]}, ["PS256"])
        assert keys.by_kid == {"rsa-1": {"PS256": keys.by_algorithm["PS256"][0]}}

    def test_alg_member_limits_the_key_to_that_algorithm(self, keyring: Keyring) -> None:
        """An RSA key declaring `alg: RS256` is not used for RS384 or PS256."""
        keys = parse_jwks({"keys": [keyring.rsa.jwk(alg="RS256")]}, ALGORITHMS)
        assert list(keys.by_kid["rsa-1"]) == ["RS256"]

    def test_alg_member_that_contradicts_the_key_type_yields_nothing(
        self, keyring: Keyring
    ) -> None:
        """A P-256 key declaring ES384 fits no algorithm and is skipped."""
        document = {"keys": [keyring.p256.jwk(alg="ES384"), keyring.rsa.public_jwk]}
        assert "p256-1" not in parse_jwks(document, ALGORITHMS).by_kid

    @pytest.mark.parametrize(
        "members",
        [
            pytest.param({"use": "enc"}, id="use-enc"),
            pytest.param({"use": "other"}, id="use-other"),
            pytest.param({"key_ops": ["encrypt"]}, id="key-ops-without-verify"),
            pytest.param({"key_ops": "verify"}, id="key-ops-not-a-list"),
            pytest.param({"kty": "oct"}, id="symmetric"),
            pytest.param({"n": "AQAB"}, id="short-modulus"),
            pytest.param({"n": "not*base64"}, id="garbage-modulus"),
            pytest.param({"n": 12345}, id="modulus-not-a-string"),
            pytest.param({"n": OMIT}, id="no-modulus"),
            pytest.param({"crv": "P-256"}, id="rsa-with-a-curve"),
        ],
    )
    def test_unusable_entry_is_skipped_and_the_rest_kept(
        self, keyring: Keyring, members: dict[str, Any]
    ) -> None:
        """Encryption keys, wrong types and malformed or short keys are skipped, not fatal."""
        document = {"keys": [keyring.rsa.jwk(**members), keyring.p256.public_jwk]}
        keys = parse_jwks(document, ALGORITHMS)
        assert list(keys.by_kid) == ["p256-1"]
        assert "RS256" not in keys.by_algorithm

    def test_rsa_key_shorter_than_2048_bits_is_skipped(self) -> None:
        """A 1024-bit RSA key is too weak to trust."""
        private = rsa.generate_private_key(65537, 1024)  # noqa: S505  # weak on purpose
        weak = SigningKey.generate("weak", private)
        with pytest.raises(JWKSError, match="no usable signing key"):
            parse_jwks({"keys": [weak.public_jwk]}, ALGORITHMS)

    def test_key_ops_with_verify_is_kept(self, keyring: Keyring) -> None:
        """`key_ops: ["verify"]` marks a signing key."""
        keys = parse_jwks({"keys": [keyring.p256.jwk(key_ops=["verify"], use="sig")]}, ALGORITHMS)
        assert list(keys.by_kid) == ["p256-1"]

    def test_private_members_are_never_loaded(self, keyring: Keyring) -> None:
        """A JWKS that leaks the private key (`d`) still yields a public key only."""
        leaked = {**jwk.construct(keyring.p256.private_pem, "ES256").to_dict(), "kid": "p256-1"}
        assert "d" in leaked
        key = parse_jwks({"keys": [leaked]}, ["ES256"]).by_kid["p256-1"]["ES256"]
        assert "d" not in key.to_dict()

    def test_key_without_kid_is_usable_without_kid_only(self, keyring: Keyring) -> None:
        """A key without `kid` is found by algorithm, not by kid."""
        keys = parse_jwks({"keys": [keyring.p256.jwk(kid=OMIT)]}, ALGORITHMS)
        assert keys.by_kid == {}
        assert keys.find(None, "ES256") is keys.by_algorithm["ES256"][0]

    def test_first_key_wins_a_duplicated_kid(self, keyring: Keyring) -> None:
        """Two entries with one kid: the first one is the key for that kid."""
        keys = parse_jwks(
            {"keys": [keyring.rsa.public_jwk, keyring.rsa_next.jwk(kid="rsa-1")]}, ["RS256"]
        )
        assert keys.find("rsa-1", "RS256") is keys.by_algorithm["RS256"][0]

    @pytest.mark.parametrize(
        "document",
        [{"keys": []}, {"keys": ["not a key", 7, None]}, {}],
        ids=["empty", "not-objects", "no-keys-member"],
    )
    def test_no_usable_key_is_an_error(self, document: dict[str, Any]) -> None:
        """A key set with nothing to verify with raises `JWKSError`."""
        with pytest.raises(JWKSError, match="no usable signing key for AUTH_ALGORITHMS"):
            parse_jwks(document, ALGORITHMS)

    def test_describe_lists_kids_and_algorithms(self, keyring: Keyring) -> None:
        """The log line names every kid with its algorithms."""
        keys = parse_jwks(
            {"keys": [keyring.p256.public_jwk, keyring.ed25519.public_jwk]}, ALGORITHMS
        )
        assert keys.describe() == "p256-1:ES256, ed25519-1:EdDSA"


class TestFind:
    """Choosing the key for a token's kid and alg."""

    def test_kid_and_alg_select_the_key(self, keyring: Keyring) -> None:
        """A known kid with an algorithm it serves finds its key."""
        keys = parse_jwks({"keys": [key.public_jwk for key in keyring.published]}, ALGORITHMS)
        assert keys.find("rsa-1", "PS384") is keys.by_kid["rsa-1"]["PS384"]

    def test_kid_with_an_algorithm_it_does_not_serve_finds_nothing(self, keyring: Keyring) -> None:
        """The kid of an RSA key with alg ES256 finds no key."""
        keys = parse_jwks({"keys": [key.public_jwk for key in keyring.published]}, ALGORITHMS)
        assert keys.find("rsa-1", "ES256") is None

    def test_no_kid_finds_the_only_key_for_the_algorithm(self, keyring: Keyring) -> None:
        """Without kid, the single key that serves the alg is chosen."""
        keys = parse_jwks({"keys": [key.public_jwk for key in keyring.published]}, ALGORITHMS)
        assert keys.find(None, "EdDSA") is keys.by_kid["ed25519-1"]["EdDSA"]

    def test_no_kid_with_two_candidate_keys_finds_nothing(self, keyring: Keyring) -> None:
        """Without kid, two keys for the alg are ambiguous: no key is guessed."""
        keys = parse_jwks(
            {"keys": [keyring.rsa.public_jwk, keyring.rsa_next.public_jwk]}, ["RS256"]
        )
        assert keys.find(None, "RS256") is None


class TestFetch:
    """Where the JWKS is fetched from."""

    async def test_discovery_is_used_when_no_jwks_url_is_set(
        self, stub: IssuerStub, http: httpx.AsyncClient
    ) -> None:
        """Without AUTH_JWKS_URL the discovery document's `jwks_uri` is fetched."""
        url, document = await fetch_jwks(http, auth_settings())
        assert url == ISSUER + JWKS_PATH
        assert [key["kid"] for key in document["keys"]] == list(KIDS)
        assert stub.urls == [ISSUER + DISCOVERY_PATH, ISSUER + JWKS_PATH]

    async def test_configured_jwks_url_skips_discovery(
        self, stub: IssuerStub, http: httpx.AsyncClient
    ) -> None:
        """With AUTH_JWKS_URL set, only that URL is fetched."""
        url, _ = await fetch_jwks(http, auth_settings(jwks_url=ISSUER + FALLBACK_JWKS_PATH))
        assert url == ISSUER + FALLBACK_JWKS_PATH
        assert stub.urls == [ISSUER + FALLBACK_JWKS_PATH]

    async def test_missing_discovery_falls_back_to_well_known_jwks(
        self, stub: IssuerStub, http: httpx.AsyncClient
    ) -> None:
        """A 404 for the discovery document falls back to `/.well-known/jwks.json`."""
        stub.discovery = False
        url, _ = await fetch_jwks(http, auth_settings())
        assert url == ISSUER + FALLBACK_JWKS_PATH
        assert stub.urls == [ISSUER + DISCOVERY_PATH, ISSUER + FALLBACK_JWKS_PATH]

    async def test_issuer_with_a_path_and_trailing_slash_discovers_below_it(
        self, stub: IssuerStub, http: httpx.AsyncClient
    ) -> None:
        """Discovery for `https://host/tenant/` is at `https://host/tenant/.well-known/...`."""
        stub.discovery = False
        url = await discover_jwks_url(http, ISSUER + "/tenant/")
        assert url == ISSUER + "/tenant" + FALLBACK_JWKS_PATH
        assert stub.urls == [ISSUER + "/tenant" + DISCOVERY_PATH]

    @pytest.mark.parametrize(
        ("configured", "discovered"),
        [(ISSUER, ISSUER + "/"), (ISSUER + "/", ISSUER), (ISSUER, "https://ISSUER.test")],
    )
    async def test_discovered_issuer_must_match_exactly(
        self, stub: IssuerStub, http: httpx.AsyncClient, configured: str, discovered: str
    ) -> None:
        """An issuer differing by a trailing slash (or case) is refused, and the message says why."""
        stub.discovered_issuer = discovered
        with pytest.raises(JWKSError) as raised:
            await discover_jwks_url(http, configured)
        assert str(raised.value) == (
            f"the discovery document at {ISSUER}{DISCOVERY_PATH} names issuer {discovered!r} "
            f"but AUTH_ISSUER is {configured!r}; they must be equal character for character "
            "(a trailing slash counts)"
        )

    @pytest.mark.parametrize(
        ("jwks_uri", "problem"),
        [
            (OMIT, "has no 'jwks_uri'"),
            (["https://issuer.test/keys"], "has no 'jwks_uri'"),
            ("http://issuer.test/keys", "must use https"),
            ("/keys", "is not an absolute http(s) URL"),
        ],
    )
    async def test_discovered_jwks_uri_must_be_an_https_url(
        self, jwks_uri: object, problem: str
    ) -> None:
        """A missing, relative or plain-http `jwks_uri` is refused."""
        document = {"issuer": ISSUER, "jwks_uri": jwks_uri}
        transport = httpx.MockTransport(
            lambda _: httpx.Response(200, json={k: v for k, v in document.items() if v is not OMIT})
        )
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(JWKSError, match=re.escape(problem)):
                await discover_jwks_url(client, ISSUER)


class TestGarbage:
    """Every broken answer is a `JWKSError` whose message names the problem."""

    @pytest.mark.parametrize(
        ("fault", "problem"),
        [
            ("down", "could not be fetched (ConnectError)"),
            ("error", "answered HTTP 500, expected 200"),
            ("html", "did not return JSON"),
            ("not_json", "did not return JSON"),
            ("not_object", "did not return a JSON object"),
            ("no_keys", "returned JSON without a 'keys' list"),
            ("huge", f"returned more than {MAX_DOCUMENT_BYTES} bytes"),
            ("redirect", "answered HTTP 302, expected 200"),
        ],
    )
    async def test_broken_jwks_answer_is_an_error(
        self, stub: IssuerStub, http: httpx.AsyncClient, fault: Fault, problem: str
    ) -> None:
        """The JWKS URL failing in this way raises `JWKSError` naming the URL and the problem."""
        stub.fault = fault
        with pytest.raises(JWKSError) as raised:
            await fetch_jwks(http, auth_settings(jwks_url=ISSUER + JWKS_PATH))
        assert str(raised.value).startswith(ISSUER + JWKS_PATH)
        assert problem in str(raised.value)

    async def test_redirect_is_not_followed(
        self, stub: IssuerStub, http: httpx.AsyncClient
    ) -> None:
        """A 302 does not lead to a second request."""
        stub.fault = "redirect"
        with pytest.raises(JWKSError):
            await get_json(http, ISSUER + JWKS_PATH)
        assert stub.urls == [ISSUER + JWKS_PATH]

    async def test_document_of_exactly_the_limit_is_read(self) -> None:
        """A document of `MAX_DOCUMENT_BYTES` bytes is within the limit."""
        prefix, suffix = b'{"keys": [], "padding": "', b'"}'
        body = prefix + b"x" * (MAX_DOCUMENT_BYTES - len(prefix) - len(suffix)) + suffix
        transport = httpx.MockTransport(lambda _: httpx.Response(200, content=body))
        async with httpx.AsyncClient(transport=transport) as client:
            assert (await get_json(client, ISSUER + JWKS_PATH))["keys"] == []

    async def test_unusable_discovery_document_is_an_error(
        self, stub: IssuerStub, http: httpx.AsyncClient
    ) -> None:
        """Garbage at the discovery URL is an error too, not a silent fallback."""
        stub.fault = "html"
        with pytest.raises(JWKSError, match="openid-configuration did not return JSON"):
            await fetch_jwks(http, auth_settings())
