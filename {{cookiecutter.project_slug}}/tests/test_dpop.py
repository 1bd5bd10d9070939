"""DPoP (RFC 9449): every proof and binding the service accepts or refuses, and why."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jose import jwk as jose_jwk
from litestar.testing import AsyncTestClient

from {{ cookiecutter.package_name }}.auth import SettingsError, load_auth_settings
from {{ cookiecutter.package_name }}.auth.algorithms import SUPPORTED_ALGORITHMS
from {{ cookiecutter.package_name }}.auth.dpop import (
    NonceSource,
    ReplayCache,
    access_token_hash,
    jwk_thumbprint,
    normalized_uri,
)

from .conftest import OMIT, REALM, FakeClock, SigningKey, auth_settings, b64url, build_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from litestar import Litestar

    from .conftest import AccessLines, IssuerStub, Keyring

    Client = AsyncTestClient[Litestar]

PUBLIC_URL: Final = "https://api.test"
URL: Final = f"{PUBLIC_URL}/protected"
ALGS: Final = " ".join(SUPPORTED_ALGORITHMS)
NONCE_SECRET: Final = "n" * 32
BEARER: Final = f'Bearer realm="{REALM}"'


def dpop_challenge(error: str = "", description: str = "") -> str:
    """The DPoP challenge the service answers with (`error` and its description if given)."""
    parts = [f'DPoP realm="{REALM}"']
    if error:
        parts += [f'error="{error}"', f'error_description="{description}"']
    return ", ".join([*parts, f'algs="{ALGS}"'])


BAD_PROOF: Final = dpop_challenge("invalid_dpop_proof", "The DPoP proof is invalid.")
NOT_BOUND_TO_KEY: Final = dpop_challenge(
    "invalid_token", "The access token is not bound to the DPoP proof's key."
)
NEEDS_DPOP: Final = dpop_challenge(
    "invalid_token", "The access token must be sent with the DPoP scheme and a proof."
)
USE_NONCE: Final = dpop_challenge(
    "use_dpop_nonce", "The DPoP proof must carry the nonce in DPoP-Nonce."
)

WEAK_RSA_JWK: Final = SigningKey.generate(
    "weak",
    rsa.generate_private_key(65537, 1024),  # noqa: S505 - the weak key under test
).public_jwk
"""A public RSA-1024 key: too small for a proof."""
THUMBPRINT_MEMBERS: Final = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


def thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638, written out here independently of the service's code."""
    members = {name: public_jwk[name] for name in THUMBPRINT_MEMBERS[public_jwk["kty"]]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True)
class Prover:
    """A client's DPoP key: it makes proofs, and its thumbprint binds tokens to it."""

    key: SigningKey
    algorithm: str

    @property
    def jwk(self) -> dict[str, Any]:
        """The public JWK that proofs carry."""
        return {name: value for name, value in self.key.public_jwk.items() if name != "kid"}

    @property
    def jkt(self) -> str:
        """The key's thumbprint, as `cnf.jkt` carries it."""
        return thumbprint(self.jwk)

    def proof(
        self,
        token: str | None,
        *,
        htm: str = "GET",
        htu: str = URL,
        header: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        """A proof for `htm htu` presenting `token`; `header`/`overrides` change it (`OMIT` drops)."""
        merged_header = {
            "typ": "dpop+jwt",
            "alg": self.algorithm,
            "jwk": self.jwk,
            **(header or {}),
        }
        claims = {
            "jti": str(uuid.uuid4()),
            "htm": htm,
            "htu": htu,
            "iat": int(time.time()),
            **({"ath": access_token_hash(token)} if token else {}),
            **overrides,
        }
        return sign_compact(
            {name: value for name, value in merged_header.items() if value is not OMIT},
            {name: value for name, value in claims.items() if value is not OMIT},
            self.key,
            self.algorithm,
        )


def sign_compact(header: dict[str, Any], claims: dict[str, Any], key: SigningKey, alg: str) -> str:
    """A compact JWS of exactly `header` and `claims`, signed with `key` for `alg`."""
    signing_input = f"{b64url(json.dumps(header))}.{b64url(json.dumps(claims))}"
    signer = jose_jwk.construct(key.private_pem, alg)
    return f"{signing_input}.{b64url(signer.sign(signing_input.encode()))}"


@pytest.fixture(scope="module")
def provers() -> dict[str, Prover]:
    """One client key per proof algorithm family the tests use."""
    rsa_key = SigningKey.generate("c-rsa", rsa.generate_private_key(65537, 2048))
    return {
        "ES256": Prover(
            SigningKey.generate("c-p256", ec.generate_private_key(ec.SECP256R1())), "ES256"
        ),
        "EdDSA": Prover(SigningKey.generate("c-ed", ed25519.Ed25519PrivateKey.generate()), "EdDSA"),
        "RS256": Prover(rsa_key, "RS256"),
        "PS256": Prover(rsa_key, "PS256"),
    }


@pytest.fixture
def prover(provers: dict[str, Prover]) -> Prover:
    """The ES256 client key."""
    return provers["ES256"]


@pytest.fixture
def other(provers: dict[str, Prover]) -> Prover:
    """Another client's key (EdDSA)."""
    return provers["EdDSA"]


def dpop(token: str, proof: str | None) -> dict[str, str]:
    """`Authorization: DPoP <token>` and, if given, the `DPoP` proof header."""
    return {"Authorization": f"DPoP {token}", **({"DPoP": proof} if proof else {})}


@pytest.fixture
def dpop_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Setting overrides for `service`; parametrize indirectly."""
    return {"public_url": PUBLIC_URL, **getattr(request, "param", {})}


@pytest.fixture
async def service(stub: IssuerStub, dpop_settings: dict[str, Any]) -> AsyncIterator[Client]:
    """The real app with `AUTH_PUBLIC_URL=https://api.test` and `dpop_settings`."""
    async with AsyncTestClient(build_app(stub, auth_settings(**dpop_settings))) as client:
        yield client


def with_mode(mode: str, **more: Any) -> pytest.MarkDecorator:
    """Parametrize `dpop_settings` with `AUTH_DPOP=mode`."""
    return pytest.mark.parametrize(
        "dpop_settings", [{"public_url": PUBLIC_URL, "dpop": mode, **more}], indirect=True
    )


class TestAccepted:
    """A DPoP-bound token with a valid proof of its key is served."""

    @pytest.mark.parametrize("algorithm", ["ES256", "EdDSA", "RS256", "PS256"])
    async def test_bound_token_with_proof_is_served(
        self, service: Client, keyring: Keyring, provers: dict[str, Prover], algorithm: str
    ) -> None:
        """Each proof algorithm family verifies, and the principal is the token's subject."""
        client_key = provers[algorithm]
        token = keyring.token(cnf={"jkt": client_key.jkt})
        response = await service.get("/protected", headers=dpop(token, client_key.proof(token)))
        assert response.status_code == 200, response.text
        assert response.json()["user"]["subject"] == "user-1"

    async def test_every_request_needs_a_fresh_proof_even_for_a_cached_token(
        self, service: Client, keyring: Keyring, prover: Prover
    ) -> None:
        """The token is cached after two uses, yet a third request without a proof is refused."""
        token = keyring.token(cnf={"jkt": prover.jkt})
        for _ in range(3):
            ok = await service.get("/protected", headers=dpop(token, prover.proof(token)))
            assert ok.status_code == 200
        refused = await service.get("/protected", headers=dpop(token, None))
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == f"{BAD_PROOF}, {BEARER}"

    async def test_plain_bearer_token_still_works_in_allowed_mode(
        self, service: Client, keyring: Keyring
    ) -> None:
        """A token without `cnf` is a bearer token as before."""
        response = await service.get(
            "/protected", headers={"Authorization": f"Bearer {keyring.token()}"}
        )
        assert response.status_code == 200

    @pytest.mark.parametrize(
        "htu",
        [
            "HTTPS://API.TEST/protected",
            "https://api.test:443/protected",
            "https://api.test/./protected",
            "https://api.test/x/../protected",
            "https://api.test/%70rotected",
            "https://api.test/protected?query=ignored",
            "https://api.test/protected#fragment",
        ],
    )
    async def test_htu_is_compared_after_normalisation(
        self, service: Client, keyring: Keyring, prover: Prover, htu: str
    ) -> None:
        """Case, default port, dot segments, escapes of unreserved characters, query: all equal."""
        token = keyring.token(cnf={"jkt": prover.jkt})
        response = await service.get(
            "/protected", headers=dpop(token, prover.proof(token, htu=htu))
        )
        assert response.status_code == 200, response.text

    async def test_iat_within_the_leeway_ahead_is_accepted(
        self, service: Client, keyring: Keyring, prover: Prover
    ) -> None:
        """A client clock 20 s ahead (leeway 30 s) is tolerated."""
        token = keyring.token(cnf={"jkt": prover.jkt})
        proof = prover.proof(token, iat=int(time.time()) + 20)
        assert (await service.get("/protected", headers=dpop(token, proof))).status_code == 200

    async def test_dpop_client_missing_a_scope_gets_a_dpop_403(
        self, service: Client, keyring: Keyring, prover: Prover
    ) -> None:
        """The guard's 403 challenges with the scheme the client used."""
        token = keyring.token(cnf={"jkt": prover.jkt})
        proof = prover.proof(token, htu=f"{PUBLIC_URL}/admin")
        response = await service.get("/admin", headers=dpop(token, proof))
        assert response.status_code == 403
        assert response.headers["WWW-Authenticate"].startswith(
            f'DPoP realm="{REALM}", error="insufficient_scope"'
        )


def proof_attacks() -> list[Any]:
    """(name, how the proof is made from (prover, other, token)) for every refused proof."""
    now = int(time.time())
    cases: list[tuple[str, Callable[[Prover, Prover, str], str], str]] = [
        ("wrong typ", lambda p, _o, t: p.proof(t, header={"typ": "JWT"}), "proof_wrong_typ"),
        ("no typ", lambda p, _o, t: p.proof(t, header={"typ": OMIT}), "proof_wrong_typ"),
        ("alg none", lambda p, _o, t: _unsigned(p, t, "none"), "proof_algorithm_not_allowed"),
        ("alg HS256", lambda p, _o, t: _unsigned(p, t, "HS256"), "proof_algorithm_not_allowed"),
        ("no jwk", lambda p, _o, t: p.proof(t, header={"jwk": OMIT}), "proof_missing_jwk"),
        (
            "private jwk",
            lambda p, _o, t: p.proof(t, header={"jwk": {**p.jwk, "d": b64url(b"x" * 32)}}),
            "proof_jwk_private",
        ),
        (
            "symmetric jwk",
            lambda p, _o, t: p.proof(t, header={"jwk": {"kty": "oct", "k": b64url(b"s" * 32)}}),
            "proof_jwk_private",
        ),
        (
            "jwk of another type",
            lambda p, o, t: p.proof(t, header={"jwk": o.jwk}),
            "proof_jwk_wrong_type",
        ),
        (
            "signed by another key than its jwk",
            lambda p, _o, t: p.proof(
                t,
                header={
                    "jwk": Prover(
                        SigningKey.generate("x", ec.generate_private_key(ec.SECP256R1())), "ES256"
                    ).jwk
                },
            ),
            "proof_bad_signature",
        ),
        (
            "RSA key under 2048 bits",
            lambda p, _o, t: p.proof(t, header={"alg": "RS256", "jwk": WEAK_RSA_JWK}),
            "proof_weak_key",
        ),
        (
            "EC point not on the curve",
            lambda p, _o, t: p.proof(t, header={"jwk": {**p.jwk, "y": p.jwk["x"]}}),
            "proof_bad_jwk",
        ),
        (
            "jwk member not a string",
            lambda p, _o, t: p.proof(t, header={"jwk": {**p.jwk, "x": 5}}),
            "proof_bad_jwk",
        ),
        (
            "crit header",
            lambda p, _o, t: p.proof(t, header={"crit": ["exp"]}),
            "proof_unsupported_header",
        ),
        ("htm mismatch", lambda p, _o, t: p.proof(t, htm="POST"), "proof_htm_mismatch"),
        ("htm lowercase", lambda p, _o, t: p.proof(t, htm="get"), "proof_htm_mismatch"),
        (
            "htu of another host",
            lambda p, _o, t: p.proof(t, htu="https://other.test/protected"),
            "proof_htu_mismatch",
        ),
        (
            "htu of another path",
            lambda p, _o, t: p.proof(t, htu=f"{PUBLIC_URL}/admin"),
            "proof_htu_mismatch",
        ),
        (
            "htu over http",
            lambda p, _o, t: p.proof(t, htu="http://api.test/protected"),
            "proof_htu_mismatch",
        ),
        ("htu missing", lambda p, _o, t: p.proof(t, htu=OMIT), "proof_htu_mismatch"),
        ("iat too old", lambda p, _o, t: p.proof(t, iat=now - 120), "proof_too_old"),
        ("iat in the future", lambda p, _o, t: p.proof(t, iat=now + 120), "proof_iat_in_future"),
        ("iat a string", lambda p, _o, t: p.proof(t, iat=str(now)), "proof_bad_iat"),
        ("iat missing", lambda p, _o, t: p.proof(t, iat=OMIT), "proof_bad_iat"),
        ("jti missing", lambda p, _o, t: p.proof(t, jti=OMIT), "proof_bad_jti"),
        ("jti too long", lambda p, _o, t: p.proof(t, jti="j" * 257), "proof_bad_jti"),
        ("ath missing", lambda p, _o, t: p.proof(None), "proof_ath_mismatch"),
        (
            "ath of another token",
            lambda p, _o, t: p.proof(t, ath=access_token_hash(t + "x")),
            "proof_ath_mismatch",
        ),
        ("not a JWS", lambda _p, _o, _t: "not-a-jwt", "proof_malformed"),
        ("too large", lambda p, _o, t: p.proof(t, pad="x" * 9000), "proof_too_large"),
    ]
    return [pytest.param((make, reason), id=name) for name, make, reason in cases]


def _unsigned(prover: Prover, token: str, alg: str) -> str:
    proof = prover.proof(token, header={"alg": alg})
    return proof.rpartition(".")[0] + ".c2ln"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record, so the access lines can be read."""
    caplog.set_level(logging.DEBUG)
    return caplog


def refusal_reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The reason of every refusal logged so far."""
    return [
        str(record.args[0])
        for record in caplog.records
        if record.name.endswith("auth.refusals") and isinstance(record.args, tuple)
    ]


class TestRefusedProofs:
    """Every proof RFC 9449 section 4.3 refuses gets a 401 `invalid_dpop_proof`, reason logged."""

    @pytest.mark.parametrize("attack", proof_attacks())
    async def test_refused(
        self,
        service: Client,
        keyring: Keyring,
        provers: dict[str, Prover],
        logs: pytest.LogCaptureFixture,
        attack: tuple[Callable[[Prover, Prover, str], str], str],
    ) -> None:
        """The proof is refused with the DPoP challenge first and the reason in the log."""
        make, reason = attack
        prover, other = provers["ES256"], provers["EdDSA"]
        token = keyring.token(cnf={"jkt": prover.jkt})
        response = await service.get("/protected", headers=dpop(token, make(prover, other, token)))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == f"{BAD_PROOF}, {BEARER}"
        assert response.json() == {"status_code": 401, "detail": "The DPoP proof is invalid."}
        assert refusal_reasons(logs) == [reason]

    async def test_replayed_proof_is_refused(
        self, stub: IssuerStub, keyring: Keyring, prover: Prover, access_log: AccessLines
    ) -> None:
        """The same proof (same `jti`) works once; the access line names the reason."""
        token = keyring.token(cnf={"jkt": prover.jkt})
        proof = prover.proof(token)
        app = build_app(stub, auth_settings(public_url=PUBLIC_URL))
        async with AsyncTestClient(app) as client:
            assert (await client.get("/protected", headers=dpop(token, proof))).status_code == 200
            replayed = await client.get("/protected", headers=dpop(token, proof))
        assert replayed.status_code == 401
        assert replayed.headers["WWW-Authenticate"] == f"{BAD_PROOF}, {BEARER}"
        access = access_log.fields()
        assert [line.get("auth_failure") for line in access] == [None, "proof_replayed"]

    async def test_missing_proof_is_refused(
        self, service: Client, keyring: Keyring, prover: Prover
    ) -> None:
        """`Authorization: DPoP` without a `DPoP` header is refused."""
        token = keyring.token(cnf={"jkt": prover.jkt})
        response = await service.get("/protected", headers=dpop(token, None))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == f"{BAD_PROOF}, {BEARER}"

    async def test_two_proof_headers_are_refused(
        self, service: Client, keyring: Keyring, prover: Prover
    ) -> None:
        """Exactly one `DPoP` header: a second one, even valid, is refused."""
        token = keyring.token(cnf={"jkt": prover.jkt})
        headers = [
            ("Authorization", f"DPoP {token}"),
            ("DPoP", prover.proof(token)),
            ("DPoP", prover.proof(token)),
        ]
        response = await service.get("/protected", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == f"{BAD_PROOF}, {BEARER}"

    async def test_host_header_does_not_change_the_request_uri(
        self, stub: IssuerStub, keyring: Keyring, prover: Prover
    ) -> None:
        """Without `AUTH_PUBLIC_URL`, a proof naming the `Host` the client sent is refused."""
        async with AsyncTestClient(build_app(stub, auth_settings())) as client:
            token = keyring.token(cnf={"jkt": prover.jkt})
            proof = prover.proof(token, htu="https://api.test/protected")
            headers = {**dpop(token, proof), "Host": "api.test", "X-Forwarded-Host": "api.test"}
            response = await client.get("/protected", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == f"{BAD_PROOF}, {BEARER}"


class TestBinding:
    """The token's `cnf.jkt` and the proof's key must match; bound tokens never pass as bearer."""

    async def test_token_bound_to_another_key_is_refused(
        self, service: Client, keyring: Keyring, prover: Prover, other: Prover
    ) -> None:
        """A valid proof by one key does not carry a token bound to another key."""
        token = keyring.token(cnf={"jkt": other.jkt})
        response = await service.get("/protected", headers=dpop(token, prover.proof(token)))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == f"{NOT_BOUND_TO_KEY}, {BEARER}"

    async def test_unbound_token_with_dpop_scheme_is_refused(
        self, service: Client, keyring: Keyring, prover: Prover
    ) -> None:
        """A token without `cnf.jkt` cannot be presented with the DPoP scheme."""
        token = keyring.token()
        response = await service.get("/protected", headers=dpop(token, prover.proof(token)))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == f"{NOT_BOUND_TO_KEY}, {BEARER}"

    @pytest.mark.parametrize(
        ("dpop_settings", "challenge"),
        [
            ({"dpop": "allowed"}, f"{NEEDS_DPOP}, {BEARER}"),
            ({"dpop": "required"}, NEEDS_DPOP),
            (
                {"dpop": "off"},
                f'{BEARER}, error="invalid_token", '
                'error_description="The access token is invalid."',
            ),
        ],
        indirect=["dpop_settings"],
    )
    async def test_bound_token_as_bearer_is_refused_in_every_mode(
        self, service: Client, keyring: Keyring, prover: Prover, challenge: str
    ) -> None:
        """RFC 9449 section 7.2: a DPoP-bound token sent with `Bearer` is refused."""
        token = keyring.token(cnf={"jkt": prover.jkt})
        response = await service.get("/protected", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == challenge

    @pytest.mark.parametrize(
        "confirmation",
        [{"jwk": {"kty": "EC"}}, "not-an-object", {"jkt": 5}, {}],
        ids=["unknown method", "not an object", "jkt not a string", "empty"],
    )
    async def test_unusable_confirmation_is_refused(
        self, service: Client, keyring: Keyring, prover: Prover, confirmation: object
    ) -> None:
        """A `cnf` the service cannot check fails closed, whatever the scheme."""
        token = keyring.token(cnf=confirmation)
        for headers in (dpop(token, prover.proof(token)), {"Authorization": f"Bearer {token}"}):
            response = await service.get("/protected", headers=headers)
            assert response.status_code == 401
            assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


class TestModes:
    """`AUTH_DPOP`: which schemes are offered and what each challenge says."""

    @with_mode("required")
    async def test_required_refuses_a_plain_bearer_token(
        self, service: Client, keyring: Keyring
    ) -> None:
        """With `required`, a token without a proof is refused and only DPoP is offered."""
        response = await service.get(
            "/protected", headers={"Authorization": f"Bearer {keyring.token()}"}
        )
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == NEEDS_DPOP

    @with_mode("required")
    async def test_required_challenges_a_missing_token_with_dpop_only(
        self, service: Client
    ) -> None:
        """No token: `WWW-Authenticate: DPoP algs="..."` alone."""
        response = await service.get("/protected")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == dpop_challenge()

    @with_mode("required")
    async def test_required_serves_a_bound_token_with_its_proof(
        self, service: Client, keyring: Keyring, prover: Prover
    ) -> None:
        """With `required`, a bound token and its proof are served."""
        token = keyring.token(cnf={"jkt": prover.jkt})
        response = await service.get("/protected", headers=dpop(token, prover.proof(token)))
        assert response.status_code == 200

    @with_mode("off")
    async def test_off_does_not_offer_the_dpop_scheme(
        self, service: Client, keyring: Keyring, prover: Prover
    ) -> None:
        """With `off`, `Authorization: DPoP` is no credential: the Bearer challenge alone."""
        token = keyring.token(cnf={"jkt": prover.jkt})
        response = await service.get("/protected", headers=dpop(token, prover.proof(token)))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == BEARER

    async def test_allowed_keeps_the_bearer_challenge_for_bearer_clients(
        self, service: Client
    ) -> None:
        """With `allowed`, a request without a token gets the Bearer challenge as before."""
        response = await service.get("/protected")
        assert response.headers["WWW-Authenticate"] == BEARER

    @pytest.mark.parametrize(
        "dpop_settings", [{"public_url": PUBLIC_URL, "dpop_algorithms": "ES256"}], indirect=True
    )
    async def test_proof_algorithm_outside_the_allow_list_is_refused(
        self, service: Client, keyring: Keyring, provers: dict[str, Prover]
    ) -> None:
        """`AUTH_DPOP_ALGORITHMS=ES256`: an EdDSA proof is refused, the challenge says `ES256`."""
        client_key = provers["EdDSA"]
        token = keyring.token(cnf={"jkt": client_key.jkt})
        response = await service.get("/protected", headers=dpop(token, client_key.proof(token)))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith(
            f'DPoP realm="{REALM}", error="invalid_dpop_proof"'
        )
        assert 'algs="ES256"' in response.headers["WWW-Authenticate"]


NONCES: Final = {"public_url": PUBLIC_URL, "dpop_nonce": True, "dpop_nonce_secret": NONCE_SECRET}


class TestNonces:
    """`AUTH_DPOP_NONCE=true`: proofs must carry a server nonce, handed out in `DPoP-Nonce`."""

    @pytest.mark.parametrize("dpop_settings", [NONCES], indirect=True)
    async def test_nonce_flow(self, service: Client, keyring: Keyring, prover: Prover) -> None:
        """No nonce: 401 `use_dpop_nonce` with `DPoP-Nonce`; the retry with it is served."""
        token = keyring.token(cnf={"jkt": prover.jkt})
        first = await service.get("/protected", headers=dpop(token, prover.proof(token)))
        assert first.status_code == 401
        assert first.headers["WWW-Authenticate"] == f"{USE_NONCE}, {BEARER}"
        nonce = first.headers["DPoP-Nonce"]
        retry = await service.get(
            "/protected", headers=dpop(token, prover.proof(token, nonce=nonce))
        )
        assert retry.status_code == 200, retry.text

    @pytest.mark.parametrize("dpop_settings", [NONCES], indirect=True)
    @pytest.mark.parametrize(
        "nonce", ["made-up", "0.AAAA", 42], ids=["made up", "forged", "number"]
    )
    async def test_foreign_nonce_gets_a_fresh_one(
        self, service: Client, keyring: Keyring, prover: Prover, nonce: object
    ) -> None:
        """A nonce this server did not derive is answered with `use_dpop_nonce` and a real one."""
        token = keyring.token(cnf={"jkt": prover.jkt})
        response = await service.get(
            "/protected", headers=dpop(token, prover.proof(token, nonce=nonce))
        )
        assert response.status_code == 401
        assert 'error="use_dpop_nonce"' in response.headers["WWW-Authenticate"]
        assert NonceSource(NONCE_SECRET.encode(), 300).is_valid(response.headers["DPoP-Nonce"])

    def test_nonces_rotate_and_expire(self) -> None:
        """A nonce is valid in its window and the next, then refused."""
        clock = FakeClock(1_000_000.0)
        nonces = NonceSource(b"s" * 32, 60, clock)
        issued = nonces.current()
        assert nonces.is_valid(issued)
        clock.advance(60)
        assert nonces.current() != issued
        assert nonces.is_valid(issued)
        clock.advance(60)
        assert not nonces.is_valid(issued)

    def test_nonces_are_the_same_for_every_worker_with_the_secret(self) -> None:
        """Two sources with one secret agree; another secret's nonce is refused."""
        clock = FakeClock(1_000_000.0)
        first, second = NonceSource(b"s" * 32, 60, clock), NonceSource(b"s" * 32, 60, clock)
        assert first.current() == second.current()
        assert not NonceSource(b"t" * 32, 60, clock).is_valid(first.current())

    @pytest.mark.parametrize("nonce", ["", ".", "zz.abc", "ffffffffffffffffff.x", "1.x"])
    def test_malformed_nonces_are_refused(self, nonce: str) -> None:
        """Junk is refused without an exception."""
        assert not NonceSource(b"s" * 32, 60, FakeClock(1_000_000.0)).is_valid(nonce)


class TestReplayCache:
    """The per-worker `jti` cache: bounded, and forgetting only what has expired or is oldest."""

    def test_second_use_within_the_window_is_refused(self) -> None:
        """A key is accepted once until its expiry, then again."""
        clock = FakeClock(100.0)
        cache = ReplayCache(10, clock)
        assert cache.first_use(("k", "1"), 160.0)
        assert not cache.first_use(("k", "1"), 160.0)
        clock.advance(61)
        assert cache.first_use(("k", "1"), 221.0)

    def test_size_is_bounded(self) -> None:
        """At `maxsize`, the oldest entry makes room."""
        cache = ReplayCache(3, FakeClock(100.0))
        for jti in "abcd":
            assert cache.first_use(("k", jti), 160.0)
        assert len(cache) == 3
        assert cache.first_use(("k", "a"), 160.0)
        assert not cache.first_use(("k", "d"), 160.0)

    def test_same_jti_of_another_key_is_not_a_replay(self) -> None:
        """`jti` values are unique per key."""
        cache = ReplayCache(10, FakeClock(100.0))
        assert cache.first_use(("k1", "1"), 160.0)
        assert cache.first_use(("k2", "1"), 160.0)


class TestHelpers:
    """URI normalisation and thumbprints, against RFC examples."""

    @pytest.mark.parametrize(
        ("uri", "normal"),
        [
            ("HTTPS://Example.COM:443/a/./b/../c?q#f", "https://example.com/a/c"),
            ("http://example.com:80", "http://example.com/"),
            ("http://example.com:8080/%7euser/%2f", "http://example.com:8080/~user/%2F"),
            ("https://[::1]:8443/x/..", "https://[::1]:8443/"),
        ],
    )
    def test_normalised_uri(self, uri: str, normal: str) -> None:
        """RFC 3986 section 6 syntax- and scheme-based normalisation."""
        assert normalized_uri(uri) == normal

    @pytest.mark.parametrize(
        "uri", ["ftp://example.com/", "https://user@example.com/", "https://x:99999/", "/relative"]
    )
    def test_unusable_uri_is_none(self, uri: str) -> None:
        """Other schemes, userinfo, bad ports and relative references never match."""
        assert normalized_uri(uri) is None

    def test_thumbprint_of_rfc_7638_example(self) -> None:
        """RFC 7638 section 3.1's RSA key has the thumbprint the RFC gives."""
        key = {
            "kty": "RSA",
            "n": (
                "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS"
                "oc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65Y"
                "GjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdk"
                "t-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqD"
                "Kgw"
            ),
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29",
        }
        assert jwk_thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

    def test_access_token_hash(self) -> None:
        """`ath` is base64url(SHA-256(token)) (RFC 9449 section 4.2)."""
        assert access_token_hash("abc") == b64url(hashlib.sha256(b"abc").digest())


class TestSettings:
    """Bad DPoP settings stop the start with a sentence naming the variable."""

    @pytest.mark.parametrize(
        ("variables", "message"),
        [
            ({"AUTH_DPOP": "sometimes"}, "AUTH_DPOP="),
            ({"AUTH_DPOP_NONCE": "true"}, "needs AUTH_DPOP_NONCE_SECRET"),
            ({"AUTH_DPOP_NONCE": "true", "AUTH_DPOP_NONCE_SECRET": "short"}, "at least 32"),
            ({"AUTH_DPOP_ALGORITHMS": "HS256"}, "is HMAC"),
            ({"AUTH_DPOP_ALGORITHMS": "none"}, "never accepted"),
            ({"AUTH_PUBLIC_URL": "https://api.test/?x=1"}, "?query"),
            ({"AUTH_PUBLIC_URL": "http://api.test"}, "must use https"),
            ({"AUTH_CLIENT_CERT_HEADER": "bad header"}, "is not a header name"),
        ],
    )
    def test_refused(
        self, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
    ) -> None:
        """Each bad value is named in the start-up error."""
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(SettingsError, match=message.replace("?", r"\?")):
            load_auth_settings()

    def test_nonce_secret_never_appears_in_the_settings_repr(self) -> None:
        """The secret is kept as a `SecretStr`."""
        settings = auth_settings(dpop_nonce=True, dpop_nonce_secret=NONCE_SECRET)
        assert NONCE_SECRET not in repr(settings)
