"""Several trusted issuers: each token is checked against the issuer it names, and only that one."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx
import pytest
from litestar.testing import AsyncTestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.auth import (
    AuthSettings,
    InvalidToken,
    IssuerRegistry,
    IssuerSettings,
    KeysUnavailable,
    SettingsError,
    TokenVerifier,
    load_auth_settings,
)
from {{ cookiecutter.package_name }}.settings import ServiceSettings

from .conftest import AUDIENCE, ISSUER, REALM, IssuerStub, bearer, claims

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar import Litestar

    from .conftest import FakeClock, Keyring

SECOND: Final = "https://second.test"
SECOND_AUDIENCE: Final = "api://second"
TENANTS_TEMPLATE: Final = "https://login.test/{tenantid}/v2.0"
TENANT_KEYS: Final = "https://login.test/common/keys"
ALLOWED_TENANT: Final = "11111111-aaaa"


class Network:
    """Several stub issuers behind one transport, each answering for its own host."""

    def __init__(self, *stubs: IssuerStub) -> None:
        self.stubs = {httpx.URL(stub.issuer).host: stub for stub in stubs}
        self.transport = httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """Route the request to the stub of its host."""
        return await self.stubs[request.url.host].transport.handle_async_request(request)


class TenantKeys(IssuerStub):
    """Entra-like common keys: one JWKS at `TENANT_KEYS`, for every tenant's issuer."""

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """Serve the JWKS at its fixed URL, nothing else."""
        self.requests[request.url.path] += 1
        if str(request.url) == TENANT_KEYS:
            return httpx.Response(200, json={"keys": self.keys})
        return httpx.Response(404)


def two_issuers(**second: Any) -> AuthSettings:
    """`ISSUER` (every algorithm, audience `AUDIENCE`) and `SECOND` (ES256 only, its audience)."""
    entries = [
        {"issuer": ISSUER, "audience": [AUDIENCE]},
        {"issuer": SECOND, "audience": [SECOND_AUDIENCE], "algorithms": ["ES256"], **second},
    ]
    return AuthSettings(issuers=entries, realm=REALM, _env_file=None)


@pytest.fixture
def first(keyring: Keyring) -> IssuerStub:
    """The first issuer: publishes the RSA key."""
    return IssuerStub([keyring.rsa.public_jwk])


@pytest.fixture
def second(keyring: Keyring) -> IssuerStub:
    """The second issuer: publishes the P-256 key."""
    return IssuerStub([keyring.p256.public_jwk], issuer=SECOND)


@pytest.fixture
async def verifier(
    first: IssuerStub, second: IssuerStub, clock: FakeClock
) -> AsyncIterator[TokenVerifier]:
    """A verifier trusting both issuers, on the fake clock."""
    settings = two_issuers()
    network = Network(first, second)
    issuers = IssuerRegistry.from_settings(settings, transport=network.transport, clock=clock)
    async with issuers:
        yield TokenVerifier(settings, issuers, clock=clock)


def second_token(keyring: Keyring, clock: FakeClock, **overrides: Any) -> str:
    """A valid token of the second issuer (ES256, its audience)."""
    payload = claims(now=clock(), **{"iss": SECOND, "aud": SECOND_AUDIENCE, **overrides})
    return keyring.p256.sign(payload, "ES256")


async def refused(verifier: TokenVerifier, token: str) -> str:
    """The reason the verifier refuses `token`."""
    with pytest.raises(InvalidToken) as raised:
        await verifier.verify(token)
    return raised.value.reason


class TestSelection:
    """The token's `iss` picks the issuer; the rest of the checks are that issuer's."""

    async def test_each_issuers_tokens_are_accepted(
        self, verifier: TokenVerifier, keyring: Keyring, clock: FakeClock
    ) -> None:
        """A token of either issuer passes, and the principal names the issuer that vouched."""
        assert (await verifier.verify(keyring.token(now=clock()))).issuer == ISSUER
        assert (await verifier.verify(second_token(keyring, clock))).issuer == SECOND

    async def test_kid_of_another_issuer_is_refused(
        self,
        verifier: TokenVerifier,
        keyring: Keyring,
        clock: FakeClock,
        first: IssuerStub,
        second: IssuerStub,
    ) -> None:
        """A token naming the first issuer but signed with the second's key is refused."""
        clock.advance(60)  # past the refresh cooldown: an unknown kid refreshes the keys
        token = keyring.p256.sign(claims(now=clock()), "ES256")
        assert await refused(verifier, token) == "unknown_kid"
        assert first.jwks_fetches == 2  # the first issuer's keys were refreshed
        assert second.jwks_fetches == 1  # the second's were never asked

    async def test_unknown_issuer_is_refused_without_a_fetch(
        self,
        verifier: TokenVerifier,
        keyring: Keyring,
        clock: FakeClock,
        first: IssuerStub,
        second: IssuerStub,
    ) -> None:
        """An `iss` that no entry names is refused at once; no key set is asked."""
        for iss in ("https://third.test", SECOND + "/", "second.test", None):
            token = keyring.token(now=clock(), iss=iss, kid="never-seen")
            assert await refused(verifier, token) == "unknown_issuer"
        assert (first.jwks_fetches, second.jwks_fetches) == (1, 1)

    async def test_algorithms_are_per_issuer(
        self, verifier: TokenVerifier, keyring: Keyring, clock: FakeClock
    ) -> None:
        """RS256 is allowed for the first issuer only: the second's RS256 token is refused."""
        token = keyring.rsa.sign(claims(now=clock(), iss=SECOND, aud=SECOND_AUDIENCE), "RS256")
        assert await refused(verifier, token) == "algorithm_not_allowed"

    async def test_audiences_are_per_issuer(
        self, verifier: TokenVerifier, keyring: Keyring, clock: FakeClock
    ) -> None:
        """The first issuer's audience does not open the second issuer's tokens."""
        assert (
            await refused(verifier, second_token(keyring, clock, aud=AUDIENCE)) == "wrong_audience"
        )


class TestOutage:
    """A down issuer never makes another issuer's valid tokens fail."""

    async def test_other_issuer_keeps_serving(
        self, first: IssuerStub, second: IssuerStub, keyring: Keyring, clock: FakeClock
    ) -> None:
        """With the second issuer down from the start, the first's tokens pass; its own get 503."""
        second.fault = "down"
        settings = two_issuers()
        network = Network(first, second)
        async with IssuerRegistry.from_settings(settings, transport=network.transport) as issuers:
            verifier = TokenVerifier(settings, issuers, clock=clock)
            assert await verifier.verify(keyring.token(now=clock()))
            with pytest.raises(KeysUnavailable):
                await verifier.verify(second_token(keyring, clock))

    async def test_ready_reports_each_issuer(
        self, first: IssuerStub, second: IssuerStub, keyring: Keyring
    ) -> None:
        """`/ready` is 200 while any issuer has keys and names the one that has none."""
        second.fault = "down"
        app = service_app(two_issuers(), Network(first, second))
        async with AsyncTestClient(app) as client:
            response = await client.get("/ready")
            assert response.status_code == 200
            assert response.json() == {
                "status": "ready",
                "issuers": {ISSUER: "ready", SECOND: "unavailable"},
            }
            token = keyring.token()
            assert (await client.get("/protected", headers=bearer(token))).status_code == 200

    async def test_ready_is_503_when_no_issuer_has_keys(
        self, first: IssuerStub, second: IssuerStub
    ) -> None:
        """With every issuer down, `/ready` answers 503 with `Retry-After`."""
        first.fault = second.fault = "down"
        async with AsyncTestClient(service_app(two_issuers(), Network(first, second))) as client:
            response = await client.get("/ready")
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "1"


class TestTenants:
    """An Entra-style `{tenantid}` issuer accepts only the listed tenants."""

    @pytest.fixture
    async def tenant_verifier(
        self, keyring: Keyring, clock: FakeClock
    ) -> AsyncIterator[TokenVerifier]:
        """A verifier trusting `TENANTS_TEMPLATE` for `ALLOWED_TENANT` only."""
        entry = {
            "issuer": TENANTS_TEMPLATE,
            "jwks_url": TENANT_KEYS,
            "tenants": [ALLOWED_TENANT],
            "audience": [AUDIENCE],
        }
        settings = AuthSettings(issuers=[entry], realm=REALM, _env_file=None)
        stub = TenantKeys([keyring.rsa.public_jwk], issuer="https://login.test")
        async with IssuerRegistry.from_settings(
            settings, transport=stub.transport, clock=clock
        ) as issuers:
            yield TokenVerifier(settings, issuers, clock=clock)

    def tenant_token(self, keyring: Keyring, clock: FakeClock, tenant: str, tid: str) -> str:
        """A token whose `iss` names `tenant` and whose `tid` is `tid`."""
        iss = TENANTS_TEMPLATE.replace("{tenantid}", tenant)
        return keyring.token(now=clock(), iss=iss, tid=tid)

    async def test_listed_tenant_is_accepted(
        self, tenant_verifier: TokenVerifier, keyring: Keyring, clock: FakeClock
    ) -> None:
        """`iss` filled with an allowed tenant that matches `tid` passes."""
        token = self.tenant_token(keyring, clock, ALLOWED_TENANT, ALLOWED_TENANT)
        principal = await tenant_verifier.verify(token)
        assert principal.issuer == TENANTS_TEMPLATE
        assert principal.claims["tid"] == ALLOWED_TENANT

    @pytest.mark.parametrize(
        "case",
        [
            ("22222222-bbbb", "22222222-bbbb", "tenant_not_allowed"),
            (ALLOWED_TENANT, "22222222-bbbb", "tenant_not_allowed"),
            ("22222222-bbbb", ALLOWED_TENANT, "wrong_issuer"),
        ],
        ids=["other-tenant", "tid-of-another-tenant", "iss-of-another-tenant"],
    )
    async def test_other_tenants_are_refused(
        self,
        tenant_verifier: TokenVerifier,
        keyring: Keyring,
        clock: FakeClock,
        case: tuple[str, str, str],
    ) -> None:
        """A tenant off the list, or an `iss` that disagrees with `tid`, is refused."""
        tenant, tid, reason = case
        token = self.tenant_token(keyring, clock, tenant, tid)
        assert await refused(tenant_verifier, token) == reason


class TestSettings:
    """`AUTH_ISSUERS`: a JSON array of entries, checked at start-up."""

    def test_entries_are_read_from_json(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Each entry takes the single-issuer fields and the profile fields."""
        entries = [
            {"issuer": ISSUER, "audience": "a,b", "profile": "keycloak"},
            {"issuer": SECOND, "profile": "zuplo", "required_claims": {"account": "acme"}},
        ]
        monkeypatch.setenv("AUTH_ISSUERS", json.dumps(entries))
        found = load_auth_settings().issuer_entries()
        assert [entry.issuer for entry in found] == [ISSUER, SECOND]
        assert found[0].audience == ("a", "b")
        assert found[1].allowed_algorithms == ("EdDSA",)  # the zuplo profile's
        assert found[1].required_claims == {"account": "acme"}

    def test_single_issuer_variables_make_one_entry(self) -> None:
        """Without `AUTH_ISSUERS`, `AUTH_ISSUER` and friends are the one entry."""
        settings = AuthSettings(
            issuer=ISSUER, audience=(AUDIENCE,), profile="generic", _env_file=None
        )
        (entry,) = settings.issuer_entries()
        assert entry == IssuerSettings(
            issuer=ISSUER, audience=(AUDIENCE,), algorithms=settings.algorithms, profile="generic"
        )

    @pytest.mark.parametrize(
        ("environment", "problem"),
        [
            (
                {"AUTH_ISSUERS": json.dumps([{"issuer": ISSUER}]), "AUTH_ISSUER": SECOND},
                "AUTH_ISSUERS is set, so AUTH_ISSUER must be unset",
            ),
            (
                {"AUTH_ISSUERS": json.dumps([{"issuer": ISSUER}]), "AUTH_AUDIENCE": "x"},
                "AUTH_ISSUERS is set, so AUTH_AUDIENCE must be unset",
            ),
            (
                {"AUTH_ISSUERS": json.dumps([{"issuer": ISSUER}, {"issuer": ISSUER}])},
                f"AUTH_ISSUERS names {ISSUER} more than once",
            ),
            ({"AUTH_ISSUERS": "[{"}, "AUTH_ISSUERS is not valid JSON"),
            ({"AUTH_REQUIRED_CLAIMS": "tid=abc"}, "AUTH_REQUIRED_CLAIMS is not valid JSON"),
            (
                {"AUTH_ISSUERS": json.dumps([{"issuer": "http://issuer.test"}])},
                "AUTH_ISSUERS[0].issuer='http://issuer.test': ",
            ),
            (
                {"AUTH_ISSUERS": json.dumps([{"issuer": ISSUER, "algorithms": ["HS256"]}])},
                "'HS256' is HMAC",
            ),
            (
                {"AUTH_ISSUERS": json.dumps([{"issuer": ISSUER, "profil": "zuplo"}])},
                "AUTH_ISSUERS[0].profil",
            ),
            (
                {"AUTH_ISSUERS": json.dumps([{"issuer": ISSUER, "profile": "okra"}])},
                "unknown provider profile 'okra'",
            ),
            (
                {
                    "AUTH_ISSUERS": json.dumps(
                        [{"issuer": TENANTS_TEMPLATE, "jwks_url": TENANT_KEYS}]
                    )
                },
                "needs an explicit list of allowed tenant ids",
            ),
            (
                {"AUTH_ISSUERS": json.dumps([{"issuer": TENANTS_TEMPLATE, "tenants": ["t"]}])},
                "cannot be discovered: set jwks_url",
            ),
            ({"AUTH_ISSUER": TENANTS_TEMPLATE, "AUTH_JWKS_URL": TENANT_KEYS}, "tenant ids"),
            ({"AUTH_PROFILE": "google", "AUTH_AUDIENCE": ""}, "needs an audience"),
        ],
    )
    def test_bad_entries_are_explained(
        self, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], problem: str
    ) -> None:
        """Each mistake ends start-up with one paragraph that names it."""
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(SettingsError) as raised:
            load_auth_settings()
        message = str(raised.value)
        assert problem in message
        assert message.startswith("Invalid configuration: ")
        assert "\n" not in message


def service_app(settings: AuthSettings, network: Network) -> Litestar:
    """The real app trusting `settings`' issuers, its network being `network`."""
    return create_app(
        settings, service=ServiceSettings(_env_file=None), jwks_transport=network.transport
    )


def test_readme_example_of_several_issuers_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's `AUTH_ISSUERS` example is valid as written."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    example = re.search(r"export AUTH_ISSUERS='(.*?)'", readme, re.DOTALL)
    assert example is not None
    monkeypatch.setenv("AUTH_ISSUERS", example.group(1))
    assert [entry.profile for entry in load_auth_settings().issuer_entries()] == ["zuplo", "auth0"]
