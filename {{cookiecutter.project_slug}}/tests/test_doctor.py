"""`diagnose`: what `doctor` finds at the issuer, and when it says the setup is broken."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, cast

import pytest

from {{ cookiecutter.package_name }} import doctor
from {{ cookiecutter.package_name }}.auth.algorithms import KEY_TYPES
from {{ cookiecutter.package_name }}.auth.jwks import MAX_KEYS
from {{ cookiecutter.package_name }}.doctor import diagnose

from .conftest import ALGORITHMS, AUDIENCE, FAULTS, ISSUER, JWKS_PATH, auth_settings

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .conftest import Fault, IssuerStub, Keyring

OK: Final = "  ok    "
WARN: Final = "  warn  "
FAIL: Final = "  FAIL  "


class TestConsistentIssuer:
    """An issuer whose documents fit the settings."""

    async def test_ok_with_every_key_and_its_algorithms(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """Each published key is named with the algorithms it verifies, and the report is ok."""
        report = await diagnose(auth_settings(), transport=stub.transport)
        assert report.ok
        assert report.lines[0] == f"Issuer {ISSUER!r}"
        assert f"{OK}JWKS URL: {ISSUER}{JWKS_PATH}" in report.lines
        for key in keyring.published:
            kind = (key.public_jwk["kty"], key.public_jwk.get("crv"))
            verifies = ", ".join(alg for alg in ALGORITHMS if KEY_TYPES[alg] == kind)
            (line,) = [line for line in report.lines if f"kid={key.kid!r}" in line]
            assert line.startswith(OK)
            assert line.endswith(f": verifies {verifies}")
        assert not [line for line in report.lines if not line.startswith((OK, "Issuer"))]

    async def test_configured_jwks_url_skips_discovery(self, stub: IssuerStub) -> None:
        """With `AUTH_JWKS_URL` the JWKS is read from there and discovery is not asked."""
        url = f"{ISSUER}/.well-known/jwks.json"
        report = await diagnose(auth_settings(jwks_url=url), transport=stub.transport)
        assert report.ok
        assert f"{OK}JWKS URL: {url}" in report.lines
        assert stub.urls == [url]

    async def test_audience_is_reported(self, stub: IssuerStub) -> None:
        """The audiences that tokens must carry are listed."""
        report = await diagnose(auth_settings(), transport=stub.transport)
        assert f"{OK}audience checked: {AUDIENCE}" in report.lines

    async def test_empty_audience_is_a_warning(self, stub: IssuerStub) -> None:
        """Without `AUTH_AUDIENCE` a warning says any audience is accepted; the report stays ok."""
        report = await diagnose(auth_settings(audience=()), transport=stub.transport)
        (warning,) = [line for line in report.lines if line.startswith(WARN)]
        assert "AUTH_AUDIENCE is empty" in warning
        assert report.ok


class TestProblems:
    """Setups in which every token would be refused: the report is not ok and says why."""

    async def test_trailing_slash_mismatch(self, stub: IssuerStub) -> None:
        """An issuer differing from the discovered one by a trailing slash fails, naming the slash."""
        stub.discovered_issuer = ISSUER + "/"
        report = await diagnose(auth_settings(), transport=stub.transport)
        assert not report.ok
        (failure,) = [line for line in report.lines if line.startswith(FAIL)]
        assert "a trailing slash counts" in failure
        assert repr(ISSUER + "/") in failure

    async def test_no_key_fits_the_algorithms(self, stub: IssuerStub, keyring: Keyring) -> None:
        """When no published key can verify any allowed algorithm, each key is warned about and the report fails."""
        stub.keys = [keyring.rsa.public_jwk, keyring.ed25519.public_jwk]
        report = await diagnose(auth_settings(algorithms=("ES256",)), transport=stub.transport)
        assert not report.ok
        warnings = [line for line in report.lines if line.startswith(WARN)]
        assert len(warnings) == 2
        assert all("not usable with AUTH_ALGORITHMS=ES256" in line for line in warnings)
        assert report.lines[-1].startswith(FAIL)
        assert "no published key can verify any of AUTH_ALGORITHMS=ES256" in report.lines[-1]

    async def test_one_usable_key_is_enough(self, stub: IssuerStub, keyring: Keyring) -> None:
        """A key that fits no allowed algorithm is only a warning when another key fits."""
        stub.keys = [keyring.rsa.public_jwk, keyring.p256.public_jwk]
        report = await diagnose(auth_settings(algorithms=("ES256",)), transport=stub.transport)
        assert report.ok
        assert len([line for line in report.lines if line.startswith(WARN)]) == 1

    async def test_encryption_key_is_not_usable(self, stub: IssuerStub, keyring: Keyring) -> None:
        """A JWKS whose only key is meant for encryption fails."""
        stub.keys = [keyring.rsa.jwk(use="enc")]
        report = await diagnose(auth_settings(), transport=stub.transport)
        assert not report.ok

    @pytest.mark.parametrize("keys", [[], ["not a key"]], ids=["empty", "not-an-object"])
    async def test_empty_or_malformed_key_list(self, stub: IssuerStub, keys: list[Any]) -> None:
        """An empty `keys` list, or one holding something other than an object, fails."""
        stub.keys = keys
        report = await diagnose(auth_settings(), transport=stub.transport)
        assert not report.ok
        assert any(line.startswith(FAIL) for line in report.lines)

    @pytest.mark.parametrize("fault", FAULTS)
    async def test_unreachable_or_garbage_jwks(self, stub: IssuerStub, fault: Fault) -> None:
        """A JWKS that cannot be fetched or is not a key set fails, with the reason on a FAIL line."""
        stub.fault = fault
        settings = auth_settings(jwks_url=ISSUER + JWKS_PATH)
        report = await diagnose(settings, transport=stub.transport)
        assert not report.ok
        assert report.lines[-1].startswith(FAIL)

    @pytest.mark.parametrize("fault", FAULTS)
    async def test_unreachable_or_garbage_discovery(self, stub: IssuerStub, fault: Fault) -> None:
        """A discovery document that cannot be fetched or read fails the same way."""
        stub.fault = fault
        report = await diagnose(auth_settings(), transport=stub.transport)
        assert not report.ok
        assert report.lines[-1].startswith(FAIL)


class TestHostileIssuer:
    """Whatever the issuer answers, `doctor` reports it in lines: never a traceback."""

    async def test_unforeseen_error_is_a_fail_line(
        self, monkeypatch: pytest.MonkeyPatch, stub: IssuerStub
    ) -> None:
        """An exception nobody foresaw while fetching becomes a FAIL line naming its type."""

        async def explode(*_: object) -> None:
            raise RecursionError

        monkeypatch.setattr(doctor, "get_json", explode)
        report = await diagnose(
            auth_settings(jwks_url=ISSUER + JWKS_PATH), transport=stub.transport
        )
        assert not report.ok
        assert report.lines[-1] == (
            f"{FAIL}unexpected RecursionError while reading the issuer's documents"
        )

    @pytest.mark.parametrize(
        ("jwks_uri", "problem"),
        [
            ("http://127.0.0.1:99999/keys", "has an invalid port"),
            ("https://issuer.test:0/keys", "has an invalid port"),
            ("https://xn--.test/keys", "is not a valid URL"),
        ],
    )
    async def test_discovered_jwks_uri_with_a_bad_port_fails(
        self, stub: IssuerStub, jwks_uri: str, problem: str
    ) -> None:
        """A `jwks_uri` that cannot be requested fails with the reason, and is never requested."""
        stub.discovered_jwks_uri = jwks_uri
        report = await diagnose(auth_settings(), transport=stub.transport)
        assert not report.ok
        assert problem in report.lines[-1]
        assert report.lines[-1].startswith(FAIL)
        assert jwks_uri not in stub.urls

    async def test_whole_fetch_is_bounded_by_the_timeout(self, stub: IssuerStub) -> None:
        """Two answers of 0.3 s each exceed a 0.5 s AUTH_HTTP_TIMEOUT: the fetch as a whole counts."""
        stub.delay = 0.3
        report = await diagnose(auth_settings(http_timeout=0.5), transport=stub.transport)
        assert report.lines[-1] == f"{FAIL}no complete answer within AUTH_HTTP_TIMEOUT=0.5s"

    async def test_each_unusable_key_says_why(self, stub: IssuerStub, keyring: Keyring) -> None:
        """Malformed, weak and degenerate keys are warned about with their reason."""
        stub.keys = [
            keyring.rsa.jwk(n=2**63),
            keyring.rsa.jwk(kid="even-e", e="AAE"),
            {"kty": "OKP", "crv": "Ed25519", "kid": "zero", "x": "AQ" + "A" * 41},
            keyring.p256.public_jwk,
        ]
        report = await diagnose(auth_settings(), transport=stub.transport)
        warnings = [line for line in report.lines if line.startswith(WARN)]
        assert [line.split(": ", 2)[-1] for line in warnings] == [
            "member 'n' is <JSON int>, not a base64url string",
            "RSA exponent 1 (odd and at least 3 needed)",
            "the Ed25519 public key is not in the prime-order subgroup",
        ]
        assert report.ok  # the P-256 key still verifies

    async def test_entries_that_are_not_objects_are_named_shortly(self, stub: IssuerStub) -> None:
        """A deeply nested list, a 100,000-character string and a huge integer stay short."""
        deep: list[Any] = []
        for _ in range(500):
            deep = [deep]
        stub.keys = cast("list[Mapping[str, Any]]", [deep, "x" * 100_000, 2**70])
        report = await diagnose(auth_settings(), transport=stub.transport)
        prefix = f"{FAIL}the JWKS holds a key that is not a JSON object: "
        assert [line.removeprefix(prefix) for line in report.lines if line.startswith(prefix)] == [
            "<JSON list>",
            repr("x" * 77 + "..."),
            "<JSON int>",
        ]

    async def test_too_many_keys_fail(self, stub: IssuerStub, keyring: Keyring) -> None:
        """More than `MAX_KEYS` keys: the service would refuse the set, and so does `doctor`."""
        stub.keys = [keyring.p256.jwk(kid=f"k{n}") for n in range(MAX_KEYS + 1)]
        report = await diagnose(auth_settings(), transport=stub.transport)
        assert report.lines[-1] == (
            f"{FAIL}{ISSUER}{JWKS_PATH} lists {MAX_KEYS + 1} keys; at most {MAX_KEYS} are read"
        )

    @pytest.mark.parametrize(
        ("cache_control", "line"),
        [
            (None, "no Cache-Control max-age: the keys are refreshed after AUTH_JWKS_CACHE_TTL"),
            ("max-age=600", "Cache-Control max-age=600: kept that long, within the bounds"),
            (
                "no-store",
                "Cache-Control no-store/no-cache: the keys are kept for the minimum lifetime",
            ),
        ],
    )
    async def test_lifetime_is_reported(
        self, stub: IssuerStub, cache_control: str | None, line: str
    ) -> None:
        """The JWKS answer's `Cache-Control` is reported as the lifetime the service will use."""
        if cache_control is not None:
            stub.jwks_headers["Cache-Control"] = cache_control
        report = await diagnose(auth_settings(), transport=stub.transport)
        assert f"{OK}{line}" in report.lines
