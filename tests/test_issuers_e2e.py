"""A service generated with two trusted issuers, each a real issuer process on loopback.

Both issuers are `tests/issuer_server.py`, with keys of their own: each one's tokens pass, a token
of one carrying the other's `iss` fails, an outage of one leaves the other's tokens served, and a
token naming an issuer that nobody configured costs no key fetch at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Installed
from processes import (
    COOLDOWN,
    POLL_SECONDS,
    START_TIMEOUT,
    Issuer,
    Service,
    running_issuer,
    running_service,
)

AUDIENCE = "api://two-issuers"
RECOVERY_TIMEOUT = 20.0  # issuer back -> its tokens served, with AUTH_REFRESH_COOLDOWN=1


@dataclass(frozen=True)
class TwoIssuers:
    """The service and the two issuers it trusts."""

    service: Service
    first: Issuer
    second: Issuer


@pytest.fixture(scope="module")
def two(
    installed_default: Installed, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TwoIssuers]:
    """`serve` with `AUTH_ISSUERS` naming two issuer processes (the second EdDSA only)."""
    logs = tmp_path_factory.mktemp("two-issuers")
    with (
        running_issuer(logs / "first.log") as first,
        running_issuer(logs / "second.log") as second,
    ):
        entries = [
            {"issuer": first.url, "audience": [AUDIENCE]},
            {"issuer": second.url, "audience": [AUDIENCE], "algorithms": ["EdDSA"]},
        ]
        env = {"AUTH_ISSUERS": json.dumps(entries), "AUTH_REFRESH_COOLDOWN": str(COOLDOWN)}
        with running_service(installed_default, "serve", logs / "serve.log", env=env) as service:
            service.wait_for("/ready", 200, START_TIMEOUT)
            yield TwoIssuers(service, first, second)


def test_each_issuers_tokens_pass(two: TwoIssuers) -> None:
    """A token of either issuer opens `/protected`, which names the issuer that vouched."""
    for issuer, alg in ((two.first, "RS256"), (two.second, "EdDSA")):
        token = issuer.sign(alg, aud=AUDIENCE)
        assert two.service.expect("/protected", 200, token).json()["user"]["issuer"] == issuer.url


def test_ready_lists_both(two: TwoIssuers) -> None:
    """`/ready` reports each issuer as ready."""
    body = two.service.expect("/ready", 200).json()
    assert body["issuers"] == {two.first.url: "ready", two.second.url: "ready"}


def test_token_signed_by_the_other_issuer_fails(two: TwoIssuers) -> None:
    """A token with the second issuer's `iss`, signed by the first issuer's key, is 401."""
    forged = two.first.sign("EdDSA", aud=AUDIENCE, iss=two.second.url)
    two.service.expect("/protected", 401, forged)


def test_algorithms_are_per_issuer(two: TwoIssuers) -> None:
    """The second issuer is trusted for EdDSA only: its own RS256 token is 401."""
    two.service.expect("/protected", 401, two.second.sign("RS256", aud=AUDIENCE))


def test_unknown_issuer_costs_no_fetch(two: TwoIssuers) -> None:
    """Tokens naming an unconfigured issuer are 401 and fetch nothing from either issuer."""
    before = (two.first.jwks_requests(), two.second.jwks_requests())
    for index in range(5):
        token = two.first.sign("RS256", aud=AUDIENCE, iss=f"http://127.0.0.1:1/nobody-{index}")
        two.service.expect("/protected", 401, token)
    assert (two.first.jwks_requests(), two.second.jwks_requests()) == before


def test_outage_of_one_leaves_the_other_serving(
    installed_default: Installed, tmp_path: Path
) -> None:
    """With the second issuer down from the start, the first's tokens pass, the second's get 503."""
    with (
        running_issuer(tmp_path / "up.log") as up,
        running_issuer(tmp_path / "down.log") as down,
    ):
        down.fault("down")
        entries = [
            {"issuer": up.url, "audience": [AUDIENCE]},
            {"issuer": down.url, "audience": [AUDIENCE]},
        ]
        env = {"AUTH_ISSUERS": json.dumps(entries), "AUTH_REFRESH_COOLDOWN": str(COOLDOWN)}
        with running_service(
            installed_default, "serve", tmp_path / "serve.log", env=env
        ) as service:
            ready = service.wait_for("/ready", 200, START_TIMEOUT).json()
            assert ready["issuers"] == {up.url: "ready", down.url: "unavailable"}
            service.expect("/protected", 200, up.sign("RS256", aud=AUDIENCE))
            refused = service.expect("/protected", 503, down.sign("RS256", aud=AUDIENCE))
            assert "Retry-After" in refused.headers
            down.fault("ok")
            token = down.sign("RS256", aud=AUDIENCE)
            deadline = time.monotonic() + RECOVERY_TIMEOUT
            while service.get("/protected", token).status_code != 200:
                assert time.monotonic() < deadline, service.process.report()
                time.sleep(POLL_SECONDS)
