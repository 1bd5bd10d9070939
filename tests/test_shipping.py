"""What users ship passes the tools that would reject it: Dockerfile, workflow, manifests, cruft."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE_DIR, run

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
}


def tool(name: str) -> str:
    """The path of a linter installed by the template's dev dependencies."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is missing: run the tests through `uv run pytest`", pytrace=False)
    return found


class TestContainer:
    """The Dockerfile and the Kubernetes manifests pass their linters."""

    def test_dockerfile_passes_hadolint(self, rendered_default: Path) -> None:
        """The hadolint linter finds nothing to warn about in the generated Dockerfile."""
        run([tool("hadolint"), "Dockerfile"], rendered_default)

    def test_kubernetes_manifests_match_the_schemas(self, rendered_default: Path) -> None:
        """Every manifest validates strictly against the bundled Kubernetes schemas."""
        manifests = sorted(str(path) for path in (rendered_default / "deploy").rglob("*.yaml"))
        assert len(manifests) == 3
        result = run([tool("kubernetes-validate"), "--strict", *manifests], rendered_default)
        assert result.stdout.count("passed") == 3

    def test_deployment_probes_use_ready_and_health(self, rendered_default: Path) -> None:
        """Readiness waits for the keys (`/ready`); liveness only asks whether HTTP is served."""
        text = (rendered_default / "deploy/kubernetes/deployment.yaml").read_text()
        readiness, liveness = text.index("readinessProbe"), text.index("livenessProbe")
        assert text.index("path: /ready") > readiness
        assert text.index("path: /health") > liveness


class TestWorkflow:
    """The generated GitHub Actions workflow is one GitHub would run."""

    @pytest.mark.parametrize("name", ["default", "py313"])
    def test_workflow_passes_actionlint(self, request: pytest.FixtureRequest, name: str) -> None:
        """The actionlint linter accepts the rendered workflow (expressions survived Jinja)."""
        project: Path = request.getfixturevalue(f"rendered_{name}")
        run([tool("actionlint"), ".github/workflows/ci.yml"], project)

    def test_matrix_starts_at_the_chosen_python(self, rendered_py313: Path) -> None:
        """A project requiring Python 3.13 is not tested on older versions."""
        workflow = (rendered_py313 / ".github/workflows/ci.yml").read_text()
        assert 'python-version: ["3.13"]' in workflow


class TestCruftUpdate:
    """A project created with cruft takes a later template change with `cruft update`."""

    def test_template_change_reaches_the_project(self, tmp_path: Path) -> None:
        """A line added to the template after generation lands in the project, cleanly."""
        env = {**os.environ, **GIT_IDENTITY}
        template = copy_template(tmp_path / "template", env)
        run([tool("cruft"), "create", "--no-input", str(template)], tmp_path, env)
        project = tmp_path / "litestar-jwks-service"
        assert json.loads((project / ".cruft.json").read_text())["template"] == str(template)
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "gen"]):
            run(cmd, project, env)

        added = "# A setting added by a later version of the template."
        env_example = template / "{{cookiecutter.project_slug}}" / ".env.example"
        env_example.write_text(env_example.read_text() + added + "\n")
        run(["git", "commit", "-qam", "template change"], template, env)

        run([tool("cruft"), "update", "--skip-apply-ask"], project, env)
        assert (project / ".env.example").read_text().endswith(added + "\n")
        run([tool("cruft"), "check"], project, env)


def copy_template(target: Path, env: dict[str, str]) -> Path:
    """A git repository holding the template's tracked files, as users would clone it."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=TEMPLATE_DIR, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = TEMPLATE_DIR / name.decode()
        (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name.decode())
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "template"]):
        run(cmd, target, env)
    return target
