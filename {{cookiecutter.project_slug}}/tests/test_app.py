"""The application: routes, OpenAPI, readiness and behaviour while the issuer is unavailable."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Final

import httpx
import pytest
from litestar import get
from litestar.testing import AsyncTestClient

from {{ cookiecutter.package_name }}.auth import requires_scopes

from .conftest import (
    DISCOVERY_PATH,
    ISSUER,
    JWKS_PATH,
    OMIT,
    auth_settings,
    bearer,
    build_app,
    eventually,
)

if TYPE_CHECKING:
    from litestar import Litestar

    from .conftest import IssuerStub, Keyring

    Client = AsyncTestClient[Litestar]

UNAVAILABLE: Final = {
    "status_code": 503,
    "detail": "Token verification is temporarily unavailable.",
}


@get("/public/ping", sync_to_thread=False)
def public_ping() -> dict[str, str]:
    """A route without `exclude_from_auth`, for testing `exclude_paths`."""
    return {"ping": "pong"}


@get("/schemas/{name:str}", sync_to_thread=False)
def schema_by_name() -> dict[str, str]:
    """A user's route whose path starts like the excluded `/schema`."""
    return {"schema": "found"}


@get("/{tenant:str}/orders", sync_to_thread=False)
def tenant_orders() -> dict[str, str]:
    """A root-level parameter route, reachable as `/schemaacme/orders`."""
    return {"orders": "found"}


@get(
    "/open/report", exclude_from_auth=True, guards=[requires_scopes("admin")], sync_to_thread=False
)
def open_but_guarded() -> dict[str, str]:
    """A route excluded from authentication by mistake, yet guarded by a scope."""
    return {"report": "secret"}


class TestRoutes:
    """What each route answers."""

    async def test_health_needs_no_token(self, client: Client) -> None:
        """`/health` answers 200 without a token."""
        response = await client.get("/health")
        assert (response.status_code, response.json()) == (200, {"status": "ok"})

    async def test_ready_once_keys_are_loaded(self, client: Client) -> None:
        """`/ready` answers 200 without a token once the issuer's keys are loaded."""
        response = await client.get("/ready")
        assert (response.status_code, response.json()) == (
            200,
            {"status": "ready", "issuers": {ISSUER: "ready"}},
        )

    @pytest.mark.parametrize(
        ("overrides", "scopes"),
        [
            ({"scope": "write read"}, ["read", "write"]),
            ({"scope": OMIT, "scp": ["read", "admin"]}, ["admin", "read"]),
            ({"scope": OMIT}, []),
        ],
        ids=["scope", "scp", "none"],
    )
    async def test_protected_describes_the_principal(
        self, client: Client, keyring: Keyring, overrides: dict[str, object], scopes: list[str]
    ) -> None:
        """`/protected` returns the subject, issuer, sorted scopes and roles of the token."""
        token = keyring.token("ES384", sub="client-42", **overrides)
        response = await client.get("/protected", headers=bearer(token))
        assert response.status_code == 200
        assert response.json() == {
            "message": "Access granted",
            "user": {"subject": "client-42", "issuer": ISSUER, "scopes": scopes, "roles": []},
        }

    async def test_cors_preflight_is_not_authenticated(self, client: Client) -> None:
        """An OPTIONS preflight without a token is not refused (browsers send no credentials)."""
        response = await client.options(
            "/protected",
            headers={"Origin": "https://app.test", "Access-Control-Request-Method": "GET"},
        )
        assert response.status_code == 204
        assert "GET" in response.headers["Allow"]

    async def test_openapi_schema_is_public_and_documents_bearer_jwt(self, client: Client) -> None:
        """`/schema/openapi.json` needs no token and declares the bearer JWT security scheme."""
        response = await client.get("/schema/openapi.json")
        assert response.status_code == 200
        schema = response.json()
        assert schema["components"]["securitySchemes"]["BearerToken"] == {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
        }
        assert {"/health", "/ready", "/protected", "/admin"} <= set(schema["paths"])

    async def test_excluded_path_needs_no_token(self, stub: IssuerStub) -> None:
        """A path matching `exclude_paths` is served without a token; other paths still need one."""
        settings = auth_settings(exclude_paths=("/schema", "/public/"))
        app = build_app(stub, settings, route_handlers=[public_ping])
        async with AsyncTestClient(app) as client:
            assert (await client.get("/public/ping")).json() == {"ping": "pong"}
            assert (await client.get("/protected")).status_code == 401

    @pytest.mark.parametrize("path", ["/schemas/users", "/schemaacme/orders"])
    async def test_exclusion_covers_whole_path_segments_only(
        self, stub: IssuerStub, keyring: Keyring, path: str
    ) -> None:
        """The default `/schema` exclusion leaves `/schemas/...` and `/schemaacme/...` protected."""
        app = build_app(stub, route_handlers=[schema_by_name, tenant_orders])
        async with AsyncTestClient(app) as client:
            refused = await client.get(path)
            assert refused.status_code == 401
            assert refused.headers["WWW-Authenticate"].startswith("Bearer realm=")
            assert (await client.get(path, headers=bearer(keyring.token()))).status_code == 200
            assert (await client.get("/schema/openapi.json")).status_code == 200

    async def test_guarded_route_excluded_from_auth_fails_closed(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """A scope guard on a route excluded from authentication answers 401, never 500 or 200."""
        async with AsyncTestClient(build_app(stub, route_handlers=[open_but_guarded])) as client:
            for headers in ({}, bearer(keyring.token(scope="admin"))):
                response = await client.get("/open/report", headers=headers)
                assert response.status_code == 401
                assert response.headers["WWW-Authenticate"] == 'Bearer realm="tests", scope="admin"'
                assert "secret" not in response.text

    @pytest.mark.parametrize("settings", [{"exclude_paths": ()}], indirect=True)
    async def test_schema_needs_a_token_when_not_excluded(self, client: Client) -> None:
        """With no `exclude_paths`, the OpenAPI schema is protected like any route."""
        assert (await client.get("/schema/openapi.json")).status_code == 401


class TestIssuerUnavailable:
    """No keys: 503 with Retry-After, never 401 (the fault is ours, not the client's)."""

    async def test_cold_outage_answers_503_with_retry_after(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """With the issuer down from the start, requests and `/ready` get 503 and `Retry-After`."""
        stub.fault = "down"
        async with AsyncTestClient(build_app(stub)) as client:
            response = await client.get("/protected", headers=bearer(keyring.token()))
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "1"
            assert response.json() == UNAVAILABLE
            ready = await client.get("/ready")
            assert ready.status_code == 503
            assert ready.headers["Retry-After"] == "1"

    async def test_recovery_when_the_issuer_comes_back(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """After an outage, keys load on the first request past the backoff."""
        stub.fault = "error"
        settings = auth_settings(refresh_cooldown=0.05)  # the backoff never exceeds the cooldown
        async with AsyncTestClient(build_app(stub, settings)) as client:
            assert (await client.get("/ready")).status_code == 503
            stub.fault = None
            await asyncio.sleep(0.1)
            assert (
                await client.get("/protected", headers=bearer(keyring.token()))
            ).status_code == 200
            assert (await client.get("/ready")).status_code == 200

    async def test_slow_issuer_answers_503_quickly(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """An issuer slower than `http_timeout` costs the request the timeout, not the issuer's delay."""
        stub.delay = 3
        settings = auth_settings(http_timeout=0.2)
        async with AsyncTestClient(build_app(stub, settings)) as client:
            started = time.monotonic()
            response = await client.get("/protected", headers=bearer(keyring.token()))
            assert response.status_code == 503
            assert time.monotonic() - started < 1

    async def test_stale_keys_serve_while_the_issuer_is_down(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """Keys past their TTL keep verifying while refreshes fail."""
        settings = auth_settings(jwks_cache_ttl=0.05, refresh_cooldown=0.05)
        async with AsyncTestClient(build_app(stub, settings)) as client:
            assert (await client.get("/ready")).status_code == 200
            stub.fault = "down"
            await asyncio.sleep(0.1)
            for _ in range(3):
                response = await client.get("/protected", headers=bearer(keyring.token()))
                assert response.status_code == 200
            await eventually(lambda: len(stub.urls) > 2)  # a refresh was attempted, and failed

    async def test_keys_expire_after_max_stale(self, stub: IssuerStub, keyring: Keyring) -> None:
        """Past TTL plus `jwks_max_stale` without a successful refresh, requests get 503."""
        # The short cooldown lets /ready refetch if a slow start already outlived the TTL.
        settings = auth_settings(jwks_cache_ttl=0.05, jwks_max_stale=0, refresh_cooldown=0.05)
        async with AsyncTestClient(build_app(stub, settings)) as client:
            assert (await client.get("/ready")).status_code == 200
            stub.fault = "down"
            await asyncio.sleep(0.1)
            response = await client.get("/protected", headers=bearer(keyring.token()))
            assert response.status_code == 503
            assert "Retry-After" in response.headers

    async def test_discovered_issuer_mismatch_is_logged_and_not_ready(
        self, stub: IssuerStub, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An issuer configured without the trailing slash discovery reports: no keys, and the log says why."""
        stub.discovered_issuer = ISSUER + "/"
        async with AsyncTestClient(build_app(stub)) as client:
            assert (await client.get("/ready")).status_code == 503
        assert stub.requests[JWKS_PATH] == 0
        assert "they must be equal character for character (a trailing slash counts)" in caplog.text


class TestConcurrency:
    """Many requests at once, through the ASGI app in the test's own event loop."""

    async def test_concurrent_cold_requests_cause_one_jwks_fetch(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """Twenty requests arriving while the app is still loading its keys share one fetch."""
        stub.delay = 0.05
        app = build_app(stub)
        # Litestar types its ASGI events precisely; httpx expects plain mappings.
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with (
            app.lifespan(),
            httpx.AsyncClient(transport=transport, base_url="http://app") as client,
        ):
            responses = await asyncio.gather(
                *(
                    client.get("/protected", headers=bearer(keyring.token(sub=f"user-{n}")))
                    for n in range(20)
                )
            )
        assert [response.status_code for response in responses] == [200] * 20
        assert (stub.requests[DISCOVERY_PATH], stub.jwks_fetches) == (1, 1)


class TestStartup:
    """What the app logs when it starts."""

    async def test_missing_audience_is_warned_about(
        self, stub: IssuerStub, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Without an audience, startup warns that any token of the issuer is accepted."""
        async with AsyncTestClient(build_app(stub, auth_settings(audience=()))):
            pass
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(f"no audience is set for issuer {ISSUER}" in message for message in warnings)

    async def test_configured_audience_is_not_warned_about(
        self, client: Client, caplog: pytest.LogCaptureFixture
    ) -> None:
        """With an audience configured there is no such warning."""
        assert (await client.get("/health")).status_code == 200
        assert "no audience is set" not in caplog.text
