"""The generated projects pass their own tests, linters and type checker in a fresh environment."""

from __future__ import annotations

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
