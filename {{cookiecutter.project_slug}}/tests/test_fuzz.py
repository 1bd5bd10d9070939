"""Property-based: whatever a client sends as a bearer token, the answer is 401, never a 5xx."""

from __future__ import annotations

import json
import string
from typing import TYPE_CHECKING, Any, Final

import hypothesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from .conftest import ALGORITHMS, ISSUER, KIDS, b64url, claims

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import AsyncTestClient

    from .conftest import Keyring

FUZZ: Final = hypothesis.settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from([ISSUER, "RS256", "EdDSA", "none", *KIDS]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value, biased towards strings that mean something to the verifier."""

jose_headers = st.fixed_dictionaries(
    {"alg": st.sampled_from([*ALGORITHMS, "none", "HS256", "RS1"]) | json_values},
    optional={
        "kid": st.sampled_from(KIDS) | json_values,
        "typ": st.just("JWT") | json_values,
        "crit": json_values,
        "b64": json_values,
        "jku": st.just("https://attacker.test/jwks.json") | json_values,
        "jwk": json_values,
    },
) | st.dictionaries(st.text(max_size=8), json_values, max_size=6)
"""JOSE headers: mostly plausible, sometimes anything."""

edge_numbers = st.sampled_from(
    [0, -1, 2**31, 2**63, 10**308, 10**400, -(10**400), 1e308, float("inf"), float("nan")]
)
"""Numbers at the edges of int64, float and Python's int-to-float conversion."""

claim_sets = st.fixed_dictionaries(
    {},
    optional={
        name: json_values | st.integers() | edge_numbers
        for name in ("iss", "sub", "aud", "exp", "nbf", "iat", "scope", "scp")
    },
)
"""Claim sets whose every member may be missing, of any type, or any number."""

base64url_text = st.text(alphabet=string.ascii_letters + string.digits + "-_", max_size=80)
segments = (
    jose_headers.map(lambda header: b64url(json.dumps(header)))
    | st.binary(max_size=60).map(b64url)
    | base64url_text
)
token_shaped = st.builds(
    lambda header, payload, signature: f"{header}.{payload}.{signature}",
    segments,
    claim_sets.map(lambda body: b64url(json.dumps(body))) | base64url_text,
    st.binary(max_size=300).map(b64url) | base64url_text,
)
"""Three base64url-ish segments: a random (JSON) header, random claims, a random signature."""

header_values = (
    st.binary(max_size=120)
    | st.builds(lambda rest: b"Bearer " + rest, st.binary(max_size=120))
    | st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120).map(
        lambda text: f"Bearer {text}".encode("ascii")
    )
)
"""Raw `Authorization` values: any bytes, with or without a `Bearer ` prefix."""


@FUZZ
@given(value=header_values)
async def test_any_authorization_header_is_refused(
    client: AsyncTestClient[Litestar], value: bytes
) -> None:
    """Arbitrary `Authorization` bytes get 401, never a 5xx and never access."""
    response = await client.get("/protected", headers=[(b"Authorization", value)])
    assert response.status_code == 401


@FUZZ
@given(token=token_shaped)
async def test_any_token_shaped_string_is_refused(
    client: AsyncTestClient[Litestar], token: str
) -> None:
    """Token-shaped garbage (random JSON header, claims and signature) gets 401 `invalid_token`."""
    response = await client.get("/protected", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@FUZZ
@given(overrides=claim_sets, algorithm=st.sampled_from(ALGORITHMS))
async def test_signed_tokens_with_any_claims_get_200_or_401(
    client: AsyncTestClient[Litestar], keyring: Keyring, overrides: dict[str, Any], algorithm: str
) -> None:
    """Validly signed tokens with arbitrary claims are accepted or refused, never a server error."""
    token = keyring.for_algorithm(algorithm).sign(claims(**overrides), algorithm)
    response = await client.get("/protected", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in {200, 401}
    if response.status_code == 200:
        assert response.json()["user"]["subject"] == claims(**overrides)["sub"]
