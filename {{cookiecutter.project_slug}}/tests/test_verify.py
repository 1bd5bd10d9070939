"""Token verification: header checks, key choice, signature, claim policy, verified-token cache."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

import pytest

from {{ cookiecutter.package_name }}.auth import (
    ExpiredToken,
    InvalidToken,
    IssuerRegistry,
    KeySet,
    Principal,
    TokenVerifier,
)
from {{ cookiecutter.package_name }}.auth import verify as verify_module
from {{ cookiecutter.package_name }}.auth.verify import MAX_CACHED_HEADERS

from .conftest import (
    ALGORITHMS,
    AUDIENCE,
    ISSUER,
    OMIT,
    auth_settings,
    b64url,
    claims,
    count_calls,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from {{ cookiecutter.package_name }}.auth import AuthSettings

    from .conftest import CallCount, FakeClock, IssuerStub, Keyring

LEEWAY = 30  # the default AUTH_LEEWAY
NOT_UTF8_HEADER = b64url(b'{"alg": "RS256", "kid": "rsa-1\xff"}')


async def refused(verifier: TokenVerifier, token: str) -> InvalidToken:
    """The `InvalidToken` that verifying `token` raises."""
    with pytest.raises(InvalidToken) as raised:
        await verifier.verify(token)
    return raised.value


async def verify_with_jwks(
    stub: IssuerStub, clock: FakeClock, jwks: list[dict[str, Any]], token: str, **overrides: Any
) -> Principal:
    """Verify `token` against an issuer that publishes exactly `jwks`."""
    stub.keys = list(jwks)
    settings = auth_settings(**overrides)
    async with IssuerRegistry.from_settings(
        settings, transport=stub.transport, clock=clock
    ) as issuers:
        return await TokenVerifier(settings, issuers, clock=clock).verify(token)


def sign_raw_claims(keyring: Keyring, payload: str) -> str:
    """An RS256 token whose payload is exactly the JSON text `payload`."""
    return keyring.rsa.sign(payload.encode("utf-8"), "RS256")


def with_claim_literal(name: str, literal: str) -> str:
    """Valid claims as JSON text, with claim `name` set to the JSON `literal` (e.g. `1e400`)."""
    placeholder: dict[str, Any] = {name: "@@"}
    return json.dumps(claims(**placeholder)).replace('"@@"', literal)


def tamper(token: str) -> str:
    """`token` with one signature character changed (away from the padding-bit tail)."""
    header, payload, signature = token.split(".")
    middle = len(signature) // 2
    swapped = "A" if signature[middle] != "A" else "B"
    return f"{header}.{payload}.{signature[:middle]}{swapped}{signature[middle + 1 :]}"


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> CallCount:
    """Count signature checks (each followed by the claim policy)."""
    return count_calls(monkeypatch, verify_module, "_check_signature")


class TestAlgorithms:
    """Each algorithm family, accepted and forged."""

    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    async def test_valid_token_is_accepted(
        self, verifier: TokenVerifier, keyring: Keyring, algorithm: str
    ) -> None:
        """A token signed with the issuer's key for this algorithm yields its principal."""
        principal = await verifier.verify(keyring.token(algorithm, scope="read write"))
        assert principal.subject == "user-1"
        assert principal.scopes == {"read", "write"}
        assert principal.claims["iss"] == ISSUER

    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    async def test_altered_signature_is_refused(
        self, verifier: TokenVerifier, keyring: Keyring, algorithm: str
    ) -> None:
        """Changing one character of the signature breaks it."""
        error = await refused(verifier, tamper(keyring.token(algorithm)))
        assert error.reason == "bad_signature"

    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    async def test_altered_claims_are_refused(
        self, verifier: TokenVerifier, keyring: Keyring, algorithm: str
    ) -> None:
        """A signature over other claims does not cover these."""
        header, _, signature = keyring.token(algorithm).split(".")
        forged_claims = b64url(json.dumps(claims(sub="admin")))
        error = await refused(verifier, f"{header}.{forged_claims}.{signature}")
        assert error.reason == "bad_signature"

    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    async def test_stripped_signature_is_refused(
        self, verifier: TokenVerifier, keyring: Keyring, algorithm: str
    ) -> None:
        """A token without its signature is malformed."""
        header, payload, _ = keyring.token(algorithm).split(".")
        assert (await refused(verifier, f"{header}.{payload}.")).reason == "malformed"

    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    async def test_impostor_key_with_the_issuers_kid_is_refused(
        self, verifier: TokenVerifier, keyring: Keyring, algorithm: str
    ) -> None:
        """A token signed by another key of the same type, claiming the issuer's kid, fails."""
        token = keyring.impostor_for(algorithm).sign(claims(), algorithm)
        assert (await refused(verifier, token)).reason == "bad_signature"

    @pytest.mark.parametrize("algorithm", ["RS256", "PS256"])
    async def test_rsa_signature_under_the_other_padding_is_refused(
        self, verifier: TokenVerifier, keyring: Keyring, algorithm: str
    ) -> None:
        """An RS256 signature relabelled PS256 (and back) does not verify."""
        other = {"RS256": "PS256", "PS256": "RS256"}[algorithm]
        _, payload, signature = keyring.token(algorithm).split(".")
        header = b64url(json.dumps({"alg": other, "kid": "rsa-1", "typ": "JWT"}))
        assert (await refused(verifier, f"{header}.{payload}.{signature}")).reason == (
            "bad_signature"
        )


class TestHeader:
    """What the JOSE header may and may not say."""

    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
    async def test_alg_none_is_refused(
        self, verifier: TokenVerifier, keyring: Keyring, alg: str
    ) -> None:
        """`alg: none` in any casing is refused, with or without a signature."""
        _, payload, signature = keyring.token().split(".")
        header = b64url(json.dumps({"alg": alg, "kid": "rsa-1"}))
        error = await refused(verifier, f"{header}.{payload}.{signature}")
        assert error.reason == "algorithm_not_allowed"
        assert (await refused(verifier, f"{header}.{payload}.")).reason == "malformed"

    async def test_hs256_with_the_public_key_as_secret_is_refused(
        self, verifier: TokenVerifier, keyring: Keyring
    ) -> None:
        """The algorithm-confusion attack (HMAC keyed with the RSA public key PEM) fails."""
        header = b64url(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}))
        payload = b64url(json.dumps(claims()))
        mac = hmac.new(keyring.rsa.public_pem, f"{header}.{payload}".encode(), hashlib.sha256)
        token = f"{header}.{payload}.{b64url(mac.digest())}"
        assert (await refused(verifier, token)).reason == "algorithm_not_allowed"

    @pytest.mark.parametrize("settings", [{"algorithms": ("ES256",)}], indirect=True)
    @pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES384", "EdDSA"])
    async def test_algorithm_outside_the_allow_list_is_refused(
        self, verifier: TokenVerifier, keyring: Keyring, algorithm: str
    ) -> None:
        """With `algorithms=ES256`, validly signed tokens of other algorithms are refused."""
        error = await refused(verifier, keyring.token(algorithm))
        assert error.reason == "algorithm_not_allowed"
        assert await verifier.verify(keyring.token("ES256"))

    async def test_rsa_kid_with_an_ec_alg_is_refused(
        self, verifier: TokenVerifier, keyring: Keyring, stub: IssuerStub
    ) -> None:
        """alg ES256 with the kid of an RSA key finds no key, and asks the issuer nothing."""
        token = keyring.p256.sign(claims(), "ES256", kid="rsa-1")
        assert (await refused(verifier, token)).reason == "unknown_kid"
        assert stub.jwks_fetches == 1

    async def test_key_declaring_alg_verifies_only_that_alg(
        self, stub: IssuerStub, clock: FakeClock, keyring: Keyring
    ) -> None:
        """An RSA key published with `alg: RS256` verifies RS256 but not PS256 or RS512."""
        jwks = [keyring.rsa.jwk(alg="RS256")]
        assert await verify_with_jwks(stub, clock, jwks, keyring.token("RS256"))
        for algorithm in ("PS256", "RS512"):
            with pytest.raises(InvalidToken, match="unknown_kid"):
                await verify_with_jwks(stub, clock, jwks, keyring.token(algorithm))

    async def test_encryption_key_is_ignored(
        self, stub: IssuerStub, clock: FakeClock, keyring: Keyring
    ) -> None:
        """A key published with `use: enc` never verifies a signature."""
        jwks = [keyring.rsa.jwk(use="enc"), keyring.p256.public_jwk]
        with pytest.raises(InvalidToken, match="unknown_kid"):
            await verify_with_jwks(stub, clock, jwks, keyring.token("RS256"))

    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    async def test_token_without_kid_uses_the_only_key_for_its_alg(
        self, verifier: TokenVerifier, keyring: Keyring, algorithm: str
    ) -> None:
        """A token without kid is accepted when exactly one usable key matches its alg."""
        token = keyring.for_algorithm(algorithm).sign(claims(), algorithm, kid=OMIT)
        assert (await verifier.verify(token)).subject == "user-1"

    async def test_token_without_kid_is_refused_when_two_keys_match(
        self, stub: IssuerStub, clock: FakeClock, keyring: Keyring
    ) -> None:
        """A token without kid is refused when two keys could verify it: no key is guessed."""
        token = keyring.rsa.sign(claims(), "RS256", kid=OMIT)
        jwks = [keyring.rsa.public_jwk, keyring.rsa_next.public_jwk]
        with pytest.raises(InvalidToken, match="no_unique_key"):
            await verify_with_jwks(stub, clock, jwks, token)

    async def test_unknown_kid_is_refused(self, verifier: TokenVerifier, keyring: Keyring) -> None:
        """A kid the issuer does not publish is refused."""
        token = keyring.rsa.sign(claims(), "RS256", kid="rsa-9")
        assert (await refused(verifier, token)).reason == "unknown_kid"

    @pytest.mark.parametrize(
        ("header", "reason"),
        [
            pytest.param({"crit": ["exp"]}, "unsupported_header", id="crit"),
            pytest.param({"crit": []}, "unsupported_header", id="empty-crit"),
            pytest.param({"b64": False, "crit": ["b64"]}, "unsupported_header", id="b64-false"),
            pytest.param({"b64": True}, "unsupported_header", id="b64-true"),
            pytest.param({"kid": 7}, "malformed_kid", id="kid-number"),
            pytest.param({"kid": ["rsa-1"]}, "malformed_kid", id="kid-list"),
            pytest.param({"kid": "k" * 257}, "malformed_kid", id="kid-257-chars"),
            pytest.param({"kid": "k" * 256}, "unknown_kid", id="kid-256-chars"),
        ],
    )
    async def test_unsupported_or_malformed_header_is_refused(
        self, verifier: TokenVerifier, keyring: Keyring, header: dict[str, Any], reason: str
    ) -> None:
        """Headers the verifier cannot honour refuse an otherwise valid, signed token."""
        token = keyring.rsa.sign(claims(), "RS256", **header)
        assert (await refused(verifier, token)).reason == reason

    @pytest.mark.parametrize(
        "header",
        [
            {"jku": "https://attacker.test/jwks.json", "kid": "attacker"},
            {"x5u": "https://attacker.test/cert.pem", "kid": "attacker"},
            {"jku": "https://attacker.test/jwks.json"},
        ],
        ids=["jku", "x5u", "jku-with-issuer-kid"],
    )
    async def test_key_urls_in_the_header_are_never_fetched(
        self,
        verifier: TokenVerifier,
        keyring: Keyring,
        stub: IssuerStub,
        clock: FakeClock,
        header: dict[str, Any],
    ) -> None:
        """`jku` and `x5u` are ignored: the attacker's URL is never requested."""
        clock.advance(30)  # past the cooldown, so an unknown kid may refresh the issuer's JWKS
        token = keyring.impostor_for("RS256").sign(claims(), "RS256", **header)
        await refused(verifier, token)
        assert all(url.startswith(ISSUER + "/") for url in stub.urls)

    async def test_embedded_jwk_is_never_trusted(
        self, verifier: TokenVerifier, keyring: Keyring, stub: IssuerStub
    ) -> None:
        """A token carrying its own public key in `jwk` is verified against the issuer's keys only."""
        impostor = keyring.impostor_for("RS256")
        token = impostor.sign(claims(), "RS256", jwk=impostor.public_jwk)
        assert (await refused(verifier, token)).reason == "bad_signature"
        assert stub.jwks_fetches == 1

    async def test_a_known_header_does_not_spare_the_signature_check(
        self, verifier: TokenVerifier, keyring: Keyring
    ) -> None:
        """Once a header has been read, tokens under it are still refused for bad signatures."""
        token = keyring.token()
        assert await verifier.verify(token)
        header, _, signature = token.split(".")
        forged_claims = b64url(json.dumps(claims(sub="admin")))
        assert (await refused(verifier, tamper(keyring.token()))).reason == "bad_signature"
        assert (await refused(verifier, f"{header}.{forged_claims}.{signature}")).reason == (
            "bad_signature"
        )

    async def test_headers_kept_for_reuse_are_bounded(
        self, verifier: TokenVerifier, keyring: Keyring
    ) -> None:
        """A stream of distinct headers is verified alike and never grows what is kept."""
        for number in range(MAX_CACHED_HEADERS + 8):
            assert await verifier.verify(keyring.rsa.sign(claims(), "RS256", x=number))
            assert len(verifier._headers) <= MAX_CACHED_HEADERS

    @pytest.mark.parametrize(
        "token",
        [
            pytest.param("", id="empty"),
            pytest.param("not-a-jwt", id="one-segment"),
            pytest.param("eyJhbGciOiJSUzI1NiJ9.e30", id="two-segments"),
            pytest.param("eyJhbGciOiJSUzI1NiJ9.e30.c2ln.c2ln", id="four-segments"),
            pytest.param("eyJhbGciOiJSUzI1NiJ9..c2ln", id="empty-payload"),
            pytest.param("eyJhbGci!!!OiJSUzI1NiJ9.e30.c2ln", id="bad-base64-header"),
            pytest.param("eyJhbGciOiJSUzI1NiJ9.e30=.c2ln", id="padded-payload"),
            pytest.param("eyJhbGciOiJSUzI1NiJ9.e30.c2ln+/", id="standard-base64-signature"),
            pytest.param("eyJhbGciOiJSUzI1NiJ9x.e30.c2ln", id="impossible-base64-length"),
            pytest.param(f"{b64url('not json')}.e30.c2ln", id="header-not-json"),
            pytest.param(f"{b64url('[1, 2]')}.e30.c2ln", id="header-a-json-list"),
            pytest.param(NOT_UTF8_HEADER + ".e30.c2ln", id="header-not-utf8"),
            pytest.param(b64url("[" * 3000) + ".e30.c2ln", id="header-deeply-nested"),
            pytest.param("eyJhbGciOiJSUzI1NiJ9.e30.c2ln\n", id="trailing-newline"),
            pytest.param("ey\u00e9J.e30.c2ln", id="non-ascii"),
        ],
    )
    async def test_malformed_token_is_refused(self, verifier: TokenVerifier, token: str) -> None:
        """Anything but three base64url segments with a JSON object header is malformed."""
        assert (await refused(verifier, token)).reason == "malformed"

    @pytest.mark.parametrize(
        "spelling",
        [
            pytest.param(lambda sig: sig[:8] + "!!!!" + sig[8:], id="junk-inside"),
            pytest.param(lambda sig: sig + "==", id="padding"),
            pytest.param(lambda sig: sig + "=", id="one-pad"),
        ],
    )
    async def test_other_spellings_of_a_valid_signature_are_refused(
        self, verifier: TokenVerifier, keyring: Keyring, spelling: Callable[[str], str]
    ) -> None:
        """Characters python-jose's decoder would skip make the token malformed, not equivalent."""
        header, payload, signature = keyring.token().split(".")
        token = f"{header}.{payload}.{spelling(signature)}"
        assert (await refused(verifier, token)).reason == "malformed"

    @pytest.mark.parametrize("segment", [0, 1, 2])
    async def test_non_canonical_base64url_spellings_are_refused(
        self, verifier: TokenVerifier, keyring: Keyring, segment: int
    ) -> None:
        """Only the canonical spelling verifies: nonzero unused trailing bits make it malformed."""
        parts = keyring.token(sub="user-12").split(".")
        assert all(len(part) % 4 in {2, 3} for part in parts)  # each ends with unused bits
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        unused = 0b1111 if len(parts[segment]) % 4 == 2 else 0b11
        last = alphabet.index(parts[segment][-1])
        spellings = [alphabet[(last & ~unused) | bits] for bits in range(1, unused + 1)]
        for spelling in spellings:
            variant = list(parts)
            variant[segment] = parts[segment][:-1] + spelling
            assert (await refused(verifier, ".".join(variant))).reason == "malformed"
        assert await verifier.verify(".".join(parts))

    @pytest.mark.parametrize("settings", [{"max_token_bytes": 1024}], indirect=True)
    async def test_oversized_token_is_refused_before_parsing(
        self, verifier: TokenVerifier, keyring: Keyring, decodes: CallCount
    ) -> None:
        """A token longer than `max_token_bytes` is refused unread; a shorter one is accepted."""
        token = keyring.token(padding="x" * 1024)
        assert (await refused(verifier, token)).reason == "token_too_large"
        assert decodes.calls == 0
        assert await verifier.verify(keyring.token())


class TestClaims:
    """The claim policy on top of a valid signature."""

    @pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
    async def test_expired_token_is_refused_as_expired(
        self, verifier: TokenVerifier, keyring: Keyring, clock: FakeClock, algorithm: str
    ) -> None:
        """A token past `exp` + leeway raises `ExpiredToken`, which says so to the client."""
        token = keyring.token(algorithm, now=clock() - 3600, exp=clock() - LEEWAY - 1)
        with pytest.raises(ExpiredToken) as raised:
            await verifier.verify(token)
        assert raised.value.description == "The access token expired."

    async def test_expiry_within_the_leeway_is_accepted(
        self, verifier: TokenVerifier, keyring: Keyring, clock: FakeClock
    ) -> None:
        """Clock skew up to the leeway is forgiven."""
        assert await verifier.verify(keyring.token(now=clock() - 3600, exp=clock() - LEEWAY))

    @pytest.mark.parametrize(
        ("overrides", "reason"),
        [
            pytest.param({"nbf": 3600}, "not_yet_valid", id="nbf-in-future"),
            pytest.param({"iat": 3600}, "issued_in_future", id="iat-in-future"),
            pytest.param({"exp": OMIT}, "missing_exp", id="no-exp"),
            pytest.param({"iss": OMIT}, "unknown_issuer", id="no-iss"),
            pytest.param({"iss": ISSUER + "/"}, "unknown_issuer", id="iss-trailing-slash"),
            pytest.param({"iss": "https://other.test"}, "unknown_issuer", id="iss-other"),
            pytest.param({"iss": [ISSUER]}, "unknown_issuer", id="iss-list"),
            pytest.param({"sub": OMIT}, "missing_sub", id="no-sub"),
            pytest.param({"sub": ""}, "missing_sub", id="empty-sub"),
            pytest.param({"sub": 42}, "missing_sub", id="sub-number"),
            pytest.param({"aud": OMIT}, "wrong_audience", id="no-aud"),
            pytest.param({"aud": "https://other.test"}, "wrong_audience", id="aud-other"),
            pytest.param({"aud": AUDIENCE + "/"}, "wrong_audience", id="aud-trailing-slash"),
            pytest.param({"aud": ["a", "b"]}, "wrong_audience", id="aud-list-without-ours"),
            pytest.param({"aud": []}, "wrong_audience", id="aud-empty-list"),
            pytest.param({"aud": {"x": AUDIENCE}}, "wrong_audience", id="aud-object"),
            pytest.param({"aud": 1}, "wrong_audience", id="aud-number"),
        ],
    )
    async def test_claim_policy_violation_is_refused(
        self,
        verifier: TokenVerifier,
        keyring: Keyring,
        clock: FakeClock,
        overrides: dict[str, Any],
        reason: str,
    ) -> None:
        """Signed tokens that break the claim policy are refused (`nbf`/`iat` relative to now)."""
        relative = {
            name: clock() + value if name in {"nbf", "iat"} else value
            for name, value in overrides.items()
        }
        token = keyring.token(now=clock(), **relative)
        assert (await refused(verifier, token)).reason == reason

    @pytest.mark.parametrize("name", ["nbf", "iat"])
    async def test_future_time_within_the_leeway_is_accepted(
        self, verifier: TokenVerifier, keyring: Keyring, clock: FakeClock, name: str
    ) -> None:
        """`nbf` or `iat` up to the leeway ahead (clock skew) is accepted."""
        ahead: dict[str, Any] = {name: clock() + LEEWAY}
        assert await verifier.verify(keyring.token(now=clock(), **ahead))

    @pytest.mark.parametrize(
        "literal",
        ["4102444800.5", "1" + "0" * 300, "1e300"],
        ids=["fraction", "int-1e300", "float-1e300"],
    )
    async def test_any_finite_number_is_an_expiry(
        self, verifier: TokenVerifier, keyring: Keyring, literal: str
    ) -> None:
        """A fractional or far-future `exp` (an integer as large as a float allows) is accepted."""
        token = sign_raw_claims(keyring, with_claim_literal("exp", literal))
        assert await verifier.verify(token)

    @pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
    @pytest.mark.parametrize(
        "literal",
        ["null", '"1700000000"', "[1]", "{}", "true", "1e400", "-1e400", "1" + "0" * 400, "NaN"],
        ids=["null", "string", "list", "object", "bool", "1e400", "-1e400", "huge-int", "NaN"],
    )
    async def test_time_claim_that_is_not_a_number_is_refused(
        self, verifier: TokenVerifier, keyring: Keyring, name: str, literal: str
    ) -> None:
        """`exp`, `nbf` and `iat` of null, string, list, object, bool or huge number are refused."""
        token = sign_raw_claims(keyring, with_claim_literal(name, literal))
        await refused(verifier, token)

    async def test_aud_list_with_the_configured_audience_is_accepted(
        self, verifier: TokenVerifier, keyring: Keyring
    ) -> None:
        """An `aud` list is accepted when one of its values is configured."""
        assert await verifier.verify(keyring.token(aud=["https://other.test", 7, AUDIENCE]))

    @pytest.mark.parametrize(
        "settings", [{"audience": ("https://a.test", "https://b.test")}], indirect=True
    )
    async def test_any_of_several_configured_audiences_is_accepted(
        self, verifier: TokenVerifier, keyring: Keyring
    ) -> None:
        """With two audiences configured, a token for either is accepted, for neither refused."""
        assert await verifier.verify(keyring.token(aud="https://a.test"))
        assert await verifier.verify(keyring.token(aud=["https://b.test"]))
        error = await refused(verifier, keyring.token(aud="https://c.test"))
        assert error.reason == "wrong_audience"

    @pytest.mark.parametrize("settings", [{"audience": ()}], indirect=True)
    @pytest.mark.parametrize("aud", [OMIT, "https://anyone.test", ["x", "y"]])
    async def test_without_configured_audience_aud_is_not_checked(
        self, verifier: TokenVerifier, keyring: Keyring, aud: object
    ) -> None:
        """With no audience configured, any `aud` (or none) is accepted."""
        assert await verifier.verify(keyring.token(aud=aud))


class TestScopes:
    """Scopes of the principal."""

    @pytest.mark.parametrize(
        ("overrides", "scopes"),
        [
            ({"scope": "read write"}, {"read", "write"}),
            ({"scope": "  read   write "}, {"read", "write"}),
            ({"scope": OMIT, "scp": ["read", "admin"]}, {"read", "admin"}),
            ({"scope": OMIT, "scp": "read admin"}, {"read", "admin"}),
            ({"scope": "read", "scp": ["admin"]}, {"read", "admin"}),
            ({"scope": OMIT, "scp": ["read", 7, None]}, {"read"}),
            ({"scope": 7}, set()),
            ({"scope": OMIT}, set()),
            ({"scope": "read\u3000admin"}, {"read\u3000admin"}),
            ({"scope": "read\tadmin\nwrite"}, {"read\tadmin\nwrite"}),
            ({"scope": "read\u00a0admin"}, {"read\u00a0admin"}),
            ({"scope": OMIT, "scp": "read\u2003admin"}, {"read\u2003admin"}),
        ],
    )
    async def test_scopes_come_from_scope_and_scp(
        self,
        verifier: TokenVerifier,
        keyring: Keyring,
        overrides: dict[str, Any],
        scopes: set[str],
    ) -> None:
        """`scope` and `scp` (split on U+0020 only, RFC 6749 3.3) contribute; other types do not."""
        assert (await verifier.verify(keyring.token(**overrides))).scopes == scopes


async def verify_until_cached(verifier: TokenVerifier, token: str) -> Principal:
    """Verify `token` twice: the second success stores it in the cache of verified tokens."""
    await verifier.verify(token)
    return await verifier.verify(token)


class TestVerifiedCache:
    """Successful verifications are remembered, within the token's and the key set's lifetime."""

    async def test_reused_token_is_verified_twice_then_answered_from_the_cache(
        self, verifier: TokenVerifier, keyring: Keyring, decodes: CallCount
    ) -> None:
        """A token seen once is not stored; from its third use on, the cache answers."""
        token = keyring.token("EdDSA")
        second = await verify_until_cached(verifier, token)
        for _ in range(3):
            assert await verifier.verify(token) is second
        assert decodes.calls == 2

    async def test_refused_token_is_not_cached(
        self, verifier: TokenVerifier, keyring: Keyring, decodes: CallCount
    ) -> None:
        """Only successes are cached: a refused token is checked again each time."""
        token = keyring.token(aud="https://other.test")
        for _ in range(2):
            await refused(verifier, token)
        assert decodes.calls == 2

    @pytest.mark.parametrize("settings", [{"verified_cache_ttl": 3600}], indirect=True)
    async def test_cached_token_is_refused_once_it_expires(
        self, verifier: TokenVerifier, keyring: Keyring, clock: FakeClock, decodes: CallCount
    ) -> None:
        """A cached token is served until `exp` + leeway, then refused as expired."""
        token = keyring.token(now=clock(), lifetime=60)
        await verify_until_cached(verifier, token)
        clock.advance(60 + LEEWAY - 1)
        await verifier.verify(token)
        assert decodes.calls == 2
        clock.advance(2)
        with pytest.raises(ExpiredToken):
            await verifier.verify(token)

    @pytest.mark.parametrize("settings", [{"verified_cache_ttl": 10}], indirect=True)
    async def test_cache_entry_lives_at_most_the_cache_ttl(
        self, verifier: TokenVerifier, keyring: Keyring, clock: FakeClock, decodes: CallCount
    ) -> None:
        """After `verified_cache_ttl` the token is verified afresh."""
        token = keyring.token(now=clock())
        await verify_until_cached(verifier, token)
        clock.advance(9)
        await verifier.verify(token)
        assert decodes.calls == 2
        clock.advance(1)
        await verifier.verify(token)
        assert decodes.calls == 3

    async def test_cached_token_is_refused_after_its_key_is_withdrawn(
        self,
        verifier: TokenVerifier,
        keys: KeySet,
        keyring: Keyring,
        stub: IssuerStub,
        clock: FakeClock,
    ) -> None:
        """Once a refresh drops the token's key, the cached verification no longer counts."""
        token = keyring.token("RS256", now=clock())
        await verify_until_cached(verifier, token)
        stub.keys = [keyring.rsa_next.public_jwk]
        clock.advance(30)
        assert await verifier.verify(token)  # still cached: nothing has refreshed the keys yet
        await refused(verifier, keyring.rsa_next.sign(claims(now=clock()), "RS256", kid="rsa-3"))
        assert keys.version == 2
        assert (await refused(verifier, token)).reason == "unknown_kid"

    async def test_cache_is_not_shared_across_audience_configurations(
        self, stub: IssuerStub, keyring: Keyring, clock: FakeClock
    ) -> None:
        """A token cached by a verifier for one audience is refused by a verifier for another."""
        ours_settings = auth_settings(audience=("https://a.test",))
        theirs_settings = auth_settings(audience=("https://b.test",))
        ours_issuers = IssuerRegistry.from_settings(ours_settings, transport=stub.transport)
        theirs_issuers = IssuerRegistry.from_settings(theirs_settings, transport=stub.transport)
        async with ours_issuers, theirs_issuers:
            ours = TokenVerifier(ours_settings, ours_issuers, clock=clock)
            theirs = TokenVerifier(theirs_settings, theirs_issuers, clock=clock)
            token = keyring.token(aud="https://a.test")
            assert await verify_until_cached(ours, token)
            assert (await refused(theirs, token)).reason == "wrong_audience"

    @pytest.mark.parametrize(
        "settings", [{"verified_cache_size": 0}, {"verified_cache_ttl": 0}], indirect=True
    )
    async def test_cache_can_be_switched_off(
        self, verifier: TokenVerifier, keyring: Keyring, decodes: CallCount
    ) -> None:
        """A cache size or TTL of 0 verifies every request in full."""
        token = keyring.token()
        for _ in range(3):
            await verifier.verify(token)
        assert decodes.calls == 3


def test_leeway_constant_is_the_default(settings: AuthSettings) -> None:
    """`LEEWAY` above is the configured default, so the boundary tests test the real boundary."""
    assert settings.leeway == LEEWAY
