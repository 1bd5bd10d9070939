"""Fetching the JWKS (with OpenID discovery) and turning it into verification keys."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import tracemalloc
import zlib
from typing import TYPE_CHECKING, Any, Final

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk

from {{ cookiecutter.package_name }}.auth.jwks import (
    MAX_DOCUMENT_BYTES,
    MAX_KEYS,
    Document,
    JWKSError,
    discover_jwks_url,
    fetch_jwks,
    get_json,
    parse_jwks,
)

from .conftest import (
    ALGORITHMS,
    BOMB_BYTES,
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
    b64url,
    gzip_bomb,
    raw_response,
    streaming_transport,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from .conftest import Fault, Keyring


@pytest.fixture
async def http(stub: IssuerStub) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose network is the stub issuer, configured as `KeySet` configures its own."""
    async with httpx.AsyncClient(transport=stub.transport, follow_redirects=False) as client:
        yield client


class TestParseJwks:
    """Which JWKS entries become keys, and for which algorithms."""

    def test_each_family_yields_a_key_for_every_algorithm_it_serves(self, keyring: Keyring) -> None:
        """RSA serves RS* and PS*; each curve its ES* algorithm; Ed25519 serves EdDSA and Ed25519."""
        keys = parse_jwks({"keys": [key.public_jwk for key in keyring.published]}, ALGORITHMS)
        assert {kid: sorted(algs) for kid, algs in keys.by_kid.items()} == {
            "rsa-1": sorted(RSA_ALGORITHMS),
            "p256-1": ["ES256"],
            "p384-1": ["ES384"],
            "p521-1": ["ES512"],
            "ed25519-1": ["Ed25519", "EdDSA"],
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
            pytest.param({"n": None}, id="null-modulus"),
            pytest.param({"e": 2**63}, id="exponent-a-huge-integer"),
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
        assert keys.describe() == "p256-1:ES256, ed25519-1:EdDSA,Ed25519"

    @pytest.mark.parametrize("declared", ["EdDSA", "Ed25519"])
    def test_either_name_of_ed25519_serves_both(self, keyring: Keyring, declared: str) -> None:
        """A JWK declaring `alg` EdDSA or Ed25519 (RFC 9864) verifies tokens of either name."""
        item = {**keyring.ed25519.public_jwk, "alg": declared}
        keys = parse_jwks({"keys": [item]}, ALGORITHMS)
        assert sorted(keys.by_kid["ed25519-1"]) == ["Ed25519", "EdDSA"]
        assert keys.by_kid["ed25519-1"]["EdDSA"] is keys.by_kid["ed25519-1"]["Ed25519"]


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
        document = await fetch_jwks(http, auth_settings())
        assert document.url == ISSUER + JWKS_PATH
        assert [key["kid"] for key in document.content["keys"]] == list(KIDS)
        assert stub.urls == [ISSUER + DISCOVERY_PATH, ISSUER + JWKS_PATH]

    async def test_configured_jwks_url_skips_discovery(
        self, stub: IssuerStub, http: httpx.AsyncClient
    ) -> None:
        """With AUTH_JWKS_URL set, only that URL is fetched."""
        document = await fetch_jwks(http, auth_settings(jwks_url=ISSUER + FALLBACK_JWKS_PATH))
        assert document.url == ISSUER + FALLBACK_JWKS_PATH
        assert stub.urls == [ISSUER + FALLBACK_JWKS_PATH]

    async def test_missing_discovery_falls_back_to_well_known_jwks(
        self, stub: IssuerStub, http: httpx.AsyncClient
    ) -> None:
        """A 404 for the discovery document falls back to `/.well-known/jwks.json`."""
        stub.discovery = False
        document = await fetch_jwks(http, auth_settings())
        assert document.url == ISSUER + FALLBACK_JWKS_PATH
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
            ("http://127.0.0.1:99999/keys", "has an invalid port"),
            ("https://issuer.test:0/keys", "has an invalid port"),
            ("http://127.0.0.1:-1/keys", "has an invalid port"),
            ("http://[::1]:x/keys", "has an invalid port"),
            ("https://xn--.test/keys", "is not a valid URL"),
            ("https://[::1/keys", "is not a valid URL"),
        ],
    )
    async def test_discovered_jwks_uri_must_be_an_https_url(
        self, jwks_uri: object, problem: str
    ) -> None:
        """A missing, relative, plain-http or unrequestable `jwks_uri` is refused, saying why."""
        document = {"issuer": ISSUER, "jwks_uri": jwks_uri}
        transport = streaming_transport(
            lambda _: httpx.Response(200, json={k: v for k, v in document.items() if v is not OMIT})
        )
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(JWKSError, match=re.escape(problem)):
                await discover_jwks_url(client, ISSUER)


class TestAnswerReadWhole:
    """An in-process transport (a plain `httpx.MockTransport`) hands over bodies already read."""

    async def test_body_read_whole_is_used(self, keyring: Keyring) -> None:
        """A JWKS answered whole is read like a streamed one."""
        jwks = {"keys": [keyring.rsa.public_jwk]}
        transport = httpx.MockTransport(lambda _: httpx.Response(200, json=jwks))
        async with httpx.AsyncClient(transport=transport) as client:
            document = await get_json(client, "https://issuer.test/keys")
        assert document.content == jwks

    async def test_body_read_whole_is_still_capped(self) -> None:
        """A body answered whole past `MAX_DOCUMENT_BYTES` is refused too."""
        body = {"keys": [], "padding": "x" * MAX_DOCUMENT_BYTES}
        transport = httpx.MockTransport(lambda _: httpx.Response(200, json=body))
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(JWKSError, match="returned more than"):
                await get_json(client, "https://issuer.test/keys")


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
            ("gzip_bomb", f"returned more than {MAX_DOCUMENT_BYTES} bytes once decoded"),
            ("stacked_gzip", "returned a body encoded 2 times (gzip, gzip)"),
            ("brotli", "returned content coding 'br'; only gzip, deflate are decoded"),
            ("nested", "returned JSON nested too deeply"),
            ("too_many_keys", f"lists 100000 keys; at most {MAX_KEYS} are read"),
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
        transport = streaming_transport(lambda _: httpx.Response(200, content=body))
        async with httpx.AsyncClient(transport=transport) as client:
            assert (await get_json(client, ISSUER + JWKS_PATH)).content["keys"] == []

    async def test_unusable_discovery_document_is_an_error(
        self, stub: IssuerStub, http: httpx.AsyncClient
    ) -> None:
        """Garbage at the discovery URL is an error too, not a silent fallback."""
        stub.fault = "html"
        with pytest.raises(JWKSError, match="openid-configuration did not return JSON"):
            await fetch_jwks(http, auth_settings())


def serve(body: bytes, **headers: str) -> httpx.MockTransport:
    """A transport answering every request 200 with `body` exactly as sent, and `headers`."""
    return streaming_transport(lambda _: raw_response(200, body, {**_JSON, **headers}))


async def get(transport: httpx.AsyncBaseTransport) -> Document:
    """`get_json` of the JWKS URL through `transport`."""
    async with httpx.AsyncClient(transport=transport) as client:
        return await get_json(client, ISSUER + JWKS_PATH)


def b64decode(text: str) -> bytes:
    """The bytes of an unpadded base64url string."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Chunked(httpx.AsyncByteStream):
    """A body delivered in chunks of `size` bytes, as a slow connection would."""

    def __init__(self, body: bytes, size: int) -> None:
        self._chunks = [body[start : start + size] for start in range(0, len(body), size)]

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


_JSON: Final = {"Content-Type": "application/json"}
DOCUMENT: Final = b'{"keys": [], "note": "compressed"}'


def deflate(data: bytes) -> bytes:
    """`data` in the zlib format that `Content-Encoding: deflate` names (RFC 9110 8.4.1.2)."""
    return zlib.compress(data)


def corrupted(data: bytes) -> bytes:
    """`data` with one bit of its gzip checksum flipped."""
    return data[:-8] + bytes([data[-8] ^ 1]) + data[-7:]


def padded(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    prefix, suffix = b'{"keys": [], "padding": "', b'"}'
    return prefix + b"x" * (size - len(prefix) - len(suffix)) + suffix


class TestContentCoding:
    """Compressed answers are decoded here, under the size limit; other codings are refused."""

    @pytest.mark.parametrize(
        ("coding", "encode"),
        [
            ("gzip", gzip.compress),
            ("x-gzip", gzip.compress),
            ("GZip", gzip.compress),
            ("deflate", deflate),
            ("identity", bytes),
            ("identity, gzip", gzip.compress),
        ],
    )
    async def test_gzip_and_deflate_are_decoded(
        self, coding: str, encode: Callable[[bytes], bytes]
    ) -> None:
        """A JWKS sent gzip- or deflate-encoded reads as the document itself."""
        document = await get(serve(encode(DOCUMENT), **{"Content-Encoding": coding}))
        assert document.content == json.loads(DOCUMENT)

    async def test_only_decoded_codings_are_asked_for(self) -> None:
        """Requests say `Accept-Encoding: gzip, deflate`, whatever httpx could decode itself."""
        seen: list[str | None] = []

        def answer(request: httpx.Request) -> httpx.Response:
            seen.append(request.headers.get("Accept-Encoding"))
            return httpx.Response(200, json={"keys": []})

        await get(streaming_transport(answer))
        assert seen == ["gzip, deflate"]

    @pytest.mark.parametrize("coding", ["gzip", "deflate"])
    @pytest.mark.parametrize("chunk", [None, 1024], ids=["one-piece", "1k-chunks"])
    async def test_compression_bomb_stops_at_the_limit(
        self, coding: str, chunk: int | None
    ) -> None:
        """16 MiB compressed into 16 KiB is refused having decoded no more than the limit."""
        bomb = gzip_bomb() if coding == "gzip" else deflate(b" " * BOMB_BYTES)
        assert len(bomb) < MAX_DOCUMENT_BYTES
        headers = {**_JSON, "Content-Encoding": coding}

        def answer(_: httpx.Request) -> httpx.Response:
            stream = httpx.ByteStream(bomb) if chunk is None else Chunked(bomb, chunk)
            return httpx.Response(200, headers=headers, stream=stream)

        tracemalloc.start()
        try:
            with pytest.raises(JWKSError, match="bytes once decoded"):
                await get(streaming_transport(answer))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 8 * MAX_DOCUMENT_BYTES

    @pytest.mark.parametrize(
        "codings",
        [["gzip, gzip"], ["gzip", "gzip"], ["deflate, gzip"], ["gzip,deflate"]],
        ids=["gzip-gzip", "two-header-lines", "deflate-gzip", "no-space"],
    )
    async def test_stacked_codings_are_refused(self, codings: list[str]) -> None:
        """A body encoded twice is refused before anything is decoded."""
        headers = [("Content-Encoding", value) for value in codings]
        transport = streaming_transport(
            lambda _: httpx.Response(200, headers=headers, stream=httpx.ByteStream(b"\x1f\x8b"))
        )
        with pytest.raises(JWKSError, match="returned a body encoded 2 times"):
            await get(transport)

    @pytest.mark.parametrize("coding", ["br", "zstd", "compress", "x-bomb", "gzip;q=1"])
    async def test_other_codings_are_refused(self, coding: str) -> None:
        """A coding that is not decoded here is refused, and named."""
        with pytest.raises(JWKSError, match=re.escape(f"returned content coding {coding!r}")):
            await get(serve(b"\x00" * 64, **{"Content-Encoding": coding}))

    async def test_document_over_the_limit_once_decoded_is_refused(self) -> None:
        """A JSON document one byte over the limit is refused, however small it travels."""
        with pytest.raises(JWKSError, match="once decoded"):
            await get(serve(gzip.compress(padded(MAX_DOCUMENT_BYTES + 1)), **GZIP))

    async def test_document_at_the_limit_once_decoded_is_read(self) -> None:
        """A gzip body that decodes to exactly the limit is read."""
        document = await get(serve(gzip.compress(padded(MAX_DOCUMENT_BYTES)), **GZIP))
        assert document.content["keys"] == []

    async def test_compressed_body_over_the_limit_on_the_wire_is_refused(self) -> None:
        """Incompressible bytes over the limit are refused while still arriving."""
        body = gzip.compress(os.urandom(MAX_DOCUMENT_BYTES + 1024))
        with pytest.raises(JWKSError, match=rf"returned more than {MAX_DOCUMENT_BYTES} bytes$"):
            await get(serve(body, **GZIP))

    @pytest.mark.parametrize(
        ("body", "problem"),
        [
            (gzip.compress(DOCUMENT)[:-8], "returned a truncated gzip body"),
            (corrupted(gzip.compress(DOCUMENT)), "returned a body that is not valid gzip"),
            (DOCUMENT, "returned a body that is not valid gzip"),
            (gzip.compress(DOCUMENT) * 2, "returned data after the end of its gzip stream"),
        ],
        ids=["truncated", "bad-checksum", "not-compressed", "two-members"],
    )
    async def test_broken_compressed_body_is_refused(self, body: bytes, problem: str) -> None:
        """Truncated, corrupt or trailing compressed data is refused, never half-read."""
        with pytest.raises(JWKSError, match=re.escape(problem)):
            await get(serve(body, **GZIP))


GZIP: Final = {"Content-Encoding": "gzip"}


class TestDocumentShape:
    """Limits on the JSON document as a whole: each one fails the fetch."""

    @pytest.mark.parametrize("depth", [50_000, 100_000])
    async def test_deeply_nested_json_is_refused(self, depth: int) -> None:
        """Brackets nested tens of thousands deep are an error, not a `RecursionError`."""
        body = b'{"keys": ' + b"[" * depth + b"]" * depth + b"}"
        with pytest.raises(JWKSError, match="nested too deeply"):
            await get(serve(body))

    async def test_more_keys_than_the_limit_fail_the_fetch(
        self, stub: IssuerStub, http: httpx.AsyncClient, keyring: Keyring
    ) -> None:
        """A JWKS listing more than `MAX_KEYS` entries is refused as a whole."""
        stub.keys = [keyring.p256.jwk(kid=f"k{n}") for n in range(MAX_KEYS + 1)]
        with pytest.raises(JWKSError, match=f"lists {MAX_KEYS + 1} keys; at most {MAX_KEYS}"):
            await fetch_jwks(http, auth_settings())

    async def test_keys_up_to_the_limit_are_all_read(
        self, stub: IssuerStub, http: httpx.AsyncClient, keyring: Keyring
    ) -> None:
        """`MAX_KEYS` entries are read and each becomes a key."""
        stub.keys = [keyring.p256.jwk(kid=f"k{n}") for n in range(MAX_KEYS)]
        document = await fetch_jwks(http, auth_settings())
        assert len(parse_jwks(document.content, ALGORITHMS).by_kid) == MAX_KEYS

    @pytest.mark.parametrize(
        ("cache_control", "max_age"),
        [
            (None, None),
            ("max-age=600", 600.0),
            ("public, max-age=120, must-revalidate", 120.0),
            ('max-age="90"', 90.0),
            ("MAX-AGE=30", 30.0),
            ("no-store", 0.0),
            ("no-cache", 0.0),
            ("max-age=600, no-cache", 0.0),
            ("max-age=600, max-age=60", 60.0),
            ("max-age=-5", None),
            ("max-age=1e9", None),
            ("max-age=" + "9" * 5000, None),
            ("max-age", None),
            ("s-maxage=60", None),
        ],
    )
    async def test_cache_control_gives_the_lifetime(
        self, cache_control: str | None, max_age: float | None
    ) -> None:
        """`max-age` is read (the smallest of several, `no-store`/`no-cache` as 0); nonsense is ignored."""
        headers = {} if cache_control is None else {"Cache-Control": cache_control}
        assert (await get(serve(DOCUMENT, **headers))).max_age == max_age


class TestHostileMembers:
    """Members of the wrong type or size skip their key; nothing else is raised."""

    HOSTILE: Final = (
        2**63,
        2**64 + 1,
        -1,
        10**9,
        1.5,
        1e308,
        True,
        "A" * 300_000,
        "",
        ["AQAB"],
        {"n": "AQAB"},
    )

    @pytest.mark.parametrize("value", HOSTILE, ids=lambda value: type(value).__name__)
    @pytest.mark.parametrize(
        ("family", "member"),
        [
            (0, "n"),
            (0, "e"),
            (0, "kty"),
            (1, "x"),
            (1, "y"),
            (1, "crv"),
            (3, "x"),
            (4, "x"),
            (4, "crv"),
            (4, "alg"),
            (4, "use"),
            (4, "key_ops"),
        ],
    )
    def test_entry_with_a_hostile_member_is_skipped(
        self,
        keyring: Keyring,
        caplog: pytest.LogCaptureFixture,
        family: int,
        member: str,
        value: object,
    ) -> None:
        """The entry yields no key, the other entries still do, and the log stays one short line."""
        hostile = keyring.published[family]
        other = keyring.published[2]  # P-384, never the hostile one
        keys = parse_jwks({"keys": [hostile.jwk(**{member: value}), other.public_jwk]}, ALGORITHMS)
        assert list(keys.by_kid) == [other.kid]
        assert all(len(record.getMessage()) < 300 for record in caplog.records)

    @pytest.mark.parametrize("kid", [2**63, 1.5, None, ["a"], {"kid": "a"}, True])
    def test_kid_that_is_not_a_string_is_usable_without_kid_only(
        self, keyring: Keyring, kid: object
    ) -> None:
        """A key whose `kid` is not a string is found by algorithm, never by kid."""
        keys = parse_jwks({"keys": [keyring.p256.jwk(kid=kid)]}, ALGORITHMS)
        assert keys.by_kid == {}
        assert keys.find(None, "ES256") is keys.by_algorithm["ES256"][0]

    def test_deeply_nested_member_is_not_rendered(
        self, keyring: Keyring, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A kid nested 100,000 lists deep is named by its type in the log, not repeated."""
        deep: list[Any] = []
        for _ in range(100_000):
            deep = [deep]
        with pytest.raises(JWKSError):
            parse_jwks({"keys": [keyring.rsa.jwk(kid=deep, n=7)]}, ALGORITHMS)
        assert "JWKS key <JSON list> skipped: member 'n' is <JSON int>" in caplog.text

    def test_huge_kid_is_cut_in_the_log(
        self, keyring: Keyring, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A 200,000-character kid appears shortened in the warning."""
        with pytest.raises(JWKSError):
            parse_jwks({"keys": [keyring.rsa.jwk(kid="k" * 200_000, e=7)]}, ALGORITHMS)
        (record,) = caplog.records
        assert len(record.getMessage()) < 300

    @pytest.mark.parametrize(
        "value", ["AQ*AB", "AQAB=", "AQ AB", "AQ\nAB", "QUJD+/", "A", "é"], ids=repr
    )
    def test_member_that_is_not_strict_base64url_is_refused(
        self, keyring: Keyring, value: str
    ) -> None:
        """Padding, `+/`, whitespace and stray characters are not base64url (RFC 7515 section 2)."""
        with pytest.raises(JWKSError):
            parse_jwks({"keys": [keyring.rsa.jwk(e=value)]}, ALGORITHMS)


def uint(value: int, length: int | None = None) -> str:
    """An unsigned integer as a base64url JWK member, `length` bytes long (default: minimal)."""
    size = length or max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(size, "big"))


class TestRSAKeyShapes:
    """RSA keys that are weak or degenerate are skipped (cryptography refuses some itself)."""

    @pytest.mark.parametrize(
        "exponent",
        [1, 2, 0, 4, 65536, 2**32 + 1, 2**64 + 1],
        ids=["1", "2", "0", "even-4", "even-65536", "33-bits", "65-bits"],
    )
    def test_bad_exponent_is_skipped(self, keyring: Keyring, exponent: int) -> None:
        """An exponent below 3, even, or over 32 bits yields no key."""
        with pytest.raises(JWKSError, match="no usable signing key"):
            parse_jwks({"keys": [keyring.rsa.jwk(e=uint(exponent))]}, ["RS256"])

    @pytest.mark.parametrize("exponent", [3, 65537, 2**32 - 1])
    def test_usual_exponents_are_accepted(self, exponent: int) -> None:
        """3, 65537 and the largest 32-bit odd exponent make usable keys."""
        modulus = rsa.generate_private_key(65537, 2048).public_key().public_numbers().n
        jwk_ = {"kty": "RSA", "kid": "k", "n": uint(modulus), "e": uint(exponent)}
        assert list(parse_jwks({"keys": [jwk_]}, ["RS256"]).by_kid) == ["k"]

    @pytest.mark.parametrize(
        "modulus",
        [
            2**2048 - 2,  # even
            2**2047 - 1,  # 2047 bits
            2**16385 - 1,  # over 16384 bits
            0,
            1,
        ],
        ids=["even", "2047-bits", "16385-bits", "zero", "one"],
    )
    def test_bad_modulus_is_skipped(self, keyring: Keyring, modulus: int) -> None:
        """An even, short, oversized or trivial modulus yields no key."""
        with pytest.raises(JWKSError, match="no usable signing key"):
            parse_jwks({"keys": [keyring.rsa.jwk(n=uint(modulus))]}, ["RS256"])

    def test_modulus_with_leading_zero_bytes_is_read_by_value(self, keyring: Keyring) -> None:
        """A modulus encoded with a leading zero byte is the same key (lenient, as issuers vary)."""
        modulus = int.from_bytes(b64decode(keyring.rsa.public_jwk["n"]), "big")
        keys = parse_jwks({"keys": [keyring.rsa.jwk(n=uint(modulus, 257))]}, ["RS256"])
        assert keys.by_kid["rsa-1"]["RS256"].to_dict()["n"] == keyring.rsa.public_jwk["n"]


P256: Final = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_B: Final = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


def small_x_point() -> tuple[int, int]:
    """A P-256 point with a small x, so that x + p still fits the 32 bytes of a coordinate."""
    for x in range(1, 1000):
        rhs = (x**3 - 3 * x + P256_B) % P256
        y = pow(rhs, (P256 + 1) // 4, P256)
        if y * y % P256 == rhs:
            return x, y
    raise AssertionError("no point found")


class TestECKeyShapes:
    """EC points that are not canonical points of the named curve are skipped."""

    def p256(self, x: int, y: int, x_len: int = 32, y_len: int = 32) -> dict[str, Any]:
        """A P-256 JWK of the point (x, y), with coordinates of the given lengths."""
        return {"kty": "EC", "crv": "P-256", "kid": "ec", "x": uint(x, x_len), "y": uint(y, y_len)}

    def test_a_point_with_small_x_is_a_valid_key(self) -> None:
        """The point the next tests distort is itself accepted."""
        x, y = small_x_point()
        assert list(parse_jwks({"keys": [self.p256(x, y)]}, ["ES256"]).by_kid) == ["ec"]

    @pytest.mark.parametrize(
        "shape",
        ["x-plus-p", "y-off-curve", "origin", "x-is-p", "all-ones"],
    )
    def test_degenerate_point_is_skipped(self, shape: str) -> None:
        """Coordinates >= p (the same point, non-canonically), points off the curve, (0, 0)."""
        x, y = small_x_point()
        point = {
            "x-plus-p": (x + P256, y),
            "y-off-curve": (x, (y + 1) % P256),
            "origin": (0, 0),
            "x-is-p": (P256, y),
            "all-ones": (2**256 - 1, 2**256 - 1),
        }[shape]
        with pytest.raises(JWKSError, match="no usable signing key"):
            parse_jwks({"keys": [self.p256(*point)]}, ["ES256"])

    @pytest.mark.parametrize(("x_len", "y_len"), [(33, 32), (32, 33), (64, 32)])
    def test_coordinates_of_the_wrong_length_are_skipped(self, x_len: int, y_len: int) -> None:
        """Coordinates are exactly 32 bytes for P-256 (RFC 7518 section 6.2.1.2)."""
        x, y = small_x_point()
        with pytest.raises(JWKSError, match="no usable signing key"):
            parse_jwks({"keys": [self.p256(x, y, x_len, y_len)]}, ["ES256"])

    def test_short_coordinate_is_skipped(self) -> None:
        """A coordinate stripped of its leading zero byte (31 bytes) is not read."""
        x, y = small_x_point()
        with pytest.raises(JWKSError, match="no usable signing key"):
            parse_jwks({"keys": [self.p256(x, y, x_len=31)]}, ["ES256"])

    def test_p384_coordinates_sized_for_p256_are_skipped(self, keyring: Keyring) -> None:
        """A P-384 key whose coordinates are 32 bytes long fits no curve size."""
        x, y = small_x_point()
        key = {**self.p256(x, y), "crv": "P-384"}
        with pytest.raises(JWKSError, match="no usable signing key"):
            parse_jwks({"keys": [key]}, ["ES384"])
