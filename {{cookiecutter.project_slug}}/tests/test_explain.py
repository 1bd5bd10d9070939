"""`doctor --token`: one token checked as the service would, every reason named with its fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import cli
from {{ cookiecutter.package_name }}.explain import explain_token

from .conftest import AUDIENCE, ISSUER, OMIT, auth_settings, b64url, claims

if TYPE_CHECKING:
    from {{ cookiecutter.package_name }}.doctor import Report

    from .conftest import IssuerStub, Keyring


def failures(report: Report) -> list[str]:
    """The reason codes of the report's FAIL lines."""
    return [line.split("FAIL  ")[1].split(":")[0] for line in report.lines if "FAIL" in line]


class TestExplainToken:
    """What `explain_token` reports."""

    async def test_valid_token_is_accepted(self, stub: IssuerStub, keyring: Keyring) -> None:
        """A token the service accepts gets no FAIL line and says so."""
        report = await explain_token(auth_settings(), keyring.token(), transport=stub.transport)
        assert report.ok, report.lines
        assert report.lines[-1].endswith("the service accepts this token")

    async def test_every_claim_problem_is_named(self, stub: IssuerStub, keyring: Keyring) -> None:
        """An expired token for another audience without `sub` gets all three reasons."""
        token = keyring.token(lifetime=-3600, aud="https://other.test", sub=OMIT)
        report = await explain_token(auth_settings(), token, transport=stub.transport)
        assert not report.ok
        assert failures(report) == ["expired", "missing_sub", "wrong_audience"]
        assert "get a new token" in "\n".join(report.lines)

    async def test_id_token_is_named_as_such(self, stub: IssuerStub, keyring: Keyring) -> None:
        """Under the keycloak profile, a token with the claim `typ: ID` is called an ID token."""
        settings = auth_settings(profile="keycloak")
        report = await explain_token(settings, keyring.token(typ="ID"), transport=stub.transport)
        assert failures(report) == ["not_an_access_token"]
        assert "send the access token" in report.lines[-1]

    async def test_untrusted_issuer_is_named_without_a_fetch(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """An unknown `iss` is reported with the trusted issuers, and no key is fetched."""
        token = keyring.token(iss=ISSUER + "/")
        report = await explain_token(auth_settings(), token, transport=stub.transport)
        assert f"none of the trusted issuers ('{ISSUER}')" in report.lines[-1]
        assert stub.jwks_fetches == 0

    async def test_forged_signature_is_named(self, stub: IssuerStub, keyring: Keyring) -> None:
        """A token signed by another key under the published `kid` is a bad signature."""
        token = keyring.impostor_for("RS256").sign(claims(), "RS256")
        report = await explain_token(auth_settings(), token, transport=stub.transport)
        assert failures(report) == ["bad_signature"]

    @pytest.mark.parametrize(
        ("kid", "settings", "reason"),
        [
            ("not-published", {}, "unknown_kid"),
            ("rsa-1", {"algorithms": ("ES256",)}, "algorithm_not_allowed"),
        ],
    )
    async def test_key_problems_are_named(
        self,
        stub: IssuerStub,
        keyring: Keyring,
        kid: str,
        settings: dict[str, object],
        reason: str,
    ) -> None:
        """An unpublished `kid` or a disallowed `alg` is named."""
        token = keyring.rsa.sign(claims(), "RS256", kid=kid)
        report = await explain_token(auth_settings(**settings), token, transport=stub.transport)
        assert failures(report) == [reason]

    @pytest.mark.parametrize(
        "token", ["", "abc", "a.b.c", f"{b64url('[1]')}.{b64url('{}')}.c2ln", "x" * 10000]
    )
    async def test_garbage_is_not_a_jwt(self, stub: IssuerStub, token: str) -> None:
        """Anything but a compact JWT with JSON object segments is said to be one, calmly."""
        report = await explain_token(auth_settings(), token, transport=stub.transport)
        assert failures(report) == ["not a compact JWT"]


class TestCommand:
    """`doctor --token` on the command line."""

    def test_garbage_exits_1_without_a_traceback(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A token that is not a JWT gets one FAIL line and exit status 1."""
        monkeypatch.setenv("AUTH_ISSUER", ISSUER)
        monkeypatch.setenv("AUTH_AUDIENCE", AUDIENCE)
        result = CliRunner().invoke(cli, ["doctor", "--token", "not-a-token"])
        assert result.exit_code == 1
        assert "FAIL  not a compact JWT" in result.output
        assert "Traceback" not in result.output
