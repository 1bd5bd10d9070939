"""The generated projects pass their own tests, linters and type checker in a fresh environment."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import INSTALLABLE, Installed, installed, run


def project_for(request: pytest.FixtureRequest, name: str) -> Installed:
    """The synced copy of variant `name`, set up once per session."""
    project: Installed = request.getfixturevalue(installed(name))
    return project


@pytest.mark.parametrize("name", INSTALLABLE)
class TestGeneratedProjectChecks:
    """Each installable variant is green under the tools its own CI runs."""

    def test_own_test_suite_passes(self, request: pytest.FixtureRequest, name: str) -> None:
        """`uv run pytest -q` passes in the generated project."""
        project_for(request, name).run("uv", "run", "pytest", "-q")

    def test_ruff_check_is_clean(self, request: pytest.FixtureRequest, name: str) -> None:
        """`uv run ruff check` finds nothing in the generated project."""
        project_for(request, name).run("uv", "run", "ruff", "check")

    def test_ruff_format_is_clean(self, request: pytest.FixtureRequest, name: str) -> None:
        """`uv run ruff format --check` would change no file of the generated project."""
        project_for(request, name).run("uv", "run", "ruff", "format", "--check")

    def test_mypy_is_clean(self, request: pytest.FixtureRequest, name: str) -> None:
        """`uv run mypy`, configured strict with its files in pyproject.toml, finds no error."""
        project_for(request, name).run("uv", "run", "mypy")


class TestPreCommit:
    """The generated pre-commit configuration works on a brand-new repository."""

    def test_pre_commit_passes_on_all_files(self, request: pytest.FixtureRequest) -> None:
        """In a fresh git repository of the default project, every pre-commit hook passes."""
        project = project_for(request, "default")
        # A bare machine has no git identity; pre-commit and git must not depend on one.
        env = {
            **project.env,
            "GIT_AUTHOR_NAME": "Template Tests",
            "GIT_AUTHOR_EMAIL": "template-tests@example.com",
            "GIT_COMMITTER_NAME": "Template Tests",
            "GIT_COMMITTER_EMAIL": "template-tests@example.com",
        }
        run(["git", "-c", "init.defaultBranch=main", "init", "-q"], project.path, env)
        run(["git", "add", "-A"], project.path, env)
        run(["uv", "run", "pre-commit", "run", "--all-files"], project.path, env)


class TestAddingARoute:
    """A route added exactly as the generated README says works and keeps every check green."""

    def test_readme_route_snippet(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        """The "Add a route" snippet, pasted into `Routes`, is served; the project stays green."""
        source = project_for(request, "default")
        path = tmp_path / source.path.name
        shutil.copytree(source.path, path, ignore=shutil.ignore_patterns(".venv", ".git"))
        project = Installed(path, source.env)
        readme = (path / "README.md").read_text(encoding="utf-8")
        section = readme.split("## Add a route\n", 1)[1].split("\n## ", 1)[0]
        (snippet,) = re.findall(r"```python\n(.*?)```", section, re.S)
        routes = path / "src" / source.path.name.replace("-", "_") / "routes.py"
        code = routes.read_text(encoding="utf-8")
        assert "\n\ndef describe(" in code
        routes.write_text(code.replace("\n\ndef describe(", f"\n{snippet}\n\ndef describe(", 1))
        project.run("uv", "sync", "-q")
        project.run("uv", "run", "pytest", "-q", "-x")
        project.run("uv", "run", "ruff", "check")
        project.run("uv", "run", "ruff", "format", "--check")
        project.run("uv", "run", "mypy")
        package = source.path.name.replace("-", "_")
        served = project.run("uv", "run", "python", "-c", ROUTE_CHECK.replace("PACKAGE", package))
        assert served.stdout.split() == ["401", "403", "200"], served.stdout


# Builds the app on a fake issuer and calls the README's /items route with no token, a token
# without the scope and one with it.
ROUTE_CHECK = """
import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt
from litestar.testing import TestClient
from PACKAGE.app import create_app
from PACKAGE.auth import AuthSettings
from PACKAGE.settings import ServiceSettings

private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
signer = jwk.construct(private, "RS256")
public = {**signer.public_key().to_dict(), "kid": "k1"}
async def answer(request):
    return httpx.Response(200, json={"keys": [public]})

keys = httpx.MockTransport(answer)
settings = AuthSettings(
    issuer="https://issuer.test", audience=(), jwks_url="https://issuer.test/keys",
    algorithms=("RS256",), _env_file=None,
)
app = create_app(settings, service=ServiceSettings(_env_file=None), jwks_transport=keys)

def token(scope):
    claims = {"iss": "https://issuer.test", "sub": "u", "exp": 4102444800, "scope": scope}
    return jwt.encode(claims, signer, algorithm="RS256", headers={"kid": "k1"})

with TestClient(app) as client:
    print(client.get("/items").status_code)
    for scope in ("read", "items:read"):
        headers = {"Authorization": "Bearer " + token(scope)}
        print(client.get("/items", headers=headers).status_code)
"""
