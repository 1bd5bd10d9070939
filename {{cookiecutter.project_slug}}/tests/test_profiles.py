"""Provider profiles: each accepts its provider's access tokens and refuses its ID tokens."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.auth import InvalidToken
from {{ cookiecutter.package_name }}.auth.algorithms import SUPPORTED_ALGORITHMS
from {{ cookiecutter.package_name }}.auth.profiles import (
    ANY_STRING,
    PROFILES,
    ClaimRules,
    get_profile,
    same_media_type,
    tenant_issuer_matches,
    validate_issuer,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from {{ cookiecutter.package_name }}.auth.profiles import Accepted

NOW: Final = 1_760_000_000
TENANT: Final = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT: Final = "9188040d-6c67-4c5b-b112-36a304b66dad"
ENTRA_API: Final = "6e74172b-be56-4843-9ff4-e66a39bb12e3"  # the API's application (client) id


def reason(rules: ClaimRules, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str | None:
    """The `InvalidToken` reason that checking a token raises, None if it passes."""
    try:
        rules.check(header, claims)
    except InvalidToken as refused:
        return refused.reason
    return None


def rules_for(profile: str, issuer: str, **overrides: Any) -> ClaimRules:
    """The rules of `profile` for `issuer`, with setting overrides."""
    return ClaimRules.from_profile(get_profile(profile), issuer=issuer, **overrides)


@dataclass(frozen=True)
class Token:
    """A token shape as a provider documents it: the JOSE header and the claims."""

    header: dict[str, Any]
    claims: dict[str, Any]
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Provider:
    """A provider's profile, the settings a service uses with it, and its documented tokens."""

    profile: str
    issuer: str
    settings: dict[str, Any]
    access: list[Token]
    id_token: Token | None
    extra: dict[str, Any] = field(default_factory=dict)


# The shapes below follow each provider's documentation: claim names, value types, headers.
KEYCLOAK_ISSUER: Final = "https://sso.example.com/realms/acme"
KEYCLOAK: Final = Provider(
    profile="keycloak",
    issuer=KEYCLOAK_ISSUER,
    # The client is both the ID token's audience and (via an audience mapper) the API's.
    settings={"audiences": ["orders"]},
    access=[
        Token(
            header={"alg": "RS256", "typ": "JWT", "kid": "kc-rsa"},
            claims={
                "exp": NOW + 300,
                "iat": NOW,
                "jti": "onrtac:5c4e0e2c",
                "iss": KEYCLOAK_ISSUER,
                "aud": ["orders", "account"],
                "sub": "f1b2c3d4-0000-4000-8000-000000000001",
                "typ": "Bearer",
                "azp": "orders",
                "sid": "0a1b2c3d",
                "scope": "openid profile email orders:read",
                "realm_access": {"roles": ["offline_access", "default-roles-acme"]},
                "resource_access": {
                    "orders": {"roles": ["orders-admin"]},
                    "account": {"roles": ["manage-account"]},
                },
                "preferred_username": "alice",
            },
            roles=frozenset({"offline_access", "default-roles-acme", "orders-admin"}),
            scopes=frozenset({"openid", "profile", "email", "orders:read"}),
        )
    ],
    id_token=Token(
        header={"alg": "RS256", "typ": "JWT", "kid": "kc-rsa"},
        claims={
            "exp": NOW + 300,
            "iat": NOW,
            "jti": "1c2d3e4f",
            "iss": KEYCLOAK_ISSUER,
            "aud": "orders",
            "sub": "f1b2c3d4-0000-4000-8000-000000000001",
            "typ": "ID",
            "azp": "orders",
            "nonce": "n-0S6_WzA2Mj",
            "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
            "preferred_username": "alice",
        },
    ),
)

AUTH0_ISSUER: Final = "https://acme.eu.auth0.com/"
AUTH0: Final = Provider(
    profile="auth0",
    issuer=AUTH0_ISSUER,
    settings={"audiences": ["https://orders.example.com", "my_client_id"]},
    access=[
        Token(  # The RFC 9068 token profile, with RBAC permissions.
            header={"alg": "RS256", "typ": "at+jwt", "kid": "a0-rsa"},
            claims={
                "iss": AUTH0_ISSUER,
                "sub": "auth0|123456",
                "aud": ["https://orders.example.com", "https://acme.eu.auth0.com/userinfo"],
                "client_id": "my_client_id",
                "exp": NOW + 86400,
                "iat": NOW,
                "jti": "73WakrfVbNJBaAmhQtEeDv",
                "scope": "openid profile read:orders",
                "permissions": ["read:orders", "delete:orders"],
            },
            roles=frozenset({"read:orders", "delete:orders"}),
            scopes=frozenset({"openid", "profile", "read:orders"}),
        )
    ],
    id_token=Token(
        header={"alg": "RS256", "typ": "JWT", "kid": "a0-rsa"},
        claims={
            "iss": AUTH0_ISSUER,
            "sub": "auth0|123456",
            "aud": "my_client_id",
            "exp": NOW + 36000,
            "iat": NOW,
            "name": "Jane Doe",
            "nonce": "abc",
            "sid": "s-1",
        },
    ),
)

OKTA_ISSUER: Final = "https://acme.okta.com/oauth2/default"
OKTA: Final = Provider(
    profile="okta",
    issuer=OKTA_ISSUER,
    settings={"audiences": ["api://default", "0oa1b2c3d4EXAMPLE"]},
    access=[
        Token(  # A custom authorization server's access token: no header typ.
            header={"kid": "okta-rsa", "alg": "RS256"},
            claims={
                "ver": 1,
                "jti": "AT.MNAoEQ_jbKqoinrQo1D0XKjMX28U5d7ZszBceot7-Ts",
                "iss": OKTA_ISSUER,
                "aud": "api://default",
                "iat": NOW,
                "exp": NOW + 3600,
                "cid": "0oa1b2c3d4EXAMPLE",
                "uid": "00u1a2b3c4EXAMPLE",
                "scp": ["openid", "orders:read"],
                "auth_time": NOW - 60,
                "sub": "alice@example.com",
                "groups": ["Everyone", "orders-admins"],
            },
            roles=frozenset({"Everyone", "orders-admins"}),
            scopes=frozenset({"openid", "orders:read"}),
        )
    ],
    id_token=Token(
        header={"kid": "okta-rsa", "alg": "RS256"},
        claims={
            "sub": "00u1a2b3c4EXAMPLE",
            "ver": 1,
            "iss": OKTA_ISSUER,
            "aud": "0oa1b2c3d4EXAMPLE",
            "iat": NOW,
            "exp": NOW + 3600,
            "jti": "ID.radCQMOQUmyvcTBmmIL0J6BaS60apUEiC7-vI7pOmkw",
            "amr": ["pwd"],
            "idp": "00o1a2b3c4EXAMPLE",
            "auth_time": NOW - 60,
            "at_hash": "fPlsvVszI29LU2UhDyJ9vg",
            "groups": ["Everyone", "orders-admins"],
        },
    ),
)

ENTRA_ISSUER: Final = f"https://login.microsoftonline.com/{TENANT}/v2.0"
ENTRA_USER_ACCESS: Final = Token(  # Delegated: the user's scopes in `scp`.
    header={"typ": "JWT", "alg": "RS256", "kid": "entra-rsa"},
    claims={
        "aud": ENTRA_API,
        "iss": ENTRA_ISSUER,
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 3600,
        "aio": "opaque",
        "azp": "0b5e0c6a-0000-4000-8000-00000000c11e",
        "azpacr": "0",
        "name": "Alice",
        "oid": "00000000-0000-4000-8000-0000000a11ce",
        "preferred_username": "alice@contoso.com",
        "rh": "opaque",
        "scp": "Orders.Read Orders.Write",
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "tid": TENANT,
        "uti": "fqiBqXLPj0eQa82S-IYFAA",
        "ver": "2.0",
    },
    scopes=frozenset({"Orders.Read", "Orders.Write"}),
)
ENTRA_APP_ACCESS: Final = Token(  # Client credentials: application permissions in `roles`.
    header={"typ": "JWT", "alg": "RS256", "kid": "entra-rsa"},
    claims={
        "aud": ENTRA_API,
        "iss": ENTRA_ISSUER,
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 3600,
        "azp": "0b5e0c6a-0000-4000-8000-00000000c11e",
        "azpacr": "1",
        "idtyp": "app",
        "oid": "00000000-0000-4000-8000-00000000a991",
        "roles": ["Orders.ReadAll"],
        "sub": "00000000-0000-4000-8000-00000000a991",
        "tid": TENANT,
        "ver": "2.0",
    },
    roles=frozenset({"Orders.ReadAll"}),
)
ENTRA: Final = Provider(
    profile="entra",
    issuer=ENTRA_ISSUER,
    # One app registration for the SPA and its API: ID tokens carry the same `aud`.
    settings={"audiences": [ENTRA_API]},
    access=[ENTRA_USER_ACCESS, ENTRA_APP_ACCESS],
    id_token=Token(
        header={"typ": "JWT", "alg": "RS256", "kid": "entra-rsa"},
        claims={
            "aud": ENTRA_API,
            "iss": ENTRA_ISSUER,
            "iat": NOW,
            "nbf": NOW,
            "exp": NOW + 3600,
            "aio": "opaque",
            "name": "Alice",
            "nonce": "123523",
            "oid": "00000000-0000-4000-8000-0000000a11ce",
            "preferred_username": "alice@contoso.com",
            "rh": "opaque",
            "roles": ["Orders.Admin"],  # app roles appear in ID tokens too
            "sid": "00000000-0000-4000-8000-00000000005e",
            "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
            "tid": TENANT,
            "uti": "fqiBqXLPj0eQa82S-IYFAA",
            "ver": "2.0",
        },
    ),
)

COGNITO_ISSUER: Final = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
COGNITO_CLIENT: Final = "1example23456789"
COGNITO: Final = Provider(
    profile="cognito",
    issuer=COGNITO_ISSUER,
    settings={"audiences": [COGNITO_CLIENT]},
    access=[
        Token(
            header={"kid": "cognito-rsa", "alg": "RS256"},
            claims={
                "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
                "cognito:groups": ["admin"],
                "iss": COGNITO_ISSUER,
                "version": 2,
                "client_id": COGNITO_CLIENT,
                "origin_jti": "aaaaaaaa-0000-4000-8000-000000000001",
                "event_id": "aaaaaaaa-0000-4000-8000-000000000002",
                "token_use": "access",
                "scope": "openid profile aws.cognito.signin.user.admin",
                "auth_time": NOW,
                "exp": NOW + 3600,
                "iat": NOW,
                "jti": "aaaaaaaa-0000-4000-8000-000000000003",
                "username": "alice",
            },
            roles=frozenset({"admin"}),
            scopes=frozenset({"openid", "profile", "aws.cognito.signin.user.admin"}),
        )
    ],
    id_token=Token(
        header={"kid": "cognito-id-rsa", "alg": "RS256"},
        claims={
            "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
            "cognito:groups": ["admin"],
            "email_verified": True,
            "iss": COGNITO_ISSUER,
            "cognito:username": "alice",
            "origin_jti": "aaaaaaaa-0000-4000-8000-000000000001",
            "aud": COGNITO_CLIENT,
            "event_id": "aaaaaaaa-0000-4000-8000-000000000002",
            "token_use": "id",
            "auth_time": NOW,
            "exp": NOW + 3600,
            "iat": NOW,
            "jti": "aaaaaaaa-0000-4000-8000-000000000004",
            "email": "alice@example.com",
        },
    ),
)

GOOGLE_CLIENT: Final = "1234987819200.apps.googleusercontent.com"
GOOGLE_ID_TOKEN_CLAIMS: Final = {
    "iss": "https://accounts.google.com",
    "azp": GOOGLE_CLIENT,
    "aud": GOOGLE_CLIENT,
    "sub": "10769150350006150715113082367",
    "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q",
    "hd": "example.com",
    "email": "jsmith@example.com",
    "email_verified": True,
    "iat": NOW,
    "exp": NOW + 3600,
    "nonce": "0394852-3190485-2490358",
}
GOOGLE: Final = Provider(
    profile="google",
    issuer="https://accounts.google.com",
    settings={"audiences": [GOOGLE_CLIENT]},
    access=[
        Token(header={"alg": "RS256", "kid": "g-rsa", "typ": "JWT"}, claims=GOOGLE_ID_TOKEN_CLAIMS),
        Token(  # The same token, with the scheme-less issuer Google also uses.
            header={"alg": "RS256", "kid": "g-rsa", "typ": "JWT"},
            claims={**GOOGLE_ID_TOKEN_CLAIMS, "iss": "accounts.google.com"},
        ),
    ],
    id_token=None,
)

ZUPLO_ISSUER: Final = "https://acme-main-1a2b3c4.zuplo.app/__zuplo/issuer"
ZUPLO: Final = Provider(
    profile="zuplo",
    issuer=ZUPLO_ISSUER,
    settings={"audiences": ["https://orders.example.com"]},
    access=[
        Token(
            header={"alg": "EdDSA", "kid": "zuplo-ed25519", "typ": "JWT"},
            claims={
                "iss": ZUPLO_ISSUER,
                "aud": "https://orders.example.com",
                "sub": "consumer-42",
                "iat": NOW,
                "exp": NOW + 300,
                "scope": "orders:read",
            },
            scopes=frozenset({"orders:read"}),
        )
    ],
    id_token=None,
)

RFC9068_ISSUER: Final = "https://as.example.com"
GENERIC: Final = Provider(
    profile="generic",
    issuer=RFC9068_ISSUER,
    settings={"audiences": ["https://rs.example.com"], "token_types": ["at+jwt"]},
    access=[
        Token(  # RFC 9068 section 2.2.
            header={"typ": "at+jwt", "alg": "RS256", "kid": "as-rsa"},
            claims={
                "iss": RFC9068_ISSUER,
                "sub": "5ba552d67",
                "aud": "https://rs.example.com",
                "exp": NOW + 300,
                "iat": NOW,
                "jti": "dbe39bf3a3ba4238a513f51d6e1691c4",
                "client_id": "s6BhdRkqt3",
                "scope": "openid profile reademail",
                "roles": ["reader"],
            },
            roles=frozenset({"reader"}),
            scopes=frozenset({"openid", "profile", "reademail"}),
        )
    ],
    id_token=Token(
        header={"typ": "JWT", "alg": "RS256", "kid": "as-rsa"},
        claims={
            "iss": RFC9068_ISSUER,
            "sub": "5ba552d67",
            "aud": "https://rs.example.com",
            "exp": NOW + 300,
            "iat": NOW,
        },
    ),
)

PROVIDERS: Final = {
    p.profile: p for p in (GENERIC, ZUPLO, AUTH0, KEYCLOAK, OKTA, ENTRA, COGNITO, GOOGLE)
}
ACCESS_TOKENS: Final = [
    pytest.param(provider, token, id=f"{name}-{index}")
    for name, provider in PROVIDERS.items()
    for index, token in enumerate(provider.access)
]
ID_TOKENS: Final = [
    pytest.param(provider, id=name) for name, provider in PROVIDERS.items() if provider.id_token
]


def provider_rules(provider: Provider, **overrides: Any) -> ClaimRules:
    """The rules a service configures for `provider`."""
    return rules_for(provider.profile, provider.issuer, **{**provider.settings, **overrides})


class TestCatalogue:
    def test_every_issue_profile_exists(self) -> None:
        """The eight profiles of the issue exist, each under its own name."""
        assert list(PROFILES) == [
            "generic",
            "zuplo",
            "auth0",
            "keycloak",
            "okta",
            "entra",
            "cognito",
            "google",
        ]
        assert all(name == profile.name for name, profile in PROFILES.items())

    def test_every_profile_is_tested_with_its_provider_tokens(self) -> None:
        """Each profile has documented token shapes in this file."""
        assert set(PROVIDERS) == set(PROFILES)

    def test_unknown_profile_names_the_known_ones(self) -> None:
        """An unknown profile name is a configuration error listing the choices."""
        with pytest.raises(ValueError, match=r"unknown provider profile 'azure'.*entra"):
            get_profile("azure")

    def test_generic_accepts_every_supported_algorithm(self) -> None:
        """The generic profile's default algorithms are all the service supports."""
        assert PROFILES["generic"].default_algorithms == SUPPORTED_ALGORITHMS

    @pytest.mark.parametrize("profile", PROFILES.values(), ids=list(PROFILES))
    def test_defaults_are_supported_and_documented(self, profile: Any) -> None:
        """Every profile's algorithms are supported and it has an issuer example and hint."""
        assert set(profile.default_algorithms) <= set(SUPPORTED_ALGORITHMS)
        assert profile.issuer_example.startswith("https://")
        assert profile.audience_hint
        assert profile.notes

    def test_provider_algorithms(self) -> None:
        """Zuplo signs with EdDSA; the others with RS256."""
        assert PROFILES["zuplo"].default_algorithms == ("EdDSA",)
        for name in ("auth0", "keycloak", "okta", "entra", "cognito", "google"):
            assert PROFILES[name].default_algorithms == ("RS256",)

    def test_issuer_examples(self) -> None:
        """The issuer examples have each provider's shape."""
        examples = {name: profile.issuer_example for name, profile in PROFILES.items()}
        assert examples["zuplo"].endswith("/__zuplo/issuer")
        assert examples["auth0"].endswith("/")
        assert "/realms/" in examples["keycloak"]
        assert examples["cognito"].startswith("https://cognito-idp.")
        assert examples["entra"].endswith("/v2.0")
        assert "/oauth2/" in examples["okta"]
        assert examples["google"] == "https://accounts.google.com"

    def test_profiles_are_immutable(self) -> None:
        """A profile's defaults cannot be changed at run time."""
        profile = PROFILES["cognito"]
        with pytest.raises(AttributeError):
            profile.role_claims = ("admin",)  # type: ignore[misc]
        with pytest.raises(TypeError):
            profile.access_token_claims["token_use"] = "id"  # type: ignore[index]
        with pytest.raises(TypeError):
            PROFILES["evil"] = profile  # type: ignore[index]


class TestProviderTokens:
    @pytest.mark.parametrize(("provider", "token"), ACCESS_TOKENS)
    def test_access_token_is_accepted(self, provider: Provider, token: Token) -> None:
        """Each provider's documented access token passes its profile's checks."""
        assert reason(provider_rules(provider), token.header, token.claims) is None

    @pytest.mark.parametrize(("provider", "token"), ACCESS_TOKENS)
    def test_roles_and_scopes_are_read(self, provider: Provider, token: Token) -> None:
        """Roles and scopes are read from where the provider puts them."""
        rules = provider_rules(provider)
        assert rules.roles(token.claims) == token.roles
        assert rules.scopes(token.claims) == token.scopes

    @pytest.mark.parametrize("provider", ID_TOKENS)
    def test_id_token_is_refused_although_the_audience_matches(self, provider: Provider) -> None:
        """An ID token of the same issuer is refused even when its audience is accepted."""
        token = provider.id_token
        assert token is not None
        refused = reason(provider_rules(provider), token.header, token.claims)
        assert refused in {"wrong_token_type", "not_an_access_token"}
        unmarked = provider_rules(provider, token_types=[], access_token_claims={})
        assert reason(unmarked, token.header, token.claims) is None

    @pytest.mark.parametrize(("provider", "token"), ACCESS_TOKENS)
    def test_other_audience_is_refused(self, provider: Provider, token: Token) -> None:
        """An access token for another audience is refused."""
        rules = provider_rules(provider, audiences=["https://other.example.com"])
        assert reason(rules, token.header, token.claims) == "wrong_audience"

    @pytest.mark.parametrize(("provider", "token"), ACCESS_TOKENS)
    def test_other_issuer_is_refused(self, provider: Provider, token: Token) -> None:
        """An access token from another issuer is refused."""
        claims = {**token.claims, "iss": "https://attacker.example.com/"}
        assert reason(provider_rules(provider), token.header, claims) == "wrong_issuer"

    def test_keycloak_refresh_token_is_refused(self) -> None:
        """A Keycloak refresh token (claim typ Refresh) is not an access token."""
        token = KEYCLOAK.access[0]
        claims = {**token.claims, "typ": "Refresh"}
        assert reason(provider_rules(KEYCLOAK), token.header, claims) == "not_an_access_token"

    def test_keycloak_header_typ_is_not_the_signal(self) -> None:
        """Keycloak's header typ is JWT on every token: the claim decides."""
        token = KEYCLOAK.access[0]
        assert reason(provider_rules(KEYCLOAK), {**token.header, "typ": "ID"}, token.claims) is None

    def test_keycloak_client_roles_follow_the_configured_clients(self) -> None:
        """Client roles are read for the configured clients only, even a client with dots."""
        claims = {
            "resource_access": {
                "orders": {"roles": ["orders-admin"]},
                "billing.v2": {"roles": ["payer"]},
                "account": {"roles": ["manage-account"]},
            }
        }
        rules = rules_for("keycloak", KEYCLOAK_ISSUER, clients=["billing.v2", "orders"])
        assert rules.roles(claims) == {"payer", "orders-admin"}
        assert rules_for("keycloak", KEYCLOAK_ISSUER).roles(claims) == frozenset()

    def test_keycloak_without_audience_mapper_is_refused(self) -> None:
        """A Keycloak token whose aud is only `account` does not reach the API's audience."""
        token = KEYCLOAK.access[0]
        claims = {**token.claims, "aud": "account"}
        assert reason(provider_rules(KEYCLOAK), token.header, claims) == "wrong_audience"

    def test_auth0_default_token_profile_needs_token_types(self) -> None:
        """Auth0's default token profile (typ JWT) passes only once token_types says JWT."""
        token = AUTH0.access[0]
        header = {**token.header, "typ": "JWT"}
        assert reason(provider_rules(AUTH0), header, token.claims) == "wrong_token_type"
        assert reason(provider_rules(AUTH0, token_types=["JWT"]), header, token.claims) is None

    def test_auth0_namespaced_claim_is_one_name(self) -> None:
        """A role claim named by a URL (Auth0's namespaced claims) is read whole, dots and all."""
        rules = rules_for("auth0", AUTH0_ISSUER, role_claims=["https://example.com/roles"])
        assert rules.roles({"https://example.com/roles": ["admin"]}) == {"admin"}

    def test_okta_org_server_token_is_refused(self) -> None:
        """A token of Okta's org authorization server (for Okta's APIs) is refused."""
        token = OKTA.access[0]
        header = {**token.header, "typ": "application/okta-internal-at+jwt"}
        claims = {**token.claims, "iss": "https://acme.okta.com", "aud": "https://acme.okta.com"}
        assert reason(provider_rules(OKTA), header, claims) == "wrong_issuer"

    @pytest.mark.parametrize("cid", [None, 1, ["0oa1b2c3d4EXAMPLE"], {"id": "x"}])
    def test_okta_client_marker_must_be_a_string(self, cid: object) -> None:
        """Okta's `cid` marker counts only as a string."""
        token = OKTA.access[0]
        claims = {**token.claims, "cid": cid}
        assert reason(provider_rules(OKTA), token.header, claims) == "not_an_access_token"

    def test_cognito_access_token_audience_is_client_id(self) -> None:
        """A Cognito access token for another app client is refused."""
        token = COGNITO.access[0]
        claims = {**token.claims, "client_id": "another-app-client"}
        assert reason(provider_rules(COGNITO), token.header, claims) == "wrong_audience"

    def test_first_audience_claim_present_decides(self) -> None:
        """When `aud` is present it decides; `client_id` counts only in its absence."""
        token = COGNITO.access[0]
        claims = {**token.claims, "aud": "another-service"}
        assert reason(provider_rules(COGNITO), token.header, claims) == "wrong_audience"

    @pytest.mark.parametrize("token_use", ["id", "ACCESS", None, ["access"], True])
    def test_cognito_token_use_must_be_access(self, token_use: object) -> None:
        """Only `token_use: access`, exactly, marks a Cognito access token."""
        token = COGNITO.access[0]
        claims = {**token.claims, "token_use": token_use}
        assert reason(provider_rules(COGNITO), token.header, claims) == "not_an_access_token"

    def test_entra_v1_access_token_is_refused(self) -> None:
        """An Entra v1.0 access token (other issuer, `appidacr`) is refused by the v2.0 rules."""
        token = ENTRA_USER_ACCESS
        claims = {k: v for k, v in token.claims.items() if k not in {"azp", "azpacr"}}
        claims |= {"iss": f"https://sts.windows.net/{TENANT}/", "appidacr": "0", "ver": "1.0"}
        assert reason(provider_rules(ENTRA), token.header, claims) == "wrong_issuer"
        claims["iss"] = ENTRA_ISSUER
        assert reason(provider_rules(ENTRA), token.header, claims) == "not_an_access_token"

    def test_google_requires_an_audience(self) -> None:
        """The google profile refuses to start without a client id as audience."""
        with pytest.raises(ValueError, match="google profile needs an audience"):
            rules_for("google", "https://accounts.google.com")

    def test_google_token_for_another_client_is_refused(self) -> None:
        """A Google ID token issued to another OAuth client is refused."""
        claims = {**GOOGLE_ID_TOKEN_CLAIMS, "aud": "999.apps.googleusercontent.com"}
        assert reason(provider_rules(GOOGLE), {}, claims) == "wrong_audience"

    def test_google_alias_is_google_only(self) -> None:
        """The scheme-less alias belongs to the google profile, not to others."""
        rules = rules_for("generic", "https://accounts.google.com", audiences=[GOOGLE_CLIENT])
        claims = {**GOOGLE_ID_TOKEN_CLAIMS, "iss": "accounts.google.com"}
        assert reason(rules, {}, claims) == "wrong_issuer"

    def test_google_workspace_domain_can_be_required(self) -> None:
        """A Workspace domain pinned with required_claims refuses other domains."""
        rules = provider_rules(GOOGLE, required_claims={"hd": "example.com"})
        assert reason(rules, {}, GOOGLE_ID_TOKEN_CLAIMS) is None
        assert reason(rules, {}, {**GOOGLE_ID_TOKEN_CLAIMS, "hd": "evil.com"}) == (
            "required_claim_mismatch"
        )
        personal = {k: v for k, v in GOOGLE_ID_TOKEN_CLAIMS.items() if k != "hd"}
        assert reason(rules, {}, personal) == "required_claim_mismatch"

    def test_zuplo_account_and_project_can_be_required(self) -> None:
        """Zuplo tokens can be pinned to one account and project."""
        token = ZUPLO.access[0]
        rules = provider_rules(ZUPLO, required_claims={"account": "acme", "project": "orders"})
        claims = {**token.claims, "account": "acme", "project": "orders"}
        assert reason(rules, token.header, claims) is None
        claims["project"] = "billing"
        assert reason(rules, token.header, claims) == "required_claim_mismatch"

    def test_generic_checks_no_type_by_default(self) -> None:
        """Without token_types the generic profile checks no header typ."""
        token = GENERIC.access[0]
        rules = provider_rules(GENERIC, token_types=None)
        assert reason(rules, {"alg": "RS256"}, token.claims) is None
        assert reason(rules, {"typ": 42}, token.claims) is None

    def test_access_token_markers_can_be_overridden(self) -> None:
        """A setting replaces the profile's access-token markers."""
        token = COGNITO.id_token
        assert token is not None
        rules = provider_rules(COGNITO, access_token_claims={"token_use": ["access", "id"]})
        assert reason(rules, token.header, token.claims) is None


class TestTokenTypes:
    @pytest.mark.parametrize(
        ("a", "b", "same"),
        [
            ("at+jwt", "at+jwt", True),
            ("at+jwt", "application/at+jwt", True),
            ("Application/AT+JWT", "at+jwt", True),
            ("APPLICATION/at+JWT", "application/AT+jwt", True),
            ("JWT", "jwt", True),
            ("application/okta-internal-at+jwt", "okta-internal-at+jwt", True),
            ("at+jwt", "jwt", False),
            ("at+jwt", "text/at+jwt", False),
            ("at+jwt", "application/at+jwt; charset=utf-8", False),
            ("at+jwt", " at+jwt", False),
            ("at+jwt", "at+jwt ", False),
            ("at+jwt", "application/application/at+jwt", False),
            ("okta-internal-at+jwt", "o\u212ata-internal-at+jwt", False),  # Kelvin sign
            ("at+jwt", "AT+JWT\u0131", False),
        ],
    )
    def test_comparison(self, a: str, b: str, same: bool) -> None:
        """`application/` is optional and case is ignored; nothing else is equivalent."""
        assert same_media_type(a, b) is same
        assert same_media_type(b, a) is same

    @pytest.mark.parametrize(
        "typ", ["at+jwt", "application/at+jwt", "Application/AT+JWT", "AT+JWT"]
    )
    def test_allowed_spellings_pass(self, typ: str) -> None:
        """Every spelling of an allowed type passes."""
        rules = rules_for("generic", RFC9068_ISSUER, token_types=["at+jwt"])
        rules.check_header({"alg": "RS256", "typ": typ})

    @pytest.mark.parametrize(
        "header",
        [
            {"alg": "RS256"},
            {"alg": "RS256", "typ": None},
            {"alg": "RS256", "typ": "JWT"},
            {"alg": "RS256", "typ": ""},
            {"alg": "RS256", "typ": 1},
            {"alg": "RS256", "typ": ["at+jwt"]},
            {"alg": "RS256", "typ": {"at+jwt": True}},
            {"alg": "RS256", "typ": "at+jwt\u0000"},
            {"alg": "RS256", "typ": "\u0430t+jwt"},  # Cyrillic a
            {"alg": "RS256", "typ": "text/at+jwt"},
        ],
    )
    def test_anything_else_is_refused(self, header: dict[str, Any]) -> None:
        """A missing, non-string, foreign or look-alike typ is refused."""
        rules = rules_for("generic", RFC9068_ISSUER, token_types=["application/at+jwt"])
        with pytest.raises(InvalidToken) as refused:
            rules.check_header(header)
        assert refused.value.reason == "wrong_token_type"

    @pytest.mark.parametrize("bad", ["", "application/", "at+jwt\u00e9"])
    def test_invalid_setting_is_a_configuration_error(self, bad: str) -> None:
        """A token type that is not an ASCII media type is refused at startup."""
        with pytest.raises(ValueError, match="not a media type"):
            rules_for("generic", RFC9068_ISSUER, token_types=[bad])


class TestRequiredClaims:
    @pytest.mark.parametrize(
        ("required", "value", "passes"),
        [
            ("acme", "acme", True),
            ("acme", "ACME", False),
            ("acme", "acme ", False),
            ("acme", ["acme"], False),
            (["acme", "globex"], "globex", True),
            (["acme", "globex"], "initech", False),
            (1, 1, True),
            (1, True, False),
            (1, 1.0, False),
            (1, "1", False),
            (True, True, True),
            (True, 1, False),
            (True, "true", False),
            (False, 0, False),
            (1.5, 1.5, True),
            ("1", 1, False),
            ("x", None, False),
            ("x", {"x": "x"}, False),
            (ANY_STRING, "anything", True),
            (ANY_STRING, "", True),
            (ANY_STRING, 0, False),
            (ANY_STRING, None, False),
        ],
    )
    def test_comparison_is_exact_and_type_strict(
        self, required: Accepted, value: object, passes: bool
    ) -> None:
        """A required claim passes only with one of its values, of the same JSON type."""
        rules = rules_for("generic", RFC9068_ISSUER, required_claims={"pin": required})
        claims = {"iss": RFC9068_ISSUER, "pin": value}
        assert (reason(rules, {}, claims) is None) is passes

    def test_missing_claim_is_refused(self) -> None:
        """A required claim that the token lacks is refused."""
        rules = rules_for("entra", ENTRA_ISSUER, required_claims={"tid": TENANT})
        claims = {k: v for k, v in ENTRA_USER_ACCESS.claims.items() if k != "tid"}
        assert reason(rules, ENTRA_USER_ACCESS.header, claims) == "required_claim_mismatch"

    def test_every_required_claim_counts(self) -> None:
        """All required claims must match, not just one."""
        rules = rules_for("zuplo", ZUPLO_ISSUER, required_claims={"a": "1", "b": "2"})
        assert reason(rules, {}, {"iss": ZUPLO_ISSUER, "a": "1", "b": "2"}) is None
        assert reason(rules, {}, {"iss": ZUPLO_ISSUER, "a": "1", "b": "3"}) == (
            "required_claim_mismatch"
        )

    @pytest.mark.parametrize(
        "accepted", [[], {}, {"a": 1}, [["a"]], [None], None, [{"a": 1}], {"a"}, b"x"]
    )
    def test_invalid_values_are_configuration_errors(self, accepted: Any) -> None:
        """A required value that no JSON scalar can equal is refused at startup."""
        with pytest.raises(ValueError, match="claim 'pin'"):
            rules_for("generic", RFC9068_ISSUER, required_claims={"pin": accepted})

    def test_empty_claim_name_is_a_configuration_error(self) -> None:
        """A required claim needs a name."""
        with pytest.raises(ValueError, match="not a claim name"):
            rules_for("generic", RFC9068_ISSUER, required_claims={"": "x"})


class TestAudience:
    @pytest.mark.parametrize(
        ("aud", "passes"),
        [
            ("https://rs.example.com", True),
            (["x", "https://rs.example.com"], True),
            ("https://rs.example.com/", False),
            ("HTTPS://RS.EXAMPLE.COM", False),
            ("https://rs.example.com/orders", False),
            (["x", "y"], False),
            ([], False),
            ([["https://rs.example.com"]], False),
            ({"https://rs.example.com": True}, False),
            (None, False),
            (1, False),
        ],
    )
    def test_audiences_are_plain_strings_compared_exactly(self, aud: object, passes: bool) -> None:
        """An audience matches only as the exact string, alone or in a list (RFC 8707)."""
        rules = rules_for("generic", RFC9068_ISSUER, audiences=["https://rs.example.com"])
        refused = reason(rules, {}, {"iss": RFC9068_ISSUER, "aud": aud})
        assert refused == (None if passes else "wrong_audience")

    def test_missing_audience_is_refused(self) -> None:
        """A token without an audience claim is refused when audiences are configured."""
        rules = rules_for("generic", RFC9068_ISSUER, audiences=["https://rs.example.com"])
        assert reason(rules, {}, {"iss": RFC9068_ISSUER}) == "wrong_audience"

    def test_no_audiences_means_no_audience_check(self) -> None:
        """Without configured audiences the audience is not checked."""
        rules = rules_for("generic", RFC9068_ISSUER)
        assert reason(rules, {}, {"iss": RFC9068_ISSUER, "aud": "anything"}) is None

    def test_audiences_without_audience_claims_is_a_configuration_error(self) -> None:
        """Audiences need at least one claim to be checked against."""
        with pytest.raises(ValueError, match="no claim is named"):
            rules_for("generic", RFC9068_ISSUER, audiences=["x"], audience_claims=[])


class TestIssuer:
    def test_exact_issuer_only(self) -> None:
        """The issuer is compared exactly: no slash, case or scheme is forgiven."""
        rules = rules_for("auth0", AUTH0_ISSUER, token_types=[])
        assert reason(rules, {}, {"iss": AUTH0_ISSUER}) is None
        for iss in (
            "https://acme.eu.auth0.com",
            "HTTPS://ACME.EU.AUTH0.COM/",
            "acme.eu.auth0.com/",
        ):
            assert reason(rules, {}, {"iss": iss}) == "wrong_issuer"
        assert reason(rules, {}, {"iss": [AUTH0_ISSUER]}) == "wrong_issuer"
        assert reason(rules, {}, {}) == "wrong_issuer"

    def test_google_accepts_both_spellings(self) -> None:
        """The google profile accepts `https://accounts.google.com` and `accounts.google.com`."""
        rules = rules_for("google", "https://accounts.google.com", audiences=[GOOGLE_CLIENT])
        assert rules.issuers == {"https://accounts.google.com", "accounts.google.com"}
        claims = {**GOOGLE_ID_TOKEN_CLAIMS, "iss": "http://accounts.google.com"}
        assert reason(rules, {}, claims) == "wrong_issuer"


ENTRA_TEMPLATE: Final = "https://login.microsoftonline.com/{tenantid}/v2.0"


class TestTenants:
    def rules(self, *tenants: str) -> ClaimRules:
        """Multi-tenant Entra rules allowing `tenants`."""
        return rules_for("entra", ENTRA_TEMPLATE, audiences=[ENTRA_API], tenants=tenants)

    def test_allowed_tenant_passes(self) -> None:
        """A token whose `iss` and `tid` name the same allowed tenant passes."""
        token = ENTRA_USER_ACCESS
        assert reason(self.rules(OTHER_TENANT, TENANT), token.header, token.claims) is None

    def test_other_tenant_is_refused(self) -> None:
        """A token from a tenant outside the allow-list is refused."""
        token = ENTRA_USER_ACCESS
        claims = {
            **token.claims,
            "iss": f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0",
            "tid": OTHER_TENANT,
        }
        assert reason(self.rules(TENANT), token.header, claims) == "tenant_not_allowed"

    @pytest.mark.parametrize(
        "tid", [OTHER_TENANT, None, 1, [TENANT], TENANT.upper(), f"{TENANT}/v2.0"]
    )
    def test_iss_and_tid_must_agree(self, tid: object) -> None:
        """An allowed tenant in `iss` with another (or no) `tid` is refused."""
        token = ENTRA_USER_ACCESS
        claims = {**token.claims, "tid": tid}
        assert reason(self.rules(TENANT, OTHER_TENANT), token.header, claims) in {
            "wrong_issuer",
            "tenant_not_allowed",
        }

    @pytest.mark.parametrize(
        "iss",
        [
            f"https://login.microsoftonline.com/{TENANT}/v2.0/",
            f"https://login.microsoftonline.com/{TENANT}",
            f"https://sts.windows.net/{TENANT}/",
            f"https://login.microsoftonline.com/{TENANT}/{TENANT}/v2.0",
            "https://login.microsoftonline.com/{tenantid}/v2.0",
            None,
        ],
    )
    def test_iss_must_fill_the_template_exactly(self, iss: object) -> None:
        """`iss` must be the template with the tenant id in place, nothing more or less."""
        token = ENTRA_USER_ACCESS
        claims = {**token.claims, "iss": iss}
        assert reason(self.rules(TENANT), token.header, claims) == "wrong_issuer"

    def test_helper(self) -> None:
        """`tenant_issuer_matches` checks template, `iss`, `tid` and the allow-list together."""
        tenants = frozenset({TENANT})
        assert tenant_issuer_matches(ENTRA_TEMPLATE, ENTRA_ISSUER, {"tid": TENANT}, tenants)
        assert not tenant_issuer_matches(ENTRA_TEMPLATE, ENTRA_ISSUER, {"tid": TENANT}, frozenset())
        assert not tenant_issuer_matches(ENTRA_TEMPLATE, ENTRA_ISSUER, {}, tenants)

    def test_empty_allow_list_is_a_configuration_error(self) -> None:
        """A tenant template without tenants never means "any tenant"."""
        with pytest.raises(ValueError, match="explicit list of allowed tenant ids"):
            validate_issuer(ENTRA_TEMPLATE, [])
        with pytest.raises(ValueError, match="explicit list of allowed tenant ids"):
            self.rules()

    def test_tenants_without_template_is_a_configuration_error(self) -> None:
        """Tenants listed for a fixed issuer are a mistake, not silently ignored."""
        with pytest.raises(ValueError, match="no \\{tenantid\\}"):
            validate_issuer(ENTRA_ISSUER, [TENANT])

    @pytest.mark.parametrize("tenant", ["", "a/b", "{tenantid}", "t?x", "t#x", "t\u00e9", "a b"])
    def test_malformed_tenant_is_a_configuration_error(self, tenant: str) -> None:
        """A tenant id must be one plain URL path segment."""
        with pytest.raises(ValueError, match="not a tenant id"):
            validate_issuer(ENTRA_TEMPLATE, [TENANT, tenant])

    def test_double_placeholder_is_a_configuration_error(self) -> None:
        """A template has exactly one tenant placeholder."""
        with pytest.raises(ValueError, match="twice"):
            validate_issuer("https://x/{tenantid}/{tenantid}", [TENANT])

    def test_fixed_issuer_is_valid(self) -> None:
        """An ordinary issuer without tenants passes validation."""
        validate_issuer(ENTRA_ISSUER)


class TestClaimValues:
    def rules(self, *role_claims: str) -> ClaimRules:
        """Generic rules reading roles from `role_claims`."""
        return rules_for("generic", RFC9068_ISSUER, role_claims=list(role_claims))

    @pytest.mark.parametrize(
        ("value", "roles"),
        [
            (["a", "b"], {"a", "b"}),
            ("a b", {"a", "b"}),
            ("  a   b ", {"a", "b"}),
            ("read\u3000admin", {"read\u3000admin"}),
            ("read\tadmin", {"read\tadmin"}),
            ("read\nadmin", {"read\nadmin"}),
            (["a b"], {"a b"}),
            (["a", 1, None, True, ["b"], {"c": "d"}, ""], {"a"}),
            ({"admin": True}, set()),
            (42, set()),
            (1.5, set()),
            (True, set()),
            (None, set()),
            ("", set()),
            ([], set()),
        ],
    )
    def test_value_shapes(self, value: object, roles: set[str]) -> None:
        """Lists of strings and space-separated strings are read; other shapes are ignored."""
        assert self.rules("roles").roles({"roles": value}) == roles
        assert rules_for("generic", RFC9068_ISSUER).scopes({"scope": value}) == roles

    def test_scope_and_scp_are_merged(self) -> None:
        """The default scope claims are `scope` and `scp` together."""
        rules = rules_for("generic", RFC9068_ISSUER)
        assert rules.scopes({"scope": "a b", "scp": ["c"]}) == {"a", "b", "c"}

    def test_scope_claims_can_be_overridden(self) -> None:
        """A setting replaces the profile's scope claims."""
        rules = rules_for("entra", ENTRA_ISSUER, scope_claims=["scope"])
        assert rules.scopes({"scope": "a", "scp": "b"}) == {"a"}

    @pytest.mark.parametrize(
        "claims",
        [
            {"realm_access": ["roles"]},
            {"realm_access": "roles"},
            {"realm_access": None},
            {"realm_access": {"roles": {"admin": True}}},
            {"realm_access": {"roles": [["admin"]]}},
            {"realm_access": {"other": ["admin"]}},
            {"realm_access.roles.extra": ["admin"]},
            {},
        ],
    )
    def test_nested_paths_tolerate_every_shape(self, claims: dict[str, Any]) -> None:
        """A dotted path through anything but objects finds nothing and never raises."""
        assert self.rules("realm_access.roles").roles(claims) == frozenset()

    def test_literal_name_is_tried_before_the_path(self) -> None:
        """A claim named with dots is read as one name before being walked."""
        rules = self.rules("realm_access.roles")
        assert rules.roles({"realm_access.roles": ["flat"]}) == {"flat"}
        assert rules.roles({"realm_access": {"roles": ["nested"]}}) == {"nested"}

    def test_colon_is_part_of_a_name(self) -> None:
        """`cognito:groups` is one claim name."""
        assert self.rules("cognito:groups").roles({"cognito:groups": ["admin"]}) == {"admin"}

    def test_several_paths_are_merged(self) -> None:
        """Roles from every configured path are united."""
        rules = self.rules("roles", "groups")
        assert rules.roles({"roles": ["a"], "groups": "b c"}) == {"a", "b", "c"}

    def test_deep_nesting_is_not_walked(self) -> None:
        """A deeply nested object costs only the path's depth."""
        deep: dict[str, Any] = {"roles": ["x"]}
        for _ in range(10_000):
            deep = {"realm_access": deep}
        assert self.rules("realm_access.roles").roles(deep) == frozenset()

    def test_huge_lists_are_read_whole(self) -> None:
        """A 10,000-item role list (or 10,000-word scope) is read in one linear pass."""
        names = [f"role-{i}" for i in range(10_000)]
        hostile: list[object] = [*names, *range(10_000), *([None] * 10_000)]
        assert self.rules("roles").roles({"roles": hostile}) == set(names)
        scopes = rules_for("generic", RFC9068_ISSUER).scopes({"scope": " ".join(names)})
        assert scopes == set(names)

    @pytest.mark.parametrize("path", ["", ".roles", "roles.", "a..b"])
    def test_empty_path_segment_is_a_configuration_error(self, path: str) -> None:
        """A role path with an empty segment is refused at startup."""
        with pytest.raises(ValueError, match="role claim"):
            self.rules(path)

    def test_string_instead_of_list_is_a_configuration_error(self) -> None:
        """A single string is not mistaken for a list of one-letter claims."""
        with pytest.raises(ValueError, match="must be a list"):
            rules_for("generic", RFC9068_ISSUER, scope_claims="scope")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["Bearer", "access", "at+jwt", "admin", RFC9068_ISSUER, TENANT]),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=8,
)
"""Any JSON value, biased towards strings that mean something to the rules."""

CLAIM_NAMES: Final = [
    "iss",
    "aud",
    "client_id",
    "tid",
    "typ",
    "token_use",
    "cid",
    "azpacr",
    "roles",
    "scope",
    "scp",
    "realm_access",
    "resource_access",
    "cognito:groups",
]
claim_sets = st.dictionaries(
    st.sampled_from(CLAIM_NAMES) | st.text(max_size=8), json_values, max_size=8
)
headers = st.dictionaries(
    st.sampled_from(["typ", "alg"]) | st.text(max_size=4), json_values, max_size=4
)
scope_tokens = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\'),
    min_size=1,
    max_size=10,
)
"""Scope tokens as RFC 6749 section 3.3 defines them."""


def all_rules() -> list[ClaimRules]:
    """Every profile's rules as a service would configure them, audiences included."""
    rules = [provider_rules(provider) for provider in PROVIDERS.values()]
    rules.append(rules_for("entra", ENTRA_TEMPLATE, audiences=[ENTRA_API], tenants=[TENANT]))
    rules.append(rules_for("keycloak", KEYCLOAK_ISSUER, clients=["orders", "account"]))
    return rules


ALL_RULES: Final = all_rules()
PROPERTIES: Final = hypothesis.settings(max_examples=100, deadline=None)


class TestProperties:
    """Properties that hold for any input, checked with hypothesis."""

    @PROPERTIES
    @given(header=headers, claims=claim_sets)
    def test_any_shape_is_judged_never_crashes(
        self, header: dict[str, Any], claims: dict[str, Any]
    ) -> None:
        """Whatever the header and claims hold, checks refuse with a reason or pass."""
        for rules in ALL_RULES:
            assert reason(rules, header, claims) in {
                None,
                "wrong_token_type",
                "wrong_issuer",
                "tenant_not_allowed",
                "not_an_access_token",
                "wrong_audience",
                "required_claim_mismatch",
            }
            roles, scopes = rules.roles(claims), rules.scopes(claims)
            assert all(type(item) is str and item for item in roles | scopes)

    @PROPERTIES
    @given(tokens=st.lists(scope_tokens, max_size=8), gaps=st.integers(1, 3))
    def test_scope_string_round_trip(self, tokens: list[str], gaps: int) -> None:
        """A space-separated scope string yields exactly its scope tokens."""
        rules = rules_for("generic", RFC9068_ISSUER)
        assert rules.scopes({"scope": (" " * gaps).join(tokens)}) == set(tokens)
        assert rules.scopes({"scp": tokens}) == set(tokens)

    @PROPERTIES
    @given(value=json_values)
    def test_required_value_matches_only_itself(self, value: object) -> None:
        """A claim required to be "1" passes only for the string "1", whatever JSON it holds."""
        rules = rules_for("generic", RFC9068_ISSUER, required_claims={"v": "1"})
        passes = reason(rules, {}, {"iss": RFC9068_ISSUER, "v": value}) is None
        assert passes is (json.dumps(value) == '"1"')
