"""The service as a protected resource: AUTH_RESOURCE, its metadata, challenges and OpenAPI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import pytest
from litestar import get
from litestar.testing import AsyncTestClient
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.auth import AuthSettings
from {{ cookiecutter.package_name }}.auth.resource import canonical_uri, metadata_paths, metadata_url

from .conftest import AUDIENCE, auth_settings, bearer, build_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar import Litestar

    from .conftest import IssuerStub, Keyring

    Client = AsyncTestClient[Litestar]

RESOURCE: Final = "https://api.test/mcp"
METADATA: Final = "https://api.test/.well-known/oauth-protected-resource/mcp"


@get("/reports", guards=[], sync_to_thread=False, opt={"scopes_supported": ["reports:read"]})
def reports() -> dict[str, str]:
    """A route that declares a scope it may ask for (as the MCP endpoint does for its tools)."""
    return {"reports": "none"}


@pytest.fixture
async def resource_client(stub: IssuerStub) -> AsyncIterator[Client]:
    """The app with `AUTH_RESOURCE` set to `RESOURCE`, the only audience being `AUDIENCE`."""
    app = build_app(stub, auth_settings(resource=RESOURCE), route_handlers=[reports])
    async with AsyncTestClient(app) as client:
        yield client


class TestCanonicalForm:
    """Audiences are compared with the resource in canonical form (RFC 8707, RFC 3986 6.2)."""

    @pytest.mark.parametrize(
        "spelling",
        [
            "https://api.test/mcp",
            "HTTPS://API.Test/mcp",
            "https://api.test:443/mcp",
        ],
    )
    def test_equivalent_spellings_are_equal(self, spelling: str) -> None:
        """Scheme and host case and the default port do not matter."""
        assert canonical_uri(spelling) == "https://api.test/mcp"

    def test_empty_path_and_slash_are_equal(self) -> None:
        """`https://api.test/` and `https://api.test` are the same resource."""
        assert canonical_uri("https://api.test/") == canonical_uri("https://api.test")

    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("https://api.test/mcp", "https://api.test/MCP"),
            ("https://api.test/mcp", "https://api.test/mcp/"),
            ("https://api.test/mcp", "http://api.test/mcp"),
            ("https://api.test/mcp", "https://api.test:8443/mcp"),
        ],
    )
    def test_significant_differences_remain(self, a: str, b: str) -> None:
        """Path case, a trailing slash on a path, the scheme and other ports tell resources apart."""
        assert canonical_uri(a) != canonical_uri(b)

    @pytest.mark.parametrize(
        "value",
        [
            "https://api.test/mcp#frag",
            "https://user@api.test/mcp",
            "api://orders",
            "https://[::1/mcp",
            "https://api.test:99999/mcp",
            "",
        ],
    )
    def test_not_a_resource_uri(self, value: str) -> None:
        """Fragments, user information, other schemes and broken URLs name no resource."""
        assert canonical_uri(value) is None

    def test_metadata_url_inserts_the_well_known_path(self) -> None:
        """RFC 9728 section 3.1: the well-known path goes between the host and the path."""
        assert metadata_url(RESOURCE) == METADATA
        assert (
            metadata_url("https://api.test/")
            == "https://api.test/.well-known/oauth-protected-resource"
        )
        assert metadata_paths("https://api.test") == ("/.well-known/oauth-protected-resource",)


class TestResourceSetting:
    """`AUTH_RESOURCE` must be a resource identifier that clients can use."""

    @pytest.mark.parametrize(
        "value",
        [
            "api.test/mcp",
            "http://api.test/mcp",
            "https://api.test/mcp?x=1",
            "https://api.test/mcp#x",
            "https://user:pw@api.test/mcp",
            "https://api.test/{x}",
            "https://api.test//mcp",
        ],
    )
    def test_unusable_resource_is_refused(self, value: str) -> None:
        """No https URL (or http on loopback), a query, fragment, credentials or odd path: refused."""
        with pytest.raises(ValidationError, match="resource"):
            auth_settings(resource=value)

    def test_empty_resource_means_none(self) -> None:
        """An empty `AUTH_RESOURCE` leaves the service without resource metadata."""
        assert auth_settings(resource="").resource is None


class TestAudience:
    """A token must name this resource, or a configured audience, in `aud`."""

    @pytest.mark.parametrize(
        "aud",
        [RESOURCE, "HTTPS://API.TEST:443/mcp", [RESOURCE, "other"], AUDIENCE],
    )
    async def test_resource_or_audience_is_accepted(
        self, resource_client: Client, keyring: Keyring, aud: Any
    ) -> None:
        """The resource in any equivalent spelling, or a configured audience, is accepted."""
        response = await resource_client.get("/protected", headers=bearer(keyring.token(aud=aud)))
        assert response.status_code == 200

    @pytest.mark.parametrize(
        "aud",
        ["https://api.test/MCP", "https://api.test/other", "https://api.test/mcp#x", None, 7],
    )
    async def test_other_audience_is_refused(
        self, resource_client: Client, keyring: Keyring, aud: Any
    ) -> None:
        """A token for another resource (or with no usable `aud`) answers 401 invalid_token."""
        response = await resource_client.get("/protected", headers=bearer(keyring.token(aud=aud)))
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]

    async def test_resource_makes_audience_checked(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """With no audience configured, `AUTH_RESOURCE` alone is required in `aud`."""
        app = build_app(stub, auth_settings(audience=(), resource=RESOURCE))
        async with AsyncTestClient(app) as client:
            ok = await client.get("/protected", headers=bearer(keyring.token(aud=RESOURCE)))
            refused = await client.get("/protected", headers=bearer(keyring.token(aud=AUDIENCE)))
        assert (ok.status_code, refused.status_code) == (200, 401)


class TestMetadata:
    """`GET /.well-known/oauth-protected-resource[/<path>]` describes the resource (RFC 9728)."""

    @pytest.mark.parametrize(
        "path",
        ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"],
    )
    async def test_document_needs_no_token(self, resource_client: Client, path: str) -> None:
        """Both paths answer the document without a token, readable from any origin."""
        response = await resource_client.get(path, headers={"Origin": "https://app.example"})
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        document = response.json()
        # An MCP endpoint, when generated, adds its tools' scopes.
        assert {"admin", "reports:read"} <= set(document.pop("scopes_supported"))
        assert document == {
            "resource": RESOURCE,
            "authorization_servers": ["https://issuer.test"],
            "bearer_methods_supported": ["header"],
            "resource_name": auth_settings().resource_name,
            "access_token_signing_alg_values_supported": list(auth_settings().algorithms),
        }

    async def test_cors_preflight_is_answered(self, resource_client: Client) -> None:
        """A browser's preflight for the document gets 204 with permissive CORS headers."""
        response = await resource_client.options(
            "/.well-known/oauth-protected-resource/mcp",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "mcp-protocol-version",
            },
        )
        assert response.status_code == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Allow-Methods"] == "GET"

    async def test_document_ignores_forwarded_headers(self, resource_client: Client) -> None:
        """The URLs come from `AUTH_RESOURCE`, never from headers a client controls."""
        hostile = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
        document = (await resource_client.get(metadata_paths(RESOURCE)[-1], headers=hostile)).json()
        challenge = (await resource_client.get("/protected", headers=hostile)).headers
        assert document["resource"] == RESOURCE
        assert "evil" not in challenge["WWW-Authenticate"]

    async def test_every_issuer_is_an_authorization_server(self, stub: IssuerStub) -> None:
        """Each trusted issuer is listed; a tenant template once per allowed tenant."""
        settings = AuthSettings(
            _env_file=None,
            realm="tests",
            issuers=[
                {"issuer": "https://issuer.test", "audience": [AUDIENCE]},
                {
                    "issuer": "https://login.test/{tenantid}/v2.0",
                    "jwks_url": "https://login.test/keys",
                    "tenants": ["t1", "t2"],
                },
            ],
            resource=RESOURCE,
        )
        async with AsyncTestClient(build_app(stub, settings)) as client:
            document = (await client.get("/.well-known/oauth-protected-resource")).json()
        assert document["authorization_servers"] == [
            "https://issuer.test",
            "https://login.test/t1/v2.0",
            "https://login.test/t2/v2.0",
        ]

    async def test_no_metadata_without_resource(self, client: Client) -> None:
        """Without `AUTH_RESOURCE` there is no metadata, and challenges name none."""
        assert (await client.get("/.well-known/oauth-protected-resource")).status_code == 404
        response = await client.get("/protected")
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="tests"'


class TestChallenges:
    """401 and 403 answers point at the metadata and name the scope the route needs."""

    async def test_missing_token_names_metadata(self, resource_client: Client) -> None:
        """A 401 without a token carries `resource_metadata` and no error code."""
        response = await resource_client.get("/protected")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == (
            f'Bearer realm="tests", resource_metadata="{METADATA}"'
        )

    async def test_scoped_route_names_its_scope_on_401(self, resource_client: Client) -> None:
        """A 401 on a scope-guarded route names the scope (RFC 6750 section 3)."""
        response = await resource_client.get("/admin", headers=bearer("not.a.token"))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="tests", error="invalid_token", error_description="The access token '
            f'is invalid.", scope="admin", resource_metadata="{METADATA}"'
        )

    async def test_insufficient_scope_names_scope_and_metadata(
        self, resource_client: Client, keyring: Keyring
    ) -> None:
        """A 403 for a missing scope names it and the metadata."""
        response = await resource_client.get("/admin", headers=bearer(keyring.token(aud=RESOURCE)))
        assert response.status_code == 403
        challenge = response.headers["WWW-Authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert challenge.endswith(f'scope="admin", resource_metadata="{METADATA}"')

    async def test_missing_role_names_metadata(
        self, resource_client: Client, keyring: Keyring
    ) -> None:
        """A 403 for a missing role names the metadata (a role is no scope to ask for)."""
        response = await resource_client.get("/staff", headers=bearer(keyring.token(aud=RESOURCE)))
        assert response.status_code == 403
        assert response.headers["WWW-Authenticate"].endswith(f'resource_metadata="{METADATA}"')


class TestOpenAPI:
    """The schema tells, per operation, whether a token is needed and how refusals look."""

    async def test_refusals_documented_per_route(self, resource_client: Client) -> None:
        """Authenticated routes declare the bearer scheme, 401 and 503; guarded ones also 403."""
        paths = (await resource_client.get("/schema/openapi.json")).json()["paths"]
        for path in ("/protected", "/admin", "/staff"):
            operation = paths[path]["get"]
            assert operation["security"] == [{"BearerToken": []}]
            assert {"401", "503"} <= set(operation["responses"])
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
            assert "Retry-After" in operation["responses"]["503"]["headers"]
        assert "403" in paths["/admin"]["get"]["responses"]
        assert "403" not in paths["/protected"]["get"]["responses"]

    async def test_public_routes_need_no_token(self, resource_client: Client) -> None:
        """`/health`, `/ready` and the metadata carry no security requirement and no 401."""
        schema = (await resource_client.get("/schema/openapi.json")).json()
        assert "security" not in schema
        for path in ("/health", "/ready", "/.well-known/oauth-protected-resource/mcp"):
            operation = schema["paths"][path]["get"]
            assert "security" not in operation
            assert "401" not in operation["responses"]
