"""The command line: `token`, `proof`, `serve`, `dev`, `doctor`, and how `main` reports bad settings."""

from __future__ import annotations

import inspect
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest
import uvicorn
from click.testing import CliRunner
from jose import jwt
from uvicorn.importer import import_from_string

from {{ cookiecutter.package_name }} import server
from {{ cookiecutter.package_name }}.app import app, create_app
from {{ cookiecutter.package_name }}.auth import load_auth_settings
from {{ cookiecutter.package_name }}.auth.algorithms import SUPPORTED_ALGORITHMS
from {{ cookiecutter.package_name }}.auth.dpop import ProofVerifier, ReplayCache
from {{ cookiecutter.package_name }}.cli import cli, main
from {{ cookiecutter.package_name }}.devissuer import (
    DEV_ALGORITHMS,
    DevKeys,
    DPoPKey,
    create_dev_app,
    issuer_url,
)
from {{ cookiecutter.package_name }}.doctor import diagnose
from {{ cookiecutter.package_name }}.server import DEFAULT_HEAD_TIMEOUT, HEAD_TIMEOUT_VARIABLE

from .conftest import AUDIENCE, ISSUER, JWKS_PATH

if TYPE_CHECKING:
    import httpx

    from {{ cookiecutter.package_name }}.auth import AuthSettings
    from {{ cookiecutter.package_name }}.doctor import Report

    from .conftest import IssuerStub

DEV_VARIABLES: Final = ("AUTH_ISSUER", "AUTH_JWKS_URL", "AUTH_DEV_ISSUER")
BAD_ISSUER: Final = "http://issuer.test"
BIND_ALL: Final = "0.0.0.0"  # noqa: S104 - an option value under test, nothing is bound


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_environment: None) -> None:
    """Run every command in `tmp_path`, with every algorithm allowed and no audience.

    `.dev-issuer/` lands there and no `.env` is read; the settings do not depend on the
    answers the project was generated with.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTH_ALGORITHMS", ",".join(SUPPORTED_ALGORITHMS))
    monkeypatch.setenv("AUTH_AUDIENCE", "")


@pytest.fixture
def runner() -> CliRunner:
    """A click test runner."""
    return CliRunner()


@pytest.fixture
def uvicorn_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Calls to `uvicorn.run`, recorded instead of starting a server: the app and every option."""
    runs: list[dict[str, Any]] = []

    def record(target: str, **options: Any) -> None:
        runs.append({"target": target, **options})

    monkeypatch.setattr(uvicorn, "run", record)
    return runs


@pytest.fixture
def dev_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever `dev` writes to `os.environ` is undone after the test."""
    for name in DEV_VARIABLES:
        # Set, then delete: monkeypatch then remembers the variable as absent and removes it again.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def run_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int | str | None:
    """Run `main()` as the installed command would with `args`; return its exit code."""
    monkeypatch.setattr(sys, "argv", ["litestar-jwks-service", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code


class TestToken:
    """`token`: a JWT that the `dev` service accepts."""

    def test_header_and_claims(
        self, runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """The token names the dev key and carries the issuer for `--port`, sub, scope, aud and expiry."""
        monkeypatch.setenv("AUTH_AUDIENCE", AUDIENCE)
        monkeypatch.setenv("AUTH_RESOURCE", "")  # with an MCP endpoint, `dev` has a resource
        arguments = ["--port", "9123", "--sub", "alice", "--scope", "read", "--scope", "write"]
        result = runner.invoke(cli, ["token", *arguments, "--lifetime", "600"])
        assert result.exit_code == 0, result.output
        token = result.stdout.strip()
        keys = DevKeys.load_or_create(tmp_path / ".dev-issuer")
        header = jwt.get_unverified_header(token)
        assert (header["alg"], header["kid"]) == ("RS256", keys.kid("rsa"))
        claims = jwt.get_unverified_claims(token)
        assert claims["iss"] == "http://127.0.0.1:9123/dev-issuer"
        assert (claims["sub"], claims["scope"], claims["aud"]) == ("alice", "read write", AUDIENCE)
        assert claims["exp"] - claims["iat"] == 600
        assert abs(claims["exp"] - (time.time() + 600)) < 5

    def test_defaults(self, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without options (and no resource): subject `dev-user`, no scope, no audience, an hour."""
        monkeypatch.setenv("AUTH_RESOURCE", "")
        result = runner.invoke(cli, ["token"])
        assert result.exit_code == 0, result.output
        claims = jwt.get_unverified_claims(result.stdout.strip())
        assert claims["iss"] == issuer_url("127.0.0.1", 8000)
        assert claims["sub"] == "dev-user"
        assert "scope" not in claims
        assert "aud" not in claims
        assert claims["exp"] - claims["iat"] == 3600

    def test_port_from_the_environment(
        self, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`PORT` sets the issuer's port like `--port` does."""
        monkeypatch.setenv("PORT", "9555")
        result = runner.invoke(cli, ["token"])
        assert result.exit_code == 0, result.output
        claims = jwt.get_unverified_claims(result.stdout.strip())
        assert claims["iss"] == "http://127.0.0.1:9555/dev-issuer"

    def test_audience_option_overrides_the_setting(
        self, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`--audience` replaces AUTH_AUDIENCE; given twice, `aud` is a list."""
        monkeypatch.setenv("AUTH_AUDIENCE", AUDIENCE)
        result = runner.invoke(cli, ["token", "--audience", "a", "--audience", "b"])
        assert result.exit_code == 0, result.output
        assert jwt.get_unverified_claims(result.stdout.strip())["aud"] == ["a", "b"]

    @pytest.mark.parametrize("algorithm", DEV_ALGORITHMS)
    def test_chosen_algorithm(self, runner: CliRunner, tmp_path: Path, algorithm: str) -> None:
        """`--alg` signs with that algorithm and the key of its family."""
        result = runner.invoke(cli, ["token", "--alg", algorithm])
        assert result.exit_code == 0, result.output
        header = jwt.get_unverified_header(result.stdout.strip())
        keys = DevKeys.load_or_create(tmp_path / ".dev-issuer")
        assert header["alg"] == algorithm
        assert header["kid"] in {keys.kid(family) for family in ("rsa", "ec", "okp")}

    def test_default_algorithm_is_the_first_allowed(
        self, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without `--alg`, the first of AUTH_ALGORITHMS that the dev issuer signs with is used."""
        monkeypatch.setenv("AUTH_ALGORITHMS", "ES512,EdDSA,ES256")
        result = runner.invoke(cli, ["token"])
        assert result.exit_code == 0, result.output
        assert jwt.get_unverified_header(result.stdout.strip())["alg"] == "EdDSA"

    def test_refused_algorithm_is_a_usage_error(self, runner: CliRunner) -> None:
        """`--alg HS256` fails with a usage error listing the algorithms allowed."""
        result = runner.invoke(cli, ["token", "--alg", "HS256"])
        assert result.exit_code == 2
        assert "--algorithm HS256 is not one the dev issuer signs with" in result.output
        assert f"choose one of: {', '.join(DEV_ALGORITHMS)}" in result.output
        assert result.stdout == ""

    def test_algorithm_outside_the_settings_is_a_usage_error(
        self, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An algorithm the dev issuer has but AUTH_ALGORITHMS forbids is refused as well."""
        monkeypatch.setenv("AUTH_ALGORITHMS", "ES256,EdDSA")
        result = runner.invoke(cli, ["token", "--alg", "RS256"])
        assert result.exit_code == 2
        assert "choose one of: ES256, EdDSA" in result.output

    def test_no_algorithm_in_common_is_a_usage_error(
        self, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When the dev issuer signs none of AUTH_ALGORITHMS, `token` says there is no choice."""
        monkeypatch.setenv("AUTH_ALGORITHMS", "ES384")
        result = runner.invoke(cli, ["token"])
        assert result.exit_code == 2
        assert "--algorithm (none) is not one" in result.output
        assert "choose one of: (none)" in result.output

    def test_keys_are_made_in_the_working_directory(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        """The signing keys are created in `.dev-issuer/` of the working directory and reused."""
        first = runner.invoke(cli, ["token"])
        second = runner.invoke(cli, ["token"])
        assert (first.exit_code, second.exit_code) == (0, 0)
        assert (tmp_path / ".dev-issuer" / "rsa.pem").is_file()
        kids = {
            jwt.get_unverified_header(result.stdout.strip())["kid"] for result in (first, second)
        }
        assert len(kids) == 1


class TestTokenKeys:
    """`token` signs with the project's keys, wherever it runs."""

    def test_subfolder_uses_the_projects_keys(
        self, runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """Run from a subfolder, `token` signs with `.dev-issuer/` beside `pyproject.toml`."""
        (tmp_path / "pyproject.toml").write_text("[project]\n")
        subfolder = tmp_path / "src"
        subfolder.mkdir()
        monkeypatch.chdir(subfolder)
        result = runner.invoke(cli, ["token"])
        assert result.exit_code == 0, result.output
        assert not (subfolder / ".dev-issuer").exists()
        keys = DevKeys.load_or_create(tmp_path / ".dev-issuer")
        assert jwt.get_unverified_header(result.stdout.strip())["kid"] == keys.kid("rsa")

    def test_keys_open_to_others_are_refused_with_the_fix(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        """A key folder readable by others stops `token` with one message, exit 1, no token."""
        (tmp_path / ".dev-issuer").mkdir()
        (tmp_path / ".dev-issuer").chmod(0o755)
        result = runner.invoke(cli, ["token"])
        assert result.exit_code == 1
        assert "open to other users (mode 755)" in result.output
        assert "Traceback" not in result.output
        assert result.stdout.count(".") < 2  # no token printed


class TestMain:
    """`main`: the installed command, which turns a bad setting into one line of explanation."""

    @pytest.mark.parametrize("command", ["serve", "token", "doctor"])
    def test_bad_issuer_is_one_error_paragraph(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        uvicorn_runs: list[dict[str, Any]],
        command: str,
    ) -> None:
        """An invalid AUTH_ISSUER prints `Error: Invalid configuration: AUTH_ISSUER=...` once and exits 1."""
        monkeypatch.setenv("AUTH_ISSUER", BAD_ISSUER)
        assert run_main(monkeypatch, command) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith(f"Error: Invalid configuration: AUTH_ISSUER={BAD_ISSUER!r}: ")
        assert err.endswith("start again.\n")
        assert err.count("\n") == 1
        assert "Traceback" not in err
        assert uvicorn_runs == []

    def test_working_command_exits_0(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A command that works exits 0 and prints only its output."""
        assert run_main(monkeypatch, "token") == 0
        out, err = capsys.readouterr()
        assert jwt.get_unverified_claims(out.strip())["sub"] == "dev-user"
        assert err == ""


@pytest.fixture
def serve_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The head timeout `serve` writes to `os.environ` for its workers is undone after the test."""
    monkeypatch.setenv(HEAD_TIMEOUT_VARIABLE, "")
    monkeypatch.delenv(HEAD_TIMEOUT_VARIABLE)


@pytest.mark.usefixtures("serve_environment")
class TestServe:
    """`serve`: uvicorn on the app built from the environment."""

    def test_runs_the_module_app(
        self, runner: CliRunner, uvicorn_runs: list[dict[str, Any]]
    ) -> None:
        """`serve` hands uvicorn the import string of `app.py`'s `app`, with the options given."""
        arguments = ["--host", BIND_ALL, "--port", "9000", "--workers", "3", "--http", "h11"]
        result = runner.invoke(
            cli, ["serve", *arguments, "--head-timeout", "2.5", "--limit-concurrency", "50"]
        )
        assert result.exit_code == 0, result.output
        assert uvicorn_runs == [
            {
                "target": f"{create_app.__module__}:app",
                "host": BIND_ALL,
                "port": 9000,
                "workers": 3,
                "loop": "asyncio",
                "http": f"{server.__name__}:BoundedH11Protocol",
                "limit_concurrency": 50,
                # The service writes its own access lines; no `Server: uvicorn` on answers.
                "access_log": False,
                "server_header": False,
            }
        ]
        assert import_from_string(uvicorn_runs[0]["target"]) is app
        assert import_from_string(uvicorn_runs[0]["http"]) is server.BoundedH11Protocol
        assert os.environ[HEAD_TIMEOUT_VARIABLE] == "2.5"

    def test_defaults(
        self, runner: CliRunner, uvicorn_runs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """By default `serve` binds 127.0.0.1 with one worker on uvloop+httptools, on `PORT` when set."""
        monkeypatch.setenv("PORT", "9001")
        result = runner.invoke(cli, ["serve"])
        assert result.exit_code == 0, result.output
        (run,) = uvicorn_runs
        assert (run["host"], run["port"], run["workers"]) == ("127.0.0.1", 9001, 1)
        assert (run["loop"], run["http"], run["limit_concurrency"]) == (
            "uvloop",
            f"{server.__name__}:BoundedHttpToolsProtocol",
            None,
        )
        assert os.environ[HEAD_TIMEOUT_VARIABLE] == repr(DEFAULT_HEAD_TIMEOUT)

    def test_stack_from_the_environment(
        self, runner: CliRunner, uvicorn_runs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`SERVE_HTTP` and `SERVE_HEAD_TIMEOUT` choose the stack and the head timeout."""
        monkeypatch.setenv("SERVE_HTTP", "h11")
        monkeypatch.setenv(HEAD_TIMEOUT_VARIABLE, "3")
        result = runner.invoke(cli, ["serve"])
        assert result.exit_code == 0, result.output
        (run,) = uvicorn_runs
        assert (run["loop"], run["http"]) == ("asyncio", f"{server.__name__}:BoundedH11Protocol")
        assert os.environ[HEAD_TIMEOUT_VARIABLE] == "3.0"

    def test_httptools_missing_is_a_usage_error(
        self, runner: CliRunner, uvicorn_runs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`--http httptools` where httptools is not installed stops with a usage error."""
        monkeypatch.setattr(server, "installed", lambda module: module != "httptools")
        result = runner.invoke(cli, ["serve", "--http", "httptools"])
        assert result.exit_code == 2
        assert "httptools is not installed" in result.output
        assert uvicorn_runs == []

    @pytest.mark.parametrize("value", ["0", "-1", "soon"])
    def test_bad_head_timeout_does_not_start(
        self, runner: CliRunner, uvicorn_runs: list[dict[str, Any]], value: str
    ) -> None:
        """A head timeout that is not a positive number stops `serve` before uvicorn starts."""
        result = runner.invoke(cli, ["serve", "--head-timeout", value])
        assert result.exit_code == 2
        assert "--head-timeout" in result.output
        assert uvicorn_runs == []

    def test_bad_service_setting_does_not_start(
        self, runner: CliRunner, uvicorn_runs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An invalid LOG_LEVEL stops `serve` before uvicorn starts."""
        monkeypatch.setenv("LOG_LEVEL", "LOUD")
        result = runner.invoke(cli, ["serve"])
        assert result.exit_code != 0
        assert "LOG_LEVEL='LOUD'" in str(result.exception)
        assert uvicorn_runs == []


@pytest.mark.usefixtures("dev_environment")
class TestDev:
    """`dev`: uvicorn on the dev app, with the environment pointing at the dev issuer."""

    def test_runs_the_dev_app_factory(
        self, runner: CliRunner, uvicorn_runs: list[dict[str, Any]]
    ) -> None:
        """`dev` hands uvicorn the `create_dev_app` factory, reloading on changes to the package."""
        result = runner.invoke(cli, ["dev", "--port", "9002"])
        assert result.exit_code == 0, result.output
        assert uvicorn_runs == [
            {
                "target": f"{create_dev_app.__module__}:create_dev_app",
                "factory": True,
                "host": "127.0.0.1",
                "port": 9002,
                "reload": True,
                "reload_dirs": [str(Path(inspect.getfile(main)).parent)],
            }
        ]
        assert import_from_string(uvicorn_runs[0]["target"]) is create_dev_app

    def test_without_reload(self, runner: CliRunner, uvicorn_runs: list[dict[str, Any]]) -> None:
        """`--no-reload` turns reloading off and watches no directory."""
        result = runner.invoke(cli, ["dev", "--no-reload"])
        assert result.exit_code == 0, result.output
        (run,) = uvicorn_runs
        assert (run["reload"], run["reload_dirs"]) == (False, None)

    def test_points_the_settings_at_the_dev_issuer(
        self, runner: CliRunner, uvicorn_runs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`dev` sets AUTH_ISSUER to the dev issuer's URL (bind-all mapped), clears AUTH_JWKS_URL and marks dev."""
        monkeypatch.setenv("AUTH_ISSUER", ISSUER)
        monkeypatch.setenv("AUTH_JWKS_URL", ISSUER + JWKS_PATH)
        result = runner.invoke(cli, ["dev", "--host", BIND_ALL, "--port", "9003"])
        assert result.exit_code == 0, result.output
        assert os.environ["AUTH_ISSUER"] == "http://127.0.0.1:9003/dev-issuer"
        assert os.environ["AUTH_JWKS_URL"] == ""
        assert os.environ["AUTH_DEV_ISSUER"] == "1"
        assert uvicorn_runs[0]["host"] == BIND_ALL

    @pytest.mark.usefixtures("restore_logging")
    def test_the_factory_starts_in_the_environment_dev_prepares(
        self, runner: CliRunner, uvicorn_runs: list[dict[str, Any]]
    ) -> None:
        """The factory `dev` names accepts the environment `dev` leaves behind."""
        assert runner.invoke(cli, ["dev"]).exit_code == 0
        factory = import_from_string(uvicorn_runs[0]["target"])
        assert {route.path for route in factory().routes} >= {
            "/dev-issuer/.well-known/jwks.json",
            "/protected",
        }

    @pytest.mark.usefixtures("uvicorn_runs")
    def test_dev_reads_scopes_and_roles_where_token_puts_them(
        self, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Whatever profile is configured, `dev` reads `scope` and `roles`, as `token` writes them."""
        monkeypatch.setenv("AUTH_PROFILE", "keycloak")
        monkeypatch.setenv("AUTH_SCOPE_CLAIMS", "scp")
        assert runner.invoke(cli, ["dev"]).exit_code == 0
        (entry,) = load_auth_settings().issuer_entries()
        rules = entry.claim_rules()
        assert entry.profile == "generic"
        assert rules.scopes({"scope": "admin read"}) == {"admin", "read"}
        assert rules.roles({"roles": ["staff"]}) == {"staff"}
        rules.check_header({"alg": "RS256"})  # no token type is required

    def test_bad_setting_does_not_start(
        self, runner: CliRunner, uvicorn_runs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An invalid setting stops `dev` before uvicorn starts."""
        monkeypatch.setenv("AUTH_AUDIENCE", "has space")
        result = runner.invoke(cli, ["dev"])
        assert result.exit_code != 0
        assert "AUTH_AUDIENCE='has space'" in str(result.exception)
        assert uvicorn_runs == []


class TestDoctor:
    """`doctor`: the report of `diagnose`, and its exit status."""

    @pytest.fixture(autouse=True)
    def issuer(self, stub: IssuerStub, monkeypatch: pytest.MonkeyPatch) -> None:
        """`doctor` reaches the stub issuer, configured through the environment."""

        async def against_stub(
            settings: AuthSettings, *, transport: httpx.AsyncBaseTransport | None = None
        ) -> Report:
            return await diagnose(settings, transport=transport or stub.transport)

        monkeypatch.setattr(f"{diagnose.__module__}.diagnose", against_stub)
        monkeypatch.setenv("AUTH_ISSUER", ISSUER)
        monkeypatch.setenv("AUTH_AUDIENCE", AUDIENCE)

    def test_consistent_issuer_exits_0(self, runner: CliRunner) -> None:
        """A consistent issuer gives a report of ok lines and exit status 0."""
        result = runner.invoke(cli, ["doctor"])
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines[0] == f"Issuer {ISSUER!r}"
        assert f"  ok    JWKS URL: {ISSUER}{JWKS_PATH}" in lines
        assert not any(line.startswith("  FAIL") for line in lines)

    def test_problem_exits_1(self, runner: CliRunner, stub: IssuerStub) -> None:
        """An issuer that cannot be reached gives a FAIL line and exit status 1."""
        stub.fault = "down"
        result = runner.invoke(cli, ["doctor"])
        assert result.exit_code == 1
        assert result.stdout.splitlines()[-1].startswith("  FAIL  ")


class TestDPoPCommands:
    """`token --dpop-key` binds a token to a key; `proof` signs a proof that the service accepts."""

    def test_token_bound_to_a_new_key(self, runner: CliRunner, tmp_path: Path) -> None:
        """The key file is created (mode 600) and the token's `cnf.jkt` is its thumbprint."""
        key_file = tmp_path / "client.pem"
        result = runner.invoke(cli, ["token", "--dpop-key", str(key_file)])
        assert result.exit_code == 0, result.output
        assert key_file.stat().st_mode & 0o777 == 0o600
        claims = jwt.get_unverified_claims(result.output.strip())
        assert claims["cnf"] == {"jkt": DPoPKey.load_or_create(key_file).thumbprint}

    def test_proof_passes_the_service_checks(self, runner: CliRunner, tmp_path: Path) -> None:
        """The printed proof is accepted for its method, URL, token and key."""
        key_file = tmp_path / "client.pem"
        token = runner.invoke(cli, ["token", "--dpop-key", str(key_file)]).output.strip()
        url = "http://127.0.0.1:8000/protected"
        result = runner.invoke(
            cli, ["proof", "--dpop-key", str(key_file), "--token", token, "-X", "get", url]
        )
        assert result.exit_code == 0, result.output
        verifier = ProofVerifier(("ES256",), max_age=60, leeway=0, replays=ReplayCache(8))
        thumbprint = DPoPKey.load_or_create(key_file).thumbprint
        verifier.check(
            result.output.strip(), method="GET", uri=url, token=token, thumbprint=thumbprint
        )

    def test_key_open_to_others_is_refused(self, runner: CliRunner, tmp_path: Path) -> None:
        """A DPoP key file readable by others is not used."""
        key_file = tmp_path / "client.pem"
        runner.invoke(cli, ["proof", "--dpop-key", str(key_file), "http://127.0.0.1/"])
        key_file.chmod(0o644)
        result = runner.invoke(cli, ["proof", "--dpop-key", str(key_file), "http://127.0.0.1/"])
        assert result.exit_code != 0
        assert "chmod 600" in result.output
