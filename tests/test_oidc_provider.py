"""The generated service against a real, independently written OpenID Connect provider.

The provider is panva's `oidc-provider` from npm, run by `tests/oidc_provider/provider.mjs` on
loopback (see that file for its clients, resources and control endpoints). Tokens come from it the
way any client gets them: `client_credentials` at its token endpoint, and the authorization code
flow with PKCE (the script logs a fixed user in and consents without a page). The service finds
the keys on its own, through the provider's discovery document.

The npm package is installed into `tests/oidc_provider/node_modules` on first use. Without node
or npm, or when the install fails, these tests fail under CI and are skipped elsewhere, like the
variants whose Python is missing (tests/conftest.py).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import httpx
import pytest
from conftest import Installed
from processes import (
    COOLDOWN,
    SLUG,
    START_TIMEOUT,
    Process,
    Service,
    read_first_line,
    run_command,
    running_service,
    service_env,
    started,
    tamper,
)

PROVIDER_DIR = Path(__file__).with_name("oidc_provider")
PROVIDER_SCRIPT = PROVIDER_DIR / "provider.mjs"
INSTALLED_MARKER = PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json"
INSTALL_TIMEOUT = 300.0
OUTPUT_TAIL_CHARS = 3000

# What provider.mjs configures.
CLIENT_SECRET = "e2e-secret"  # noqa: S105 - a fixed test client's secret, on loopback only
REDIRECT_URI = "http://127.0.0.1/callback"
ACCOUNT = "e2e-user"
RESOURCE = "api://e2e"
OTHER_RESOURCE = "api://other"
ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
MAX_REDIRECTS = 10


def client_id(alg: str) -> str:
    """The provider's client whose tokens are signed with `alg`."""
    return f"e2e-{alg}"


def jose_part(token: str, index: int) -> dict[str, Any]:
    """Header (0) or claims (1) of a compact JWS, unverified: for checking a test's premise."""
    segment = token.split(".")[index]
    padded = segment + "=" * (-len(segment) % 4)
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return decoded


# --- the provider ------------------------------------------------------------------------------


def unavailable(reason: str) -> NoReturn:
    """Fail under CI, where the provider must run; skip with `reason` elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def npm_install() -> None:
    """`npm install` in tests/oidc_provider, once, even with several pytest workers."""
    npm = shutil.which("npm")
    if npm is None:
        unavailable("npm is not on PATH: it installs oidc-provider for tests/test_oidc_provider.py")
    with (PROVIDER_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if INSTALLED_MARKER.exists():
            return
        cmd = [npm, "install", "--no-package-lock", "--no-audit", "--no-fund"]
        try:
            result = subprocess.run(
                cmd,
                cwd=PROVIDER_DIR,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            unavailable(f"`{' '.join(cmd)}` in {PROVIDER_DIR} took over {INSTALL_TIMEOUT:g} s")
        if result.returncode != 0 or not INSTALLED_MARKER.exists():
            output = (result.stdout + result.stderr)[-OUTPUT_TAIL_CHARS:]
            unavailable(
                f"`{' '.join(cmd)}` in {PROVIDER_DIR} failed (exit {result.returncode}):\n{output}"
            )


@pytest.fixture(scope="session")
def provider_installed() -> str:
    """The path of `node`, with oidc-provider installed next to provider.mjs."""
    node = shutil.which("node")
    if node is None:
        unavailable("node is not on PATH: tests/test_oidc_provider.py runs oidc-provider with it")
    if not INSTALLED_MARKER.exists():
        npm_install()
    return node


@dataclass
class OIDCProvider:
    """A running provider.mjs and the client calls the tests make to it."""

    process: Process
    url: str
    """The issuer URL, as its discovery document and tokens carry it."""

    def _client(self) -> httpx.Client:
        return httpx.Client(timeout=10.0, trust_env=False)

    def token(
        self, alg: str = "RS256", *, scope: str = "read admin", resource: str = RESOURCE
    ) -> str:
        """An access token for `resource`: client_credentials grant of client `e2e-<alg>`."""
        with self._client() as client:
            response = client.post(
                f"{self.url}/token",
                auth=(client_id(alg), CLIENT_SECRET),
                data={"grant_type": "client_credentials", "resource": resource, "scope": scope},
            )
        assert response.status_code == 200, f"{response.text}\n{self.process.report()}"
        return str(response.json()["access_token"])

    def code_flow(self, alg: str = "RS256", *, scope: str = "openid read") -> dict[str, Any]:
        """The token response of an authorization code flow with PKCE, for RESOURCE."""
        verifier = secrets.token_urlsafe(32)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        query = {
            "client_id": client_id(alg),
            "response_type": "code",
            "scope": scope,
            "redirect_uri": REDIRECT_URI,
            "resource": RESOURCE,
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        url = f"{self.url}/auth?{urlencode(query)}"
        with self._client() as client:  # keeps the provider's interaction cookies
            for _ in range(MAX_REDIRECTS):
                response = client.get(url)
                assert response.status_code in {302, 303}, (
                    f"GET {url}: {response.status_code} {response.text}\n{self.process.report()}"
                )
                url = urljoin(url, response.headers["Location"])
                if url.startswith(REDIRECT_URI):
                    break
            else:
                pytest.fail(f"no redirect to {REDIRECT_URI} after {MAX_REDIRECTS} hops")
            answer = dict(parse_qsl(urlsplit(url).query))
            assert answer.get("state") == query["state"], answer
            assert "code" in answer, answer
            response = client.post(
                f"{self.url}/token",
                auth=(client_id(alg), CLIENT_SECRET),
                data={
                    "grant_type": "authorization_code",
                    "code": answer["code"],
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": verifier,
                },
            )
        assert response.status_code == 200, f"{response.text}\n{self.process.report()}"
        tokens: dict[str, Any] = response.json()
        return tokens

    def rotate(self) -> list[str]:
        """New signing keys in front, the previous ones still published; the new kids."""
        with self._client() as client:
            response = client.post(f"{self.url}/_control/rotate")
        assert response.status_code == 200, f"{response.text}\n{self.process.report()}"
        kids: list[str] = response.json()["kids"]
        return kids

    def requests(self) -> dict[str, int]:
        """How many requests the provider received, per path."""
        with self._client() as client:
            response = client.get(f"{self.url}/_control/stats")
        assert response.status_code == 200, f"{response.text}\n{self.process.report()}"
        counts: dict[str, int] = response.json()["requests"]
        return counts

    def jwks(self) -> dict[str, Any]:
        """The provider's JWKS, from the `jwks_uri` of its discovery document."""
        with self._client() as client:
            discovery = client.get(f"{self.url}/.well-known/openid-configuration").json()
            document: dict[str, Any] = client.get(discovery["jwks_uri"]).json()
        return document


@contextlib.contextmanager
def running_provider(node: str, log: Path) -> Iterator[OIDCProvider]:
    """provider.mjs on a free loopback port, stopped on exit."""
    cmd = [node, str(PROVIDER_SCRIPT), "0"]
    with started(
        cmd, cwd=PROVIDER_DIR, env=service_env(os.environ), log=log, pipe_stdout=True
    ) as process:
        url = read_first_line(process, START_TIMEOUT)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), f"{url!r}\n{process.report()}"
        yield OIDCProvider(process, url)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the logs of this module's processes."""
    return tmp_path_factory.mktemp("oidc-logs")


@pytest.fixture(scope="module")
def provider(provider_installed: str, logs: Path) -> Iterator[OIDCProvider]:
    """One provider for the module (a rotation keeps the previous keys published)."""
    with running_provider(provider_installed, logs / "oidc-provider.log") as running:
        yield running


@pytest.fixture(scope="module")
def served(provider: OIDCProvider, installed_default: Installed, logs: Path) -> Iterator[Service]:
    """The default project under `serve`, trusting the provider for RESOURCE, once ready."""
    env = {
        "AUTH_ISSUER": provider.url,
        "AUTH_AUDIENCE": RESOURCE,
        "AUTH_REFRESH_COOLDOWN": str(COOLDOWN),
    }
    with running_service(installed_default, "serve", logs / "serve.log", env=env) as service:
        service.wait_for("/ready", 200, START_TIMEOUT)
        yield service


# --- tests -------------------------------------------------------------------------------------


class TestClientCredentials:
    """Access tokens of the client_credentials grant open what their scopes allow, nothing more."""

    @pytest.mark.parametrize("alg", ALGORITHMS)
    def test_token_is_accepted(self, served: Service, provider: OIDCProvider, alg: str) -> None:
        """A JWT access token signed with `alg` opens `/protected`, naming the client and scopes."""
        token = provider.token(alg)
        assert jose_part(token, 0)["alg"] == alg
        assert served.expect("/protected", 200, token).json()["user"] == {
            "subject": client_id(alg),
            "issuer": provider.url,
            "scopes": ["admin", "read"],
            "roles": [],
        }

    def test_keys_are_found_through_discovery(
        self, served: Service, provider: OIDCProvider
    ) -> None:
        """The service read the discovery document and fetched the `jwks_uri` it names."""
        served.expect("/protected", 200, provider.token())
        requested = provider.requests()
        assert requested.get("/.well-known/openid-configuration", 0) >= 1, requested
        assert requested.get("/jwks", 0) >= 1, requested
        assert "/.well-known/jwks.json" not in requested, requested

    def test_admin_needs_the_admin_scope(self, served: Service, provider: OIDCProvider) -> None:
        """`/admin` is 403 insufficient_scope for a `read` token and 200 with `admin` granted."""
        refused = served.expect("/admin", 403, provider.token(scope="read"))
        challenge = refused.headers["WWW-Authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert 'scope="admin"' in challenge
        granted = served.expect("/admin", 200, provider.token(scope="read admin"))
        assert granted.json()["user"]["scopes"] == ["admin", "read"]

    def test_token_for_another_resource_is_401(
        self, served: Service, provider: OIDCProvider
    ) -> None:
        """A valid token whose `aud` is another resource is 401 invalid_token."""
        token = provider.token(resource=OTHER_RESOURCE)
        assert jose_part(token, 1)["aud"] == OTHER_RESOURCE
        response = served.expect("/protected", 401, token)
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]

    def test_tampered_token_is_401(self, served: Service, provider: OIDCProvider) -> None:
        """One changed signature character makes the provider's token 401 invalid_token."""
        token = provider.token()
        served.expect("/protected", 200, token)
        response = served.expect("/protected", 401, tamper(token))
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]

    def test_rotated_keys_are_followed(self, served: Service, provider: OIDCProvider) -> None:
        """After the provider rotates, tokens of the new kid and of the kept old one are 200."""
        old = provider.token()
        served.expect("/protected", 200, old)
        kids = provider.rotate()
        new = provider.token()
        assert jose_part(new, 0)["kid"] in kids
        served.wait_out_cooldown()
        served.expect("/protected", 200, new)
        served.expect("/protected", 200, old)


class TestCodeFlow:
    """Tokens of the authorization code flow: the user's access token passes, the ID token not."""

    def test_user_access_token_is_accepted(self, served: Service, provider: OIDCProvider) -> None:
        """The access token the code flow issues for RESOURCE opens `/protected` as the user."""
        tokens = provider.code_flow(scope="openid read")
        assert served.expect("/protected", 200, tokens["access_token"]).json()["user"] == {
            "subject": ACCOUNT,
            "issuer": provider.url,
            "scopes": ["read"],
            "roles": [],
        }

    def test_id_token_is_401(self, served: Service, provider: OIDCProvider) -> None:
        """The ID token of the same flow, presented as a bearer token, is 401 invalid_token."""
        id_token = provider.code_flow()["id_token"]
        assert jose_part(id_token, 1)["aud"] == client_id("RS256")  # what an ID token is for
        response = served.expect("/protected", 401, id_token)
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_doctor_passes(provider: OIDCProvider, installed_default: Installed) -> None:
    """`doctor` against the provider exits 0 and reports its `jwks_uri` and every key."""
    env = service_env(installed_default.env, AUTH_ISSUER=provider.url, AUTH_AUDIENCE=RESOURCE)
    result = run_command(["uv", "run", SLUG, "doctor"], installed_default.path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok    JWKS URL: {provider.url}/jwks" in result.stdout
    for kid in (key["kid"] for key in provider.jwks()["keys"]):
        assert re.search(rf"ok    key kid='{kid}' .*: verifies ", result.stdout), result.stdout
    assert "FAIL" not in result.stdout


@pytest.mark.parametrize(
    "audience", ["", client_id("RS256")], ids=["audience-unchecked", "audience-is-the-client"]
)
def test_typ_rule_refuses_id_tokens_whatever_the_audience(
    provider: OIDCProvider, installed_default: Installed, logs: Path, audience: str
) -> None:
    """With `AUTH_TOKEN_TYPES=at+jwt`, the provider's ID tokens are 401 even where `aud` passes."""
    tokens = provider.code_flow()
    assert jose_part(tokens["id_token"], 0).get("typ") == "JWT"
    assert jose_part(tokens["access_token"], 0)["typ"] == "at+jwt"
    env = {"AUTH_ISSUER": provider.url, "AUTH_AUDIENCE": audience, "AUTH_TOKEN_TYPES": "at+jwt"}
    log = logs / f"typ-{audience or 'unchecked'}.log"
    with running_service(installed_default, "serve", log, env=env) as service:
        service.wait_for("/ready", 200, START_TIMEOUT)
        response = service.expect("/protected", 401, tokens["id_token"])
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
        if not audience:
            service.expect("/protected", 200, tokens["access_token"])
    assert "auth_failure=wrong_token_type" in log.read_text()
