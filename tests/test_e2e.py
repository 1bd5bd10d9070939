"""The generated service as real processes on loopback: dev issuer, serve, doctor, README commands.

Every process gets a free port (never a fixed one), runs in its own process group, logs to a file
under the test's temporary folder, and is stopped by a finalizer even when its test fails. Every
wait is bounded; a failure message carries the tail of the relevant logs.

The test issuer is `tests/issuer_server.py`, run with this interpreter: it signs tokens with its
own keys (never through the code under test) and can rotate them on request. The helpers that
start and stop both live in `tests/processes.py`, shared with `tests/test_adversarial.py`.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import TEMPLATE_DIR, Installed, run
from processes import (
    COOLDOWN,
    LOOPBACK,
    REALM,
    SLUG,
    START_TIMEOUT,
    Issuer,
    Service,
    backgrounded_service,
    free_port,
    run_command,
    running_issuer,
    running_service,
    service_env,
    tamper,
)

README_PORT = "8000"  # the port the READMEs' URLs name; replaced by a free one

GENERATE_TIMEOUT = 240.0  # quick start: `uvx cookiecutter`, then the new project's first sync
RECOVERY_TIMEOUT = 20.0  # issuer back -> service ready, with AUTH_REFRESH_COOLDOWN=1
LINE_MARKER = "@@readme-line"


# --- shared fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the logs of this module's processes."""
    return tmp_path_factory.mktemp("e2e-logs")


@pytest.fixture(scope="module")
def shared_issuer(logs: Path) -> Iterator[Issuer]:
    """One test issuer with default options, never rotated nor stopped by a test."""
    with running_issuer(logs / "shared-issuer.log") as issuer:
        yield issuer


def serving_against(project: Installed, issuer: Issuer, log: Path) -> Iterator[Service]:
    """`serve` of `project` verifying tokens of `issuer`, once it is ready."""
    with running_service(project, "serve", log, env={"AUTH_ISSUER": issuer.url}) as service:
        service.wait_for("/ready", 200, START_TIMEOUT)
        yield service


@pytest.fixture(scope="module")
def served(installed_default: Installed, shared_issuer: Issuer, logs: Path) -> Iterator[Service]:
    """The default project under `serve`, verifying tokens of the shared issuer."""
    yield from serving_against(installed_default, shared_issuer, logs / "serve.log")


@pytest.fixture(scope="module")
def narrow(installed_py313: Installed, shared_issuer: Issuer, logs: Path) -> Iterator[Service]:
    """The py313 project under `serve`, with only AUTH_ISSUER overridden."""
    yield from serving_against(installed_py313, shared_issuer, logs / "serve-py313.log")


@dataclass
class DevService:
    """The `dev` service and how it answered `/ready` the moment `/health` first answered."""

    service: Service
    first_ready_status: int
    project: Installed

    def mint(self, *args: str, via_option: bool = False) -> str:
        """A token from the `token` command, told the port by PORT or by `--port`."""
        port = str(self.service.port)
        if via_option:
            cmd, env = [*args, "--port", port], service_env(self.project.env)
        else:
            cmd, env = list(args), service_env(self.project.env, PORT=port)
        result = run(["uv", "run", SLUG, "token", *cmd], self.project.path, env)
        return result.stdout.strip()


@pytest.fixture(scope="module")
def dev(installed_default: Installed, logs: Path) -> Iterator[DevService]:
    """One `dev --no-reload` process shared by the dev-mode tests."""
    with running_service(installed_default, "dev", logs / "dev.log", "--no-reload") as service:
        first_ready_status = service.get("/ready").status_code
        service.wait_for("/ready", 200, START_TIMEOUT)
        yield DevService(service, first_ready_status, installed_default)


# --- dev ---------------------------------------------------------------------------------------


class TestDevMode:
    """`dev` serves the embedded issuer and accepts what `token` mints, nothing else."""

    def test_ready_as_soon_as_it_answers(self, dev: DevService) -> None:
        """`/ready` is 200 as soon as `/health` is: `dev` never starts with a 503 window."""
        assert dev.first_ready_status == 200, dev.service.process.report()

    def test_token_for_port_variable_is_accepted(self, dev: DevService) -> None:
        """A token minted with PORT set opens `/protected` and names its subject."""
        response = dev.service.expect("/protected", 200, dev.mint())
        assert response.json() == {
            "message": "Access granted",
            "user": {
                "subject": "dev-user",
                "issuer": f"http://127.0.0.1:{dev.service.port}/dev-issuer",
                "scopes": [],
                "roles": [],
            },
        }

    def test_token_for_port_option_is_accepted(self, dev: DevService) -> None:
        """A token minted with `--port` opens `/protected`."""
        dev.service.expect("/protected", 200, dev.mint("--sub", "by-option", via_option=True))

    def test_admin_needs_the_admin_scope(self, dev: DevService) -> None:
        """`/admin` is 403 with an insufficient_scope challenge, then 200 with `--scope admin`."""
        refused = dev.service.expect("/admin", 403, dev.mint())
        challenge = refused.headers["WWW-Authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert 'scope="admin"' in challenge
        granted = dev.service.expect("/admin", 200, dev.mint("--scope", "admin"))
        assert granted.json()["user"]["scopes"] == ["admin"]

    def test_missing_token_is_401(self, dev: DevService) -> None:
        """Without a token, `/protected` is 401 with a bare Bearer challenge."""
        response = dev.service.expect("/protected", 401)
        assert response.headers["WWW-Authenticate"] == f'Bearer realm="{REALM}"'

    def test_tampered_token_is_401(self, dev: DevService) -> None:
        """One changed signature character makes a valid token 401 invalid_token."""
        token = dev.mint("--sub", "tampered")
        dev.service.expect("/protected", 200, token)
        response = dev.service.expect("/protected", 401, tamper(token))
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]

    @pytest.mark.parametrize("algorithm", ["EdDSA", "RS256"])
    def test_algorithm_is_accepted(self, dev: DevService, algorithm: str) -> None:
        """Tokens the dev issuer signs with `algorithm` are accepted."""
        dev.service.expect("/protected", 200, dev.mint("--alg", algorithm))

    def test_dev_serves_its_issuer(self, dev: DevService) -> None:
        """`dev` publishes the development issuer's discovery document and JWKS."""
        discovery = dev.service.expect("/dev-issuer/.well-known/openid-configuration", 200)
        assert discovery.json()["issuer"] == f"http://{LOOPBACK}:{dev.service.port}/dev-issuer"
        assert len(dev.service.expect("/dev-issuer/.well-known/jwks.json", 200).json()["keys"]) == 3


class TestServeHasNoDevIssuer:
    """The default app never mounts the development issuer."""

    @pytest.mark.parametrize(
        "path",
        ["/dev-issuer/.well-known/jwks.json", "/dev-issuer/.well-known/openid-configuration"],
    )
    def test_dev_issuer_route_is_404(self, served: Service, path: str) -> None:
        """`serve` answers 404 where `dev` serves its issuer's documents."""
        served.expect(path, 404)


# --- serve against a real issuer ---------------------------------------------------------------


class TestServeAgainstIssuer:
    """`serve` verifies an issuer's tokens and follows its keys through rotation and outages."""

    @pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256", "EdDSA"])
    def test_family_is_accepted(
        self, served: Service, shared_issuer: Issuer, algorithm: str
    ) -> None:
        """A token of each key family, signed by the issuer, opens `/protected`."""
        token = shared_issuer.sign(algorithm, sub=f"user-{algorithm}")
        assert served.expect("/protected", 200, token).json()["user"]["subject"] == (
            f"user-{algorithm}"
        )

    def test_rotated_key_is_picked_up(self, installed_default: Installed, tmp_path: Path) -> None:
        """After a rotation, the new kid is accepted and the removed key refused, no restart."""
        with (
            running_issuer(tmp_path / "issuer.log") as issuer,
            running_service(
                installed_default,
                "serve",
                tmp_path / "serve.log",
                env={"AUTH_ISSUER": issuer.url, "AUTH_REFRESH_COOLDOWN": str(COOLDOWN)},
            ) as service,
        ):
            service.wait_for("/ready", 200, START_TIMEOUT)
            old = issuer.sign("RS256", sub="before")
            service.expect("/protected", 200, old)
            issuer.rotate("rsa")
            new = issuer.sign("RS256", sub="after")
            service.wait_out_cooldown()
            service.expect("/protected", 200, new)
            service.expect("/protected", 401, old)

    def test_cached_keys_outlive_the_issuer(
        self, installed_default: Installed, tmp_path: Path
    ) -> None:
        """With the issuer gone, known keys keep verifying (stale) and an unknown kid is 401."""
        with (
            running_issuer(tmp_path / "issuer.log") as issuer,
            running_service(
                installed_default,
                "serve",
                tmp_path / "serve.log",
                env={
                    "AUTH_ISSUER": issuer.url,
                    "AUTH_REFRESH_COOLDOWN": str(COOLDOWN),
                    "AUTH_JWKS_CACHE_TTL": str(COOLDOWN),
                },
            ) as service,
        ):
            service.wait_for("/ready", 200, START_TIMEOUT)
            seen = issuer.sign("RS256", sub="seen")
            service.expect("/protected", 200, seen)
            unseen = issuer.sign("EdDSA", sub="unseen")
            unknown = issuer.sign("ES256", kid="not-a-published-kid")
            issuer.process.stop()
            service.wait_out_cooldown()  # past the TTL too: the keys are stale now
            response = service.expect("/protected", 401, unknown)
            assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
            service.expect("/protected", 200, unseen)
            service.expect("/protected", 200, seen)
            service.expect("/ready", 200)

    def test_recovers_when_issuer_comes_up_late(
        self, installed_default: Installed, tmp_path: Path
    ) -> None:
        """Issuer down at start-up: 503 + Retry-After, then 200 once it is up, no restart."""
        keys, port = tmp_path / "keys", free_port()
        with running_issuer(tmp_path / "issuer-before.log", port=port, keys=keys) as issuer:
            token = issuer.sign("EdDSA", sub="patient")
            url = issuer.url
        with running_service(
            installed_default,
            "serve",
            tmp_path / "serve.log",
            env={"AUTH_ISSUER": url, "AUTH_REFRESH_COOLDOWN": str(COOLDOWN)},
        ) as service:
            unready = service.expect("/ready", 503)
            unavailable = service.expect("/protected", 503, token)
            for response in (unready, unavailable):
                assert int(response.headers["Retry-After"]) >= 1
            assert unavailable.headers["WWW-Authenticate"] == f'Bearer realm="{REALM}"'
            with running_issuer(tmp_path / "issuer-after.log", port=port, keys=keys):
                service.wait_for("/ready", 200, RECOVERY_TIMEOUT)
                service.expect("/protected", 200, token)


class TestNarrowVariant:
    """The py313 answers (audiences api://a,api://b; algorithms EdDSA,RS256) hold at run time."""

    @pytest.mark.parametrize(
        ("algorithm", "audience"),
        [("EdDSA", "api://b"), ("RS256", "api://a"), ("EdDSA", ["api://x", "api://a"])],
    )
    def test_listed_audience_and_algorithm_are_accepted(
        self, narrow: Service, shared_issuer: Issuer, algorithm: str, audience: str | list[str]
    ) -> None:
        """A token for one of the configured audiences, with an allowed algorithm, is accepted."""
        narrow.expect("/protected", 200, shared_issuer.sign(algorithm, aud=audience))

    @pytest.mark.parametrize(
        "claims",
        [
            pytest.param({"aud": "api://c"}, id="other-audience"),
            pytest.param({}, id="no-audience"),
        ],
    )
    def test_other_audience_is_401(
        self, narrow: Service, shared_issuer: Issuer, claims: dict[str, Any]
    ) -> None:
        """A token for another audience, or for none, is refused."""
        narrow.expect("/protected", 401, shared_issuer.sign("EdDSA", **claims))

    @pytest.mark.parametrize("algorithm", ["ES256", "PS256"])
    def test_algorithm_outside_allow_list_is_401(
        self, narrow: Service, shared_issuer: Issuer, algorithm: str
    ) -> None:
        """A well-signed token whose algorithm is not allowed is refused."""
        narrow.expect("/protected", 401, shared_issuer.sign(algorithm, aud="api://a"))


# --- doctor ------------------------------------------------------------------------------------


def doctor(project: Installed, **env: str) -> subprocess.CompletedProcess[str]:
    """`uv run <slug> doctor` with the AUTH_* variables in `env`."""
    return run_command(["uv", "run", SLUG, "doctor"], project.path, service_env(project.env, **env))


class TestDoctor:
    """`doctor` checks a real issuer and exits non-zero on what would make tokens fail."""

    @pytest.mark.parametrize("issuer_path", ["", "/", "/__zuplo/issuer"])
    def test_consistent_issuer_passes(
        self, installed_default: Installed, tmp_path: Path, issuer_path: str
    ) -> None:
        """Matching issuer strings and usable keys: exit 0 and a report naming each key."""
        with running_issuer(tmp_path / "issuer.log", issuer_path=issuer_path) as issuer:
            result = doctor(installed_default, AUTH_ISSUER=issuer.url)
            jwks_url = f"{issuer.url.rstrip('/')}/.well-known/jwks.json"
            kids = [key["kid"] for key in httpx.get(jwks_url, trust_env=False).json()["keys"]]
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"ok    JWKS URL: {jwks_url}" in result.stdout
        for kid in kids:
            assert re.search(rf"ok    key kid='{kid}' .*: verifies ", result.stdout), result.stdout
        assert "FAIL" not in result.stdout

    @pytest.mark.parametrize(
        ("published", "configured"),
        [
            pytest.param("", "/", id="configured-with-slash"),
            pytest.param("/", "", id="published-with-slash"),
        ],
    )
    def test_trailing_slash_mismatch_fails(
        self, installed_default: Installed, tmp_path: Path, published: str, configured: str
    ) -> None:
        """An AUTH_ISSUER that differs from the discovered issuer by a trailing slash: exit 1."""
        with running_issuer(tmp_path / "issuer.log", issuer_path=published) as issuer:
            result = doctor(
                installed_default, AUTH_ISSUER=f"http://{LOOPBACK}:{issuer.port}{configured}"
            )
        assert result.returncode != 0, result.stdout
        assert "trailing slash" in result.stdout

    def test_only_disallowed_algorithms_fail(
        self, installed_py313: Installed, tmp_path: Path
    ) -> None:
        """An issuer publishing only ES256 keys fails the EdDSA,RS256 allow-list: exit 1."""
        with running_issuer(tmp_path / "issuer.log", algorithms="ES256") as issuer:
            result = doctor(installed_py313, AUTH_ISSUER=issuer.url)
        assert result.returncode != 0, result.stdout
        assert "no published key can verify any of AUTH_ALGORITHMS=EdDSA,RS256" in result.stdout

    def test_alg_tagged_key_is_reported(self, installed_default: Installed, tmp_path: Path) -> None:
        """A key published with `alg: ES256` passes and is reported as verifying ES256 only."""
        with running_issuer(tmp_path / "issuer.log", algorithms="ES256") as issuer:
            result = doctor(installed_default, AUTH_ISSUER=issuer.url)
        assert result.returncode == 0, result.stdout + result.stderr
        assert re.search(r"alg='ES256' use='sig': verifies ES256$", result.stdout, re.M)


# --- README commands ---------------------------------------------------------------------------


def section(markdown: str, title: str) -> str:
    """The body of the `## title` section."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"no '## {title}' section"
    return match.group(1)


def console_blocks(text: str) -> list[list[str]]:
    """The commands (`$ ` lines, prompt removed) of each ```console block in `text`."""
    blocks = re.findall(r"^```console\n(.*?)^```", text, re.M | re.S)
    return [[line[2:] for line in block.splitlines() if line.startswith("$ ")] for block in blocks]


def on_port(line: str, port: int) -> str:
    """`line` with the README's `127.0.0.1:8000` pointed at `port`."""
    return line.replace(f"{LOOPBACK}:{README_PORT}", f"{LOOPBACK}:{port}")


def run_script(lines: Sequence[str], cwd: Path, env: Mapping[str, str]) -> list[str]:
    """Run `lines` as one bash script; return what each line printed."""
    script = ["set -euo pipefail"]
    for number, line in enumerate(lines):
        script += [f"printf '\\n{LINE_MARKER} %d\\n' {number}", line]
    result = run_command(["bash", "-c", "\n".join(script)], cwd, env)
    assert result.returncode == 0, (
        f"{chr(10).join(lines)}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    outputs = re.split(rf"\n{LINE_MARKER} \d+\n", result.stdout)[1:]
    assert len(outputs) == len(lines), result.stdout
    return outputs


def status_and_body(output: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of what `curl -s` (body only) or `curl -s -i` printed."""
    if output.startswith("HTTP/"):
        head, body = re.split(r"\r?\n\r?\n", output, maxsplit=1)  # text mode may drop the \r
        return int(head.split()[1]), {"headers": head, **json.loads(body)}
    document: dict[str, Any] = json.loads(output)
    return int(document.get("status_code", 200)), document


def check_curl_outputs(
    lines: Sequence[str],
    outputs: Sequence[str],
    admin_tokens: set[str],
    staff_tokens: frozenset[str] = frozenset(),
) -> None:
    """Each curl line got the answer its path and token call for."""
    curls = 0
    for line, output in zip(lines, outputs, strict=True):
        if not line.startswith("curl "):
            continue
        curls += 1
        status, body = status_and_body(output)
        path = re.search(r"/(protected|admin|staff)\b", line)
        token = re.search(r"Bearer \$(\w+)", line)
        assert path, line
        assert token, line
        if path.group(1) == "protected":
            assert (status, body.get("message")) == (200, "Access granted"), (line, output)
        elif path.group(1) == "staff":
            if token.group(1) in staff_tokens:
                assert (status, body.get("message")) == (200, "Staff access granted"), output
            else:
                assert status == 403, (line, output)
        elif token.group(1) in admin_tokens:
            assert (status, body.get("message")) == (200, "Admin access granted"), (line, output)
        else:
            assert status == 403, (line, output)
            if "headers" in body:  # `curl -i` shows the challenge too
                assert 'error="insufficient_scope"' in body["headers"], output
                assert 'scope="admin"' in body["headers"], output
    assert curls >= 2, lines


def template_copy(destination: Path) -> Path:
    """A copy of the template's files as git sees them (tracked, or new and not ignored)."""
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], TEMPLATE_DIR
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = TEMPLATE_DIR / name
        if source.is_file():  # a tracked file deleted in the work tree is not part of it
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


class TestTemplateReadme:
    """The template README's commands do what it says."""

    def test_quick_start(
        self, installed_default: Installed, cookiecutter_config: Path, tmp_path: Path
    ) -> None:
        """Generating with `uvx cookiecutter`, `dev`, then the curl calls give the 200 bodies."""
        blocks = console_blocks(section((TEMPLATE_DIR / "README.md").read_text(), "Quick start"))
        (start,), calls, *rest = blocks
        # The last block runs this very suite: running it here would recurse.
        assert rest == [["uv run pytest"]], rest
        template = template_copy(tmp_path / "template")
        port = free_port()
        env = service_env(
            installed_default.env, PORT=str(port), COOKIECUTTER_CONFIG=str(cookiecutter_config)
        )
        with backgrounded_service(start, template, env, tmp_path / "quick-start.log") as service:
            service.wait_for("/health", 200, GENERATE_TIMEOUT)
            lines = [on_port(line, port) for line in calls]
            outputs = run_script(lines, template, env)
            check_curl_outputs(lines, outputs, admin_tokens={"TOKEN"})
        assert (tmp_path / SLUG / "pyproject.toml").is_file()

    def test_cookiecutter_example_sets_the_issuer(
        self, cookiecutter_config: Path, tmp_path: Path
    ) -> None:
        """`cookiecutter . issuer=...` makes that issuer the generated settings' default."""
        readme = (TEMPLATE_DIR / "README.md").read_text()
        match = re.search(r"`(cookiecutter \. [^`]+)`", readme)
        assert match, "the README shows no `cookiecutter . name=value` example"
        words = shlex.split(match.group(1))
        answers = dict(word.split("=", 1) for word in words[2:])
        cookiecutter = Path(sys.executable).with_name("cookiecutter")
        env = service_env(os.environ, COOKIECUTTER_CONFIG=str(cookiecutter_config))
        run([str(cookiecutter), *words[1:], "--no-input", "-o", str(tmp_path)], TEMPLATE_DIR, env)
        package = SLUG.replace("-", "_")
        settings = (tmp_path / SLUG / "src" / package / "auth" / "settings.py").read_text()
        defaults = {
            node.targets[0].id: ast.literal_eval(node.value)
            for node in ast.parse(settings).body
            if isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id.startswith("DEFAULT_")
        }
        assert defaults["DEFAULT_ISSUER"] == answers["issuer"]
        env_example = (tmp_path / SLUG / ".env.example").read_text()
        assert f"AUTH_ISSUER={answers['issuer']}\n" in env_example


class TestGeneratedReadme:
    """The generated project's README commands do what it says."""

    def test_first_five_minutes(self, installed_default: Installed, tmp_path: Path) -> None:
        """`dev`, then the README's token and curl lines: 200, 403, then 200 with admin, staff."""
        readme = (installed_default.path / "README.md").read_text()
        (start,), calls = console_blocks(section(readme, "First five minutes"))
        port = free_port()
        env = service_env(installed_default.env, PORT=str(port))
        with backgrounded_service(
            start, installed_default.path, env, tmp_path / "dev.log"
        ) as service:
            service.wait_for("/health", 200, START_TIMEOUT)
            lines = [on_port(line, port) for line in calls]
            outputs = run_script(lines, installed_default.path, env)
            check_curl_outputs(
                lines, outputs, admin_tokens={"ADMIN"}, staff_tokens=frozenset({"STAFF"})
            )

    def test_doctor_example(self, installed_default: Installed, shared_issuer: Issuer) -> None:
        """The README's `doctor` line passes against a real issuer."""
        readme = (installed_default.path / "README.md").read_text()
        ((line,),) = console_blocks(section(readme, "Point it at your issuer"))
        example = "https://issuer.example.com"
        assert example in line, line
        # Substituted: the example host (unreachable here) by the test issuer's URL.
        result = run_command(
            ["bash", "-c", line.replace(example, shared_issuer.url)],
            installed_default.path,
            service_env(installed_default.env),
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"Issuer '{shared_issuer.url}'" in result.stdout

    def test_run_command(
        self, installed_default: Installed, shared_issuer: Issuer, tmp_path: Path
    ) -> None:
        """The README's `serve` line starts a service that verifies the issuer's tokens."""
        readme = (installed_default.path / "README.md").read_text()
        (serve,), *docker = console_blocks(section(readme, "Run"))
        # Docker needs a daemon that test machines lack; the Dockerfile is checked elsewhere.
        assert all(line.startswith("docker ") for block in docker for line in block), docker
        port = free_port()
        # Substituted: 0.0.0.0 by 127.0.0.1 (tests bind loopback only), 8000 by a free port.
        assert "--host 0.0.0.0" in serve, serve
        assert f"--port {README_PORT}" in serve, serve
        line = serve.replace("--host 0.0.0.0", f"--host {LOOPBACK}").replace(
            f"--port {README_PORT}", f"--port {port}"
        )
        env = service_env(installed_default.env, PORT=str(port), AUTH_ISSUER=shared_issuer.url)
        with backgrounded_service(
            line, installed_default.path, env, tmp_path / "run.log"
        ) as service:
            service.wait_for("/ready", 200, START_TIMEOUT)
            service.expect("/protected", 200, shared_issuer.sign("EdDSA"))

    def test_develop_commands(self, installed_default: Installed) -> None:
        """The cheap `Develop` lines pass; the others are known and run by test_generated.py."""
        readme = (installed_default.path / "README.md").read_text()
        (lines,) = console_blocks(section(readme, "Develop"))
        cheap = ["uv run ruff check", "uv run ruff format --check"]
        elsewhere = {
            "uv run pytest",
            "uv run mypy",
            "git init -q && git add -A && uv run pre-commit run --all-files",
        }
        assert set(lines) == set(cheap) | elsewhere, lines
        for line in cheap:
            installed_default.run(*shlex.split(line))
