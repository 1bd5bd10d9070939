"""The generated MCP endpoint, driven by the official MCP Python client over real HTTP on loopback.

`dev` of the `py312-minimal` project (generated with `mcp_server` yes) serves `/mcp`, the
development issuer and the protected resource metadata; `token` mints tokens for the resource.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any, Final

import httpx2
import pytest
from conftest import VARIANTS, Installed, run
from mcp import Client
from mcp.client.auth.utils import extract_resource_metadata_from_www_auth
from mcp.client.streamable_http import streamable_http_client
from processes import LOOPBACK, SLUG, Service, running_service, service_env

NAME = "py312-minimal"


@pytest.fixture(scope="module")
def project(request: pytest.FixtureRequest) -> Installed:
    """The synced project generated with `mcp_server` yes."""
    assert VARIANTS[NAME].mcp_server
    installed: Installed = request.getfixturevalue("installed_py312_minimal")
    return installed


@pytest.fixture(scope="module")
def dev(project: Installed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One `dev --no-reload` process of the MCP project."""
    log = tmp_path_factory.mktemp("mcp-logs") / "dev.log"
    with running_service(project, "dev", log, "--no-reload") as service:
        service.wait_for("/ready", 200, 60.0)
        yield service


def mint(project: Installed, dev: Service, *args: str) -> str:
    """A token from the project's `token` command for the running `dev`."""
    env = service_env(project.env, PORT=str(dev.port))
    return run(["uv", "run", SLUG, "token", *args], project.path, env).stdout.strip()


def endpoint(dev: Service) -> str:
    """The MCP endpoint's URL."""
    return f"http://{LOOPBACK}:{dev.port}/mcp"


async def with_client(
    url: str,
    token: str | None,
    calls: list[tuple[str, dict[str, Any]]],
    statuses: list[int] | None = None,
) -> tuple[list[str], list[Any]]:
    """Connect the official client with `token`, list the tools, make `calls`; return both.

    The status of every HTTP answer the client gets is appended to `statuses`.
    """
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}

    async def record(response: httpx2.Response) -> None:
        if statuses is not None:
            statuses.append(response.status_code)

    async with (
        httpx2.AsyncClient(
            headers=headers, trust_env=False, timeout=10.0, event_hooks={"response": [record]}
        ) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        tools = sorted(tool.name for tool in (await client.list_tools()).tools)
        results = [await client.call_tool(name, arguments) for name, arguments in calls]
        return tools, results


def leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions inside `group` and its nested groups."""
    found: list[BaseException] = []
    for error in group.exceptions:
        found += leaves(error) if isinstance(error, BaseExceptionGroup) else [error]
    return found


TOOL_CALL: Final = {
    "jsonrpc": "2.0",
    "id": 2,
    "method": "tools/call",
    "params": {"name": "issuer_status", "arguments": {}},
}


def post_mcp(dev: Service, token: str, body: bytes) -> httpx2.Response:
    """POST `body` to `/mcp` as JSON with `token`, as an MCP client would."""
    return httpx2.post(
        endpoint(dev),
        content=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        },
        trust_env=False,
        timeout=10.0,
    )


class TestMCPOverHTTP:
    """A real MCP client finds out how to authenticate, then uses the tools with a dev token."""

    def test_no_token_is_401_pointing_at_the_metadata(self, dev: Service) -> None:
        """Without a token `/mcp` is 401, and its `resource_metadata` names the dev issuer.

        The metadata names `/mcp` as the resource and the dev issuer as authorization server.
        """
        response = httpx2.post(
            endpoint(dev),
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Accept": "application/json, text/event-stream"},
            trust_env=False,
        )
        assert response.status_code == 401
        url = extract_resource_metadata_from_www_auth(response)
        assert url == f"http://{LOOPBACK}:{dev.port}/.well-known/oauth-protected-resource/mcp"
        document = httpx2.get(url, trust_env=False).json()
        assert document["resource"] == endpoint(dev)
        assert document["authorization_servers"] == [f"http://{LOOPBACK}:{dev.port}/dev-issuer"]
        assert "issuers:read" in document["scopes_supported"]

    def test_client_without_token_cannot_connect(self, dev: Service) -> None:
        """The official client fails to connect without a token, every answer it got being 401."""
        statuses: list[int] = []
        with pytest.raises(ExceptionGroup):  # the SDK's task groups wrap its MCPError
            asyncio.run(with_client(endpoint(dev), None, [], statuses))
        assert statuses
        assert set(statuses) == {401}

    def test_dev_token_lists_and_calls_the_tools(self, project: Installed, dev: Service) -> None:
        """With a `token` for the resource, the client lists and calls both tools.

        `whoami` names the caller; `issuer_status` answers with `issuers:read`, and without it
        the call fails on the server's HTTP 403.
        """
        plain = mint(project, dev, "--sub", "mcp-user")
        scoped = mint(project, dev, "--scope", "issuers:read")
        tools, (who,) = asyncio.run(with_client(endpoint(dev), plain, [("whoami", {})]))
        statuses: list[int] = []
        with pytest.raises(ExceptionGroup) as refused:  # the SDK's task groups wrap its error
            asyncio.run(with_client(endpoint(dev), plain, [("issuer_status", {})], statuses))
        assert [str(error) for error in leaves(refused.value)] == [
            "Server returned an error response"
        ]
        _, (granted,) = asyncio.run(with_client(endpoint(dev), scoped, [("issuer_status", {})]))
        assert tools == ["issuer_status", "whoami"]
        assert not who.is_error
        assert who.structured_content["subject"] == "mcp-user"
        assert statuses[-1] == 403
        assert not granted.is_error
        assert set(granted.structured_content.values()) == {"ready"}

    def test_missing_tool_scope_is_a_step_up_challenge(
        self, project: Installed, dev: Service
    ) -> None:
        """A `tools/call` without the tool's scope: 403 `insufficient_scope` naming it."""
        response = post_mcp(dev, mint(project, dev), json.dumps(TOOL_CALL).encode())
        assert response.status_code == 403
        challenge = response.headers["WWW-Authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert 'scope="issuers:read"' in challenge
        assert f'resource_metadata="http://{LOOPBACK}:{dev.port}/.well-known/' in challenge

    @pytest.mark.parametrize(
        "body",
        [b"{not json", b"[" * 5000, b'{"method": "tools/call", "params": []}', b"x" * (2 << 20)],
        ids=["not-json", "deep", "odd-params", "over-1-MiB"],
    )
    def test_unreadable_bodies_get_the_sdks_answer(
        self, project: Installed, dev: Service, body: bytes
    ) -> None:
        """What is not a readable tool call reaches the SDK, which answers 4xx; never a 500."""
        response = post_mcp(dev, mint(project, dev), body)
        assert 400 <= response.status_code < 500, response.text
        assert dev.expect("/health", 200)

    def test_token_for_another_audience_is_refused(self, project: Installed, dev: Service) -> None:
        """A dev token minted for another audience gets 401 invalid_token at `/mcp`."""
        token = mint(project, dev, "--audience", "https://elsewhere.example/mcp")
        response = httpx2.post(
            endpoint(dev),
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json, text/event-stream",
            },
            trust_env=False,
        )
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
