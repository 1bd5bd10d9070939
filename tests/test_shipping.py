"""What users ship passes the tools that would reject it: Dockerfile, workflow, manifests, cruft."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import TEMPLATE_DIR, Installed, run
from processes import LOOPBACK, free_port, service_env

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


def dockerfile_instruction(dockerfile: str, name: str) -> list[str]:
    """The exec-form (JSON) command of the last `name` instruction, continuation lines joined."""
    joined = dockerfile.replace("\\\n", " ")
    line = [line for line in joined.splitlines() if line.startswith(name + " ")][-1]
    argv: list[str] = json.loads(line[line.index("[") :])
    return argv


class TestImagePort:
    """The image's command and health check follow $PORT, as Cloud Run, Render and Heroku set it."""

    def test_cmd_and_healthcheck_follow_port(self, installed_default: Installed) -> None:
        """The image's CMD serves on $PORT, its HEALTHCHECK passes there and fails elsewhere."""
        dockerfile = (installed_default.path / "Dockerfile").read_text()
        assert "ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PORT=8000" in dockerfile
        cmd = dockerfile_instruction(dockerfile, "CMD")
        health = dockerfile_instruction(dockerfile, "HEALTHCHECK")
        assert "--port" not in cmd
        # Tests bind loopback only; the image binds 0.0.0.0, which is not what is under test.
        cmd = [LOOPBACK if arg == "0.0.0.0" else arg for arg in cmd]  # noqa: S104
        bin_dir = installed_default.path / ".venv" / "bin"
        port = free_port()
        env = service_env(
            installed_default.env,
            PORT=str(port),
            PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            AUTH_ISSUER=f"http://{LOOPBACK}:{free_port()}/issuer",
        )
        log = installed_default.path / "image-cmd.log"
        with log.open("wb") as output:
            service = subprocess.Popen(
                cmd,
                cwd=installed_default.path,
                env=env,
                stdout=output,
                stderr=output,
                stdin=subprocess.DEVNULL,
            )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://{LOOPBACK}:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert service.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            checked = subprocess.run(health, env=env, capture_output=True, check=False, timeout=30)
            assert checked.returncode == 0, checked.stderr
            elsewhere = {**env, "PORT": str(free_port())}
            missed = subprocess.run(
                health, env=elsewhere, capture_output=True, check=False, timeout=30
            )
            assert missed.returncode != 0
        finally:
            service.terminate()
            service.wait(timeout=30)


class TestKubernetes:
    """The manifests run as generated once the image name is filled in."""

    def test_image_is_a_tagged_placeholder_pulled_once(self, rendered_default: Path) -> None:
        """The image names a registry placeholder and a fixed tag, never `latest`."""
        deployment = yaml.safe_load(
            (rendered_default / "deploy/kubernetes/deployment.yaml").read_text()
        )
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "registry.example.com/litestar-jwks-service:0.1.0"
        assert container["imagePullPolicy"] == "IfNotPresent"

    def test_configmap_logs_json(self, rendered_default: Path) -> None:
        """The ConfigMap switches the service to JSON logs for the cluster's collector."""
        configmap = yaml.safe_load(
            (rendered_default / "deploy/kubernetes/configmap.yaml").read_text()
        )
        assert configmap["data"]["LOG_FORMAT"] == "json"

    def test_what_to_edit_is_written_down(self, rendered_default: Path) -> None:
        """deploy/kubernetes/README.md names the image placeholder that must be replaced."""
        readme = (rendered_default / "deploy/kubernetes/README.md").read_text()
        assert "registry.example.com/litestar-jwks-service:0.1.0" in readme


class TestWorkflow:
    """The generated GitHub Actions workflow is one GitHub would run."""

    @pytest.mark.parametrize("name", ["default", "py313"])
    def test_workflow_passes_actionlint(self, request: pytest.FixtureRequest, name: str) -> None:
        """The actionlint linter accepts the rendered workflow (expressions survived Jinja)."""
        project: Path = request.getfixturevalue(f"rendered_{name}")
        run([tool("actionlint"), ".github/workflows/ci.yml"], project)

    def test_checks_run_once_on_the_locked_dependencies(self, rendered_default: Path) -> None:
        """CI syncs from uv.lock, lints through pre-commit only, and runs the tests."""
        workflow = yaml.safe_load((rendered_default / ".github/workflows/ci.yml").read_text())
        runs = [step["run"] for step in workflow["jobs"]["test"]["steps"] if "run" in step]
        assert runs == [
            "uv sync --locked",
            "uv run --frozen pre-commit run --all-files --show-diff-on-failure",
            "uv run --frozen pytest",
        ]
        hooks = (rendered_default / ".pre-commit-config.yaml").read_text()
        for tool in ("ruff check", "ruff format", "mypy"):
            assert f"uv run --frozen {tool}" in hooks

    @pytest.mark.parametrize(("name", "docker"), [("default", True), ("py313", False)])
    def test_image_job_exactly_with_docker(
        self, request: pytest.FixtureRequest, name: str, docker: bool
    ) -> None:
        """With Docker files, CI lints the Dockerfile, builds the image and waits for its health."""
        project: Path = request.getfixturevalue(f"rendered_{name}")
        workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
        assert ("image" in workflow["jobs"]) is docker
        if docker:
            script = "\n".join(step.get("run", "") for step in workflow["jobs"]["image"]["steps"])
            for command in ("hadolint/hadolint < Dockerfile", "docker build", "PORT=9000"):
                assert command in script

    @pytest.mark.parametrize(
        ("name", "ecosystems"),
        [("default", ["uv", "github-actions", "docker"]), ("py313", ["uv", "github-actions"])],
    )
    def test_dependabot_watches_every_manifest(
        self, request: pytest.FixtureRequest, name: str, ecosystems: list[str]
    ) -> None:
        """Dependabot updates uv.lock, the actions, and the base image when there is one."""
        project: Path = request.getfixturevalue(f"rendered_{name}")
        config = yaml.safe_load((project / ".github/dependabot.yml").read_text())
        assert config["version"] == 2
        assert [update["package-ecosystem"] for update in config["updates"]] == ecosystems
        for update in config["updates"]:
            assert update["directory"] == "/"
            assert update["schedule"]["interval"] == "weekly"

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
