"""DPoP over real HTTP: a `serve` process called with proofs made by an independent client library.

The proofs come from `requests-oauth2client` (its `DPoPKey` and `DPoPToken`), never from the
generated code; the bound tokens from `tests/issuer_server.py`. Everything runs on loopback.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
from binapy import BinaPy
from conftest import Installed
from processes import (
    START_TIMEOUT,
    Issuer,
    Service,
    backgrounded_service,
    free_port,
    running_issuer,
    running_service,
    service_env,
)
from requests_oauth2client import DPoPKey, DPoPToken
from test_e2e import console_blocks, on_port, run_script, section

AUDIENCE = "api://dpop"
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for this module's process logs."""
    return tmp_path_factory.mktemp("dpop-logs")


@pytest.fixture(scope="module")
def issuer(logs: Path) -> Iterator[Issuer]:
    """The test issuer, which signs whatever `cnf` it is given."""
    with running_issuer(logs / "issuer.log") as running:
        yield running


def serve(installed: Installed, issuer: Issuer, log: Path, **env: str) -> Iterator[Service]:
    """`serve` against `issuer`, ready, with `env` added."""
    variables = {"AUTH_ISSUER": issuer.url, "AUTH_AUDIENCE": AUDIENCE, **env}
    with running_service(installed, "serve", log, env=variables) as service:
        service.wait_for("/ready", 200, START_TIMEOUT)
        yield service


@pytest.fixture(scope="module")
def service(installed_default: Installed, issuer: Issuer, logs: Path) -> Iterator[Service]:
    """A default service: `AUTH_DPOP=allowed`, proofs naming its loopback address."""
    yield from serve(installed_default, issuer, logs / "serve.log")


@pytest.fixture(scope="module")
def nonce_service(installed_default: Installed, issuer: Issuer, logs: Path) -> Iterator[Service]:
    """A service that asks for server nonces."""
    yield from serve(
        installed_default,
        issuer,
        logs / "serve-nonce.log",
        AUTH_DPOP_NONCE="true",
        AUTH_DPOP_NONCE_SECRET=secrets.token_urlsafe(32),
    )


def bound_token(issuer: Issuer, key: DPoPKey) -> DPoPToken:
    """A token the issuer binds to `key` (`cnf.jkt`), held as the library's DPoP token."""
    signed = issuer.sign("RS256", aud=AUDIENCE, cnf={"jkt": key.dpop_jkt})
    return DPoPToken(signed, _dpop_key=key)


def url(service: Service, path: str = "/protected") -> str:
    """The service's URL for `path`, as a client calls it."""
    return f"http://127.0.0.1:{service.port}{path}"


def call(
    service: Service, auth: requests.auth.AuthBase, path: str = "/protected"
) -> requests.Response:
    """GET `path` with the library's auth handler (it adds the proof)."""
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url(service, path), auth=auth, timeout=TIMEOUT)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "PS256", "RS256", "EdDSA"])
def test_proofs_of_the_library_are_accepted(service: Service, issuer: Issuer, alg: str) -> None:
    """A token bound to the client's key, with the library's proof, is served (each algorithm)."""
    key = DPoPKey.generate(alg=alg)
    response = call(service, bound_token(issuer, key))
    assert response.status_code == 200, f"{response.text}\n{service.process.report()}"
    assert response.json()["user"]["subject"]


def test_every_request_gets_a_new_proof(service: Service, issuer: Issuer) -> None:
    """Ten requests with one token and fresh proofs all pass (the token is cached meanwhile)."""
    token = bound_token(issuer, DPoPKey.generate())
    statuses = [call(service, token).status_code for _ in range(10)]
    assert statuses == [200] * 10


def send(service: Service, key: DPoPKey, token: str, htu: str) -> httpx.Response:
    """GET `/protected` with `token` and the library's proof by `key` for `htu`.

    Sent without the library's auth handler: that one takes every DPoP 401 for a nonce request.
    """
    proof = str(key.proof(htm="GET", htu=htu, ath=_ath(token)))
    return service.client.get(
        "/protected", headers={"Authorization": f"DPoP {token}", "DPoP": proof}
    )


def test_token_bound_to_another_key_is_refused(service: Service, issuer: Issuer) -> None:
    """The library's proof by one key does not carry a token bound to another key."""
    mine, theirs = DPoPKey.generate(), DPoPKey.generate()
    stolen = issuer.sign("RS256", aud=AUDIENCE, cnf={"jkt": theirs.dpop_jkt})
    assert send(service, theirs, stolen, url(service)).status_code == 200
    response = send(service, mine, stolen, url(service))
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('DPoP realm="')
    assert 'error="invalid_token"' in challenge
    assert "algs=" in challenge


def test_replayed_proof_is_refused(service: Service, issuer: Issuer) -> None:
    """The library's proof, sent a second time as it is, is refused."""
    key = DPoPKey.generate()
    token = bound_token(issuer, key)
    target = url(service)
    proof = str(key.proof(htm="GET", htu=target, ath=_ath(token.access_token)))
    headers = {"Authorization": f"DPoP {token.access_token}", "DPoP": proof}
    first = service.client.get("/protected", headers=headers)
    second = service.client.get("/protected", headers=headers)
    assert (first.status_code, second.status_code) == (200, 401), second.text
    assert 'error="invalid_dpop_proof"' in second.headers["WWW-Authenticate"]


def test_proof_for_another_url_is_refused(service: Service, issuer: Issuer) -> None:
    """A proof the library made for another path does not pass for `/protected`."""
    key = DPoPKey.generate()
    token = bound_token(issuer, key).access_token
    response = send(service, key, token, url(service, "/admin"))
    assert response.status_code == 401
    assert 'error="invalid_dpop_proof"' in response.headers["WWW-Authenticate"]


def test_bound_token_as_bearer_is_refused(service: Service, issuer: Issuer) -> None:
    """RFC 9449 section 7.2: the bound token without its proof, as `Bearer`, is refused."""
    token = bound_token(issuer, DPoPKey.generate())
    response = service.get("/protected", token.access_token)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('DPoP realm="')


def test_plain_bearer_token_still_works(service: Service, issuer: Issuer) -> None:
    """In the default `allowed` mode, a token without `cnf` is served as a bearer token."""
    assert service.get("/protected", issuer.sign("RS256", aud=AUDIENCE)).status_code == 200


def test_library_follows_the_nonce_challenge(nonce_service: Service, issuer: Issuer) -> None:
    """The library retries with the `DPoP-Nonce` of the `use_dpop_nonce` answer, and is served."""
    key = DPoPKey.generate()
    response = call(nonce_service, bound_token(issuer, key))
    assert response.status_code == 200, f"{response.text}\n{nonce_service.process.report()}"
    assert key.rs_nonce, "the service never handed out a nonce"
    fresh = DPoPKey.generate()
    asked = send(nonce_service, fresh, bound_token(issuer, fresh).access_token, url(nonce_service))
    assert asked.status_code == 401
    assert 'error="use_dpop_nonce"' in asked.headers["WWW-Authenticate"]
    assert asked.headers["DPoP-Nonce"]


def _ath(token: str) -> str:
    """The `ath` of `token`, as the library computes it for its own requests."""
    return BinaPy(token).to("sha256").to("b64u").decode()


def test_readme_walkthrough(installed_default: Installed, tmp_path: Path) -> None:
    """`dev`, then the README's `token --dpop-key`, `proof` and curl lines: 200 with DPoP."""
    readme = (installed_default.path / "README.md").read_text()
    (start,), _ = console_blocks(section(readme, "First five minutes"))
    (calls,) = console_blocks(section(readme, "DPoP and certificate-bound tokens"))
    port = free_port()
    env = service_env(installed_default.env, PORT=str(port))
    with backgrounded_service(start, installed_default.path, env, tmp_path / "dev.log") as dev:
        dev.wait_for("/health", 200, START_TIMEOUT)
        lines = [on_port(line, port) for line in calls]
        outputs = run_script(lines, installed_default.path, env)
    assert lines[-1].startswith("curl "), lines
    assert "Authorization: DPoP" in lines[-1], lines
    assert json.loads(outputs[-1])["message"] == "Access granted", outputs[-1]
