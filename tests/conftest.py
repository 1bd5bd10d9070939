"""Render the template once per session per variant, and give each installable variant a uv env.

Fixture names are derived from variant names: `rendered_<name>` is the rendered project folder and
`installed_<name>` a copy of it with a fresh `uv sync`ed environment (dashes become underscores).
Tests pick them with `request.getfixturevalue(rendered(name))` / `installed(name)`.

The `awkward` variant only renders and compiles: it exists to prove that quotes, backslashes and
non-ASCII answers survive rendering into TOML and Python, which needs no installed environment, and
an install would add a fourth uv sync to every run for no extra coverage of the generated code.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
OUTPUT_TAIL_LINES = 60
COMMAND_TIMEOUT_SECONDS = 900  # a stuck subprocess fails its test instead of eating CI's budget
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on"})


@dataclass(frozen=True)
class Variant:
    """One way of answering the template's questions."""

    name: str
    """Identifier used in test ids and fixture names."""
    extra_context: Mapping[str, Any] = field(default_factory=dict)
    """Answers that differ from cookiecutter.json's defaults, as the cookiecutter API takes them."""
    slug: str = "litestar-jwks-service"
    """The project slug that these answers must produce."""
    installable: bool = True
    """Whether the generated project gets a uv environment and its own checks run."""

    def answer(self, variable: str, default: Any) -> Any:  # noqa: ANN401 - answers are any JSON
        """Return this variant's answer to `variable`, or `default` when it keeps the default."""
        return self.extra_context.get(variable, default)

    @property
    def package_name(self) -> str:
        """The import package the project must contain."""
        return self.slug.replace("-", "_")

    @property
    def python_version(self) -> str:
        """The minimum Python version chosen (the first choice is the default)."""
        return str(self.answer("python_version", "3.11"))

    @property
    def docker(self) -> bool:
        """Whether Docker files are wanted, normalised like a CLI string."""
        return str(self.answer("docker", True)).lower() in TRUE_WORDS

    @property
    def mcp_server(self) -> bool:
        """Whether the MCP endpoint is wanted, normalised like a CLI string."""
        return str(self.answer("mcp_server", False)).lower() in TRUE_WORDS

    @property
    def github_actions(self) -> bool:
        """Whether a GitHub Actions workflow is wanted, normalised like a CLI string."""
        return str(self.answer("github_actions", True)).lower() in TRUE_WORDS


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant("default"),
        Variant(
            "py312-minimal",
            {
                "python_version": "3.12",
                "docker": False,
                "github_actions": False,
                "mcp_server": True,
            },
        ),
        Variant(
            "py313",
            {
                "python_version": "3.13",
                "docker": "false",  # a string, exactly as `cookiecutter . docker=false` sends it
                "github_actions": True,
                "issuer_profile": "zuplo",
                "audience": "api://a,api://b",
                "algorithms": "EdDSA,RS256",
                "issuer": "http://127.0.0.1:9999/issuer",
            },
        ),
        Variant(
            "awkward",
            {
                "project_name": 'O\'Connor "Q" Café',
                "author_name": 'O\'Connor "Q" \\ Ünïcode',
                "description": "Says \"hi\" to O'Connor's \\ service; \\n stays two characters.",
            },
            slug="o-connor-q-cafe",
            installable=False,
        ),
    )
}
INSTALLABLE = tuple(name for name, variant in VARIANTS.items() if variant.installable)


def rendered(name: str) -> str:
    """Name of the session fixture holding the rendered project of variant `name`."""
    return "rendered_" + name.replace("-", "_")


def installed(name: str) -> str:
    """Name of the session fixture holding the synced copy of variant `name`."""
    return "installed_" + name.replace("-", "_")


def _tail(text: str) -> str:
    lines = text.rstrip().splitlines()
    skipped = len(lines) - OUTPUT_TAIL_LINES
    shown = "\n".join(lines[-OUTPUT_TAIL_LINES:])
    return f"[... {skipped} lines cut ...]\n{shown}" if skipped > 0 else shown


def run(
    cmd: list[str], cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `cmd` in `cwd`; fail the test with the command, exit code and output tails otherwise."""
    try:
        result = subprocess.run(
            cmd,
            cwd=cwd,
            env=None if env is None else dict(env),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(
            f"$ {' '.join(cmd)}  (in {cwd})\ntimed out after {expired.timeout} s", pytrace=False
        )
    if result.returncode != 0:
        pytest.fail(
            f"$ {' '.join(cmd)}  (in {cwd})\nexit code {result.returncode}\n"
            f"--- stdout (tail) ---\n{_tail(result.stdout)}\n"
            f"--- stderr (tail) ---\n{_tail(result.stderr)}",
            pytrace=False,
        )
    return result


@dataclass(frozen=True)
class Installed:
    """A rendered project copy with its own synced uv environment."""

    path: Path
    """The project root, holding `.venv`."""
    env: Mapping[str, str]
    """Environment for commands run in it: pinned interpreter, no downloads, no outer venv."""

    def run(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        """Run `cmd` in the project root with the project's environment."""
        return run(list(cmd), self.path, self.env)


def uv_environment(python: Path) -> dict[str, str]:
    """Environment for uv inside a generated project: the default cache, no outer venv."""
    env = {
        key: value
        for key, value in os.environ.items()
        # The template's own `uv run` exports these; inherited, they would point uv at our venv,
        # and the outer pytest's own variables would leak into the generated project's pytest.
        if key not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "PYTHONHOME"}
        and not key.startswith("PYTEST_")
    }
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_PYTHON"] = str(python)
    return env


def _version_key(python: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in python.parent.parent.name.split("."))


def find_interpreter(version: str) -> Path | None:
    """Find a Python `version` ("3.12") already on the machine: uv first, then pyenv's folders."""
    if shutil.which("uv"):
        found = subprocess.run(
            ["uv", "python", "find", "--system", "--no-project", version],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        )
        if found.returncode == 0 and found.stdout.strip():
            return Path(found.stdout.strip())
    pyenv_root = os.environ.get("PYENV_ROOT")
    if not pyenv_root and shutil.which("pyenv"):
        pyenv_root = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=False
        ).stdout.strip()
    pyenv_root = pyenv_root or str(Path.home() / ".pyenv")
    candidates = [
        path
        for path in Path(pyenv_root, "versions").glob(f"{version}.*/bin/python")
        if re.fullmatch(rf"{re.escape(version)}\.\d+", path.parent.parent.name)
    ]
    return max(candidates, key=_version_key, default=None)


@pytest.fixture(scope="session")
def cookiecutter_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user config that keeps cookiecutter's replay and clone folders out of the home folder."""
    root = tmp_path_factory.mktemp("cookiecutter-home")
    config = root / "config.yaml"
    config.write_text(
        f"cookiecutters_dir: {root / 'cookiecutters'}\nreplay_dir: {root / 'replay'}\n",
        encoding="utf-8",
    )
    return config


Bake = Callable[..., Path]


@pytest.fixture(scope="session")
def bake(cookiecutter_config: Path) -> Bake:
    """Render the template into a folder without prompting; return the project folder."""

    def _bake(
        output_dir: Path,
        extra_context: Mapping[str, Any] | None = None,
        *,
        replay: Path | None = None,
    ) -> Path:
        if replay is not None:
            project = cookiecutter(
                str(TEMPLATE_DIR),
                replay=str(replay),
                output_dir=str(output_dir),
                config_file=str(cookiecutter_config),
            )
        else:
            project = cookiecutter(
                str(TEMPLATE_DIR),
                no_input=True,
                extra_context=dict(extra_context or {}),
                output_dir=str(output_dir),
                config_file=str(cookiecutter_config),
            )
        return Path(project)

    return _bake


def _rendered_fixture(variant: Variant) -> Callable[..., Path]:
    @pytest.fixture(scope="session", name=rendered(variant.name))
    def _fixture(tmp_path_factory: pytest.TempPathFactory, bake: Bake) -> Path:
        return bake(tmp_path_factory.mktemp(f"render-{variant.name}"), variant.extra_context)

    _fixture.__doc__ = f"The template rendered once with the {variant.name!r} answers."
    return _fixture


def _installed_fixture(variant: Variant) -> Callable[..., Installed]:
    @pytest.fixture(scope="session", name=installed(variant.name))
    def _fixture(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Installed:
        python = find_interpreter(variant.python_version)
        if python is None:
            reason = (
                f"no Python {variant.python_version} on this machine (tried `uv python find "
                f"{variant.python_version}` and pyenv's versions/{variant.python_version}.*)"
            )
            if os.environ.get("CI"):
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)
        source: Path = request.getfixturevalue(rendered(variant.name))
        # A copy, so the rendered tree that test_render inspects never grows a .venv or a .git.
        path = tmp_path_factory.mktemp(f"env-{variant.name}") / source.name
        shutil.copytree(source, path)
        project = Installed(path, uv_environment(python))
        project.run("uv", "sync", "--python", str(python))
        return project

    _fixture.__doc__ = f"A fresh uv environment for the {variant.name!r} project."
    return _fixture


for _variant in VARIANTS.values():
    globals()[rendered(_variant.name)] = _rendered_fixture(_variant)
    if _variant.installable:
        globals()[installed(_variant.name)] = _installed_fixture(_variant)
