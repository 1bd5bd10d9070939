"""Settings from `AUTH_*` variables, and the one-paragraph error for a bad one."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from {{ cookiecutter.package_name }}.auth.settings import (
    AuthSettings,
    SettingsError,
    load_auth_settings,
    split_commas,
)
from {{ cookiecutter.package_name }}.auth.urls import check_url
from {{ cookiecutter.package_name }}.settings import load_service_settings

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(autouse=True)
def _no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty directory, so a developer's `.env` cannot leak in."""
    monkeypatch.chdir(tmp_path)


class TestEnvironment:
    """Values read from the environment."""

    def test_comma_separated_audiences_are_split_and_trimmed(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`AUTH_AUDIENCE=" a, b "` gives the audiences a and b (spaces around items trimmed)."""
        monkeypatch.setenv("AUTH_AUDIENCE", " https://api.test, other-api ")
        assert load_auth_settings().audience == ("https://api.test", "other-api")

    def test_comma_separated_algorithms_are_split(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """`AUTH_ALGORITHMS=EdDSA,ES256` narrows the allow-list to those two, in order."""
        monkeypatch.setenv("AUTH_ALGORITHMS", "EdDSA,ES256")
        assert load_auth_settings().algorithms == ("EdDSA", "ES256")

    def test_comma_separated_exclude_paths_are_split(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """`AUTH_EXCLUDE_PATHS` holds several regular expressions."""
        monkeypatch.setenv("AUTH_EXCLUDE_PATHS", "/schema, /public/docs/")
        assert load_auth_settings().exclude_paths == ("/schema", "/public/docs/")

    def test_empty_audience_means_none(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An empty `AUTH_AUDIENCE` configures no audience at all."""
        monkeypatch.setenv("AUTH_AUDIENCE", "")
        assert load_auth_settings().audience == ()

    def test_empty_jwks_url_means_discovery(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An empty `AUTH_JWKS_URL` is the same as leaving it unset."""
        monkeypatch.setenv("AUTH_JWKS_URL", "")
        assert load_auth_settings().jwks_url is None

    def test_numbers_are_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Numeric variables are parsed into their fields."""
        monkeypatch.setenv("AUTH_LEEWAY", "5")
        monkeypatch.setenv("AUTH_MAX_TOKEN_BYTES", "4096")
        settings = load_auth_settings()
        assert (settings.leeway, settings.max_token_bytes) == (5.0, 4096)

    def test_dotenv_file_is_read(self, tmp_path: Path) -> None:
        """A `.env` file in the working directory supplies variables."""
        (tmp_path / ".env").write_text("AUTH_ISSUER=https://issuer.test/tenant/\n")
        assert load_auth_settings().issuer == "https://issuer.test/tenant/"

    def test_environment_beats_dotenv_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A variable in the environment overrides the same one in `.env`."""
        (tmp_path / ".env").write_text("AUTH_ISSUER=https://dotenv.test\n")
        monkeypatch.setenv("AUTH_ISSUER", "https://environment.test")
        assert load_auth_settings().issuer == "https://environment.test"

    def test_env_file_can_be_switched_off(self, tmp_path: Path) -> None:
        """`_env_file=None` ignores `.env` (what the tests rely on)."""
        (tmp_path / ".env").write_text("AUTH_ISSUER=https://dotenv.test\n")
        assert AuthSettings(issuer="https://issuer.test", _env_file=None).issuer == (
            "https://issuer.test"
        )

    def test_settings_are_frozen(self) -> None:
        """Settings cannot be changed after they are read."""
        settings = AuthSettings(issuer="https://issuer.test", _env_file=None)
        with pytest.raises(ValueError, match="frozen"):
            settings.issuer = "https://other.test"  # type: ignore[misc]


class TestInvalidSettings:
    """`load_auth_settings()` refuses values the service cannot start with."""

    @pytest.mark.parametrize(
        ("variable", "value", "problem"),
        [
            ("AUTH_ISSUER", "ftp://issuer.test", "is not an absolute http(s) URL"),
            ("AUTH_ISSUER", "issuer.test", "is not an absolute http(s) URL"),
            ("AUTH_ISSUER", "http://issuer.test", "must use https"),
            ("AUTH_JWKS_URL", "http://issuer.test/keys", "must use https"),
            ("AUTH_ALGORITHMS", "HS256", "'HS256' is HMAC, and a JWKS is public"),
            ("AUTH_ALGORITHMS", "RS256,none", "'none' turns signature verification off"),
            ("AUTH_ALGORITHMS", " , ", "has an empty item"),
            ("AUTH_ALGORITHMS", "", "lists no algorithm"),
            ("AUTH_ALGORITHMS", "rs256", "did you mean RS256?"),
            ("AUTH_AUDIENCE", "a,,b", "has an empty item"),
            ("AUTH_AUDIENCE", "a,", "has an empty item"),
            ("AUTH_AUDIENCE", "my api", "contains whitespace"),
            ("AUTH_EXCLUDE_PATHS", "^/schema", "is not a path prefix such as /schema"),
            ("AUTH_EXCLUDE_PATHS", "schema", "is not a path prefix such as /schema"),
            ("AUTH_EXCLUDE_PATHS", "/sch ema", "is not a path prefix such as /schema"),
            ("AUTH_EXCLUDE_PATHS", "/", "is not a path prefix such as /schema"),
            ("AUTH_EXCLUDE_PATHS", "/a//b", "is not a path prefix such as /schema"),
            ("AUTH_REALM", 'my "realm"', "goes into the WWW-Authenticate header"),
            ("AUTH_REALM", "back\\slash", "goes into the WWW-Authenticate header"),
            ("AUTH_REALM", "tab\there", "goes into the WWW-Authenticate header"),
            ("AUTH_REALM", "caf\u00e9", "goes into the WWW-Authenticate header"),
            ("AUTH_REALM", "r" * 65, "goes into the WWW-Authenticate header"),
            ("AUTH_HTTP_TIMEOUT", "-1", "greater than 0"),
            ("AUTH_LEEWAY", "ten", "valid number"),
        ],
    )
    def test_error_names_variable_and_value_in_one_paragraph(
        self, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
    ) -> None:
        """The message names the variable, quotes its value and says what is wrong, on one line."""
        monkeypatch.setenv(variable, value)
        with pytest.raises(SettingsError) as raised:
            load_auth_settings()
        message = str(raised.value)
        assert f"{variable}={value!r}: " in message
        assert problem in message
        assert message.startswith("Invalid configuration: ")
        assert "\n" not in message

    def test_every_bad_variable_is_named(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Two bad variables are both reported, in one message."""
        monkeypatch.setenv("AUTH_ISSUER", "ftp://issuer.test")
        monkeypatch.setenv("AUTH_ALGORITHMS", "HS256")
        with pytest.raises(SettingsError, match=r"AUTH_ISSUER=.*; AUTH_ALGORITHMS="):
            load_auth_settings()

    def test_error_is_not_chained(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Pydantic's multi-line error is not attached: the paragraph is the whole story."""
        monkeypatch.setenv("AUTH_HTTP_TIMEOUT", "-1")
        with pytest.raises(SettingsError) as raised:
            load_auth_settings()
        assert raised.value.__cause__ is None
        assert raised.value.__suppress_context__


class TestServiceSettings:
    """The logging and metrics settings (no prefix)."""

    @pytest.mark.parametrize(
        ("variable", "value", "problem"),
        [
            ("LOG_FORMAT", "xml", "Input should be 'console' or 'json'"),
            ("LOG_LEVEL", "LOUD", "Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
            ("METRICS_PATH", "metrics", "String should match pattern"),
        ],
    )
    def test_error_names_variable_and_value(
        self, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
    ) -> None:
        """A bad logging or metrics variable is reported by its own name, without `AUTH_`."""
        monkeypatch.setenv(variable, value)
        with pytest.raises(SettingsError) as raised:
            load_service_settings()
        assert f"{variable}={value!r}: {problem}" in str(raised.value)


class TestUrls:
    """Which issuer and JWKS URLs are accepted."""

    @pytest.mark.parametrize(
        "url",
        [
            "https://issuer.test",
            "https://issuer.test/",
            "https://tenant.zuplo.app/__zuplo/issuer",
            "http://127.0.0.1:9000",
            "http://127.8.9.10",
            "http://localhost:8000/issuer",
            "http://[::1]:9000",
        ],
    )
    def test_https_and_loopback_http_are_accepted(self, url: str) -> None:
        """https anywhere, http only on a loopback host; the URL is kept exactly as given."""
        assert check_url(url) == url

    @pytest.mark.parametrize(
        ("url", "problem"),
        [
            ("http://issuer.test", "must use https"),
            ("http://10.0.0.1", "must use https"),
            ("http://localhost.evil.test", "must use https"),
            ("ftp://issuer.test", "is not an absolute http(s) URL"),
            ("https://", "is not an absolute http(s) URL"),
            ("/relative/path", "is not an absolute http(s) URL"),
            ("https://issuer.test/a b", "is not an absolute http(s) URL"),
        ],
    )
    def test_other_urls_are_refused(self, url: str, problem: str) -> None:
        """Plain http off-host, other schemes, relative URLs and URLs with spaces raise."""
        with pytest.raises(ValueError, match=re.escape(f"{url!r} {problem}")):
            check_url(url)

    def test_http_issuer_on_loopback_is_accepted_from_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`AUTH_ISSUER=http://127.0.0.1:9000` (a local dev issuer) loads."""
        monkeypatch.setenv("AUTH_ISSUER", "http://127.0.0.1:9000")
        assert load_auth_settings().issuer == "http://127.0.0.1:9000"


class TestSplitCommas:
    """The comma-separated list format."""

    @pytest.mark.parametrize(
        ("value", "items"),
        [("", ()), ("a", ("a",)), (" a , b ", ("a", "b")), ("a,,b,", ("a", "b"))],
    )
    def test_items_are_trimmed_and_empty_ones_dropped(
        self, value: str, items: tuple[str, ...]
    ) -> None:
        """Whitespace around items and empty items disappear."""
        assert split_commas(value) == items


class TestExclusionPatterns:
    """`exclude_paths` prefixes become patterns that match whole path segments."""

    @pytest.mark.parametrize(
        ("prefixes", "path", "excluded"),
        [
            (("/schema",), "/schema", True),
            (("/schema",), "/schema/", True),
            (("/schema",), "/schema/swagger", True),
            (("/schema",), "/schemas/users", False),
            (("/schema",), "/schema-registry/x", False),
            (("/schema",), "/schemaacme/orders", False),
            (("/schema",), "/api/schema", False),
            (("/public/docs/",), "/public/docs", True),
            (("/public/docs/",), "/public/docs/a", True),
            (("/public/docs/",), "/public/docsx", False),
            (("/a.b",), "/aXb", False),
        ],
    )
    def test_prefix_matches_whole_segments_only(
        self, prefixes: tuple[str, ...], path: str, excluded: bool
    ) -> None:
        """A prefix covers itself and what lies below it, never a longer segment or a regex."""
        patterns = AuthSettings(exclude_paths=prefixes).exclusion_patterns()
        assert any(re.match(pattern, path) for pattern in patterns) is excluded
