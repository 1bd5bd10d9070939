"""The rendered project: no Jinja left, the chosen files, a valid pyproject, compiling Python."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import VARIANTS, Bake, Variant, rendered

# `${{ ... }}` is GitHub Actions' own expression syntax, which a workflow legitimately keeps.
LEFTOVER_JINJA = re.compile(r"(?<!\$)\{\{|\{%|\{#")
# Each optional path and the answer that must keep it.
OPTIONAL_PATHS = {
    "Dockerfile": "docker",
    ".dockerignore": "docker",
    "deploy/kubernetes/deployment.yaml": "docker",
    ".github/workflows/ci.yml": "github_actions",
    ".github": "github_actions",
}


@dataclass(frozen=True)
class Rendered:
    """A variant and the folder it rendered into."""

    variant: Variant
    path: Path

    def text_files(self) -> dict[Path, str]:
        """Map each UTF-8 text file to its content; binary files are left out."""
        texts = {}
        for path in sorted(self.path.rglob("*")):
            if not path.is_file():
                continue
            data = path.read_bytes()
            if b"\0" in data:
                continue
            try:
                texts[path] = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
        return texts

    def pyproject(self) -> dict[str, object]:
        """Parse the project's pyproject.toml."""
        with (self.path / "pyproject.toml").open("rb") as file:
            return tomllib.load(file)


@pytest.fixture(params=list(VARIANTS))
def project(request: pytest.FixtureRequest) -> Rendered:
    """Each variant's rendered project (rendered once per session)."""
    name: str = request.param
    return Rendered(VARIANTS[name], request.getfixturevalue(rendered(name)))


class TestNoLeftoverJinja:
    """Rendering leaves no template syntax behind."""

    def test_no_jinja_markers_in_any_text_file(self, project: Rendered) -> None:
        """No text file of the rendered project contains `{{`, `{%` or `{#`."""
        leftovers = [
            f"{path.relative_to(project.path)}:{number}: {line.strip()}"
            for path, text in project.text_files().items()
            for number, line in enumerate(text.splitlines(), start=1)
            if LEFTOVER_JINJA.search(line)
        ]
        assert leftovers == []

    def test_no_jinja_markers_in_any_path(self, project: Rendered) -> None:
        """No file or folder name of the rendered project keeps template syntax."""
        names = [str(path.relative_to(project.path)) for path in project.path.rglob("*")]
        assert [name for name in names if LEFTOVER_JINJA.search(name)] == []

    def test_no_editor_or_patch_leftovers(self, project: Rendered) -> None:
        """No `.orig`, `.rej`, `~` or swap file ships in the project (a patch's or an editor's)."""
        names = [str(path.relative_to(project.path)) for path in project.path.rglob("*")]
        assert [name for name in names if re.search(r"(\.orig|\.rej|~|\.swp)$", name)] == []


class TestConditionalFiles:
    """Optional files exist exactly when their option is on."""

    @pytest.mark.parametrize(("relative", "option"), OPTIONAL_PATHS.items())
    def test_optional_path_follows_its_answer(
        self, project: Rendered, relative: str, option: str
    ) -> None:
        """An optional path is present when its option is on and absent when it is off."""
        wanted: bool = getattr(project.variant, option)
        assert (project.path / relative).exists() is wanted


class TestLayout:
    """The project has the promised shape and metadata."""

    def test_project_folder_is_named_by_the_slug(self, project: Rendered) -> None:
        """The rendered folder is named after the project slug."""
        assert project.path.name == project.variant.slug

    def test_package_lives_under_src(self, project: Rendered) -> None:
        """The import package is `src/<package_name>/` with an `__init__.py`."""
        assert (project.path / "src" / project.variant.package_name / "__init__.py").is_file()

    def test_pyproject_names_the_distribution_and_minimum_python(self, project: Rendered) -> None:
        """pyproject.toml parses and carries the slug and `>=` the chosen Python version."""
        metadata = project.pyproject()["project"]
        assert isinstance(metadata, dict)
        assert metadata["name"] == project.variant.slug
        assert metadata["requires-python"] == f">={project.variant.python_version}"

    def test_every_python_file_compiles(self, project: Rendered) -> None:
        """Every rendered `.py` file is valid Python source."""
        sources = sorted(project.path.rglob("*.py"))
        assert sources, "the project has no Python files"
        for source in sources:
            compile(source.read_text(encoding="utf-8"), str(source), "exec", dont_inherit=True)


class TestAwkwardAnswers:
    """Quotes, backslashes and non-ASCII answers survive rendering unchanged."""

    @pytest.fixture
    def project(self, request: pytest.FixtureRequest) -> Rendered:
        """The project rendered from the awkward answers."""
        return Rendered(VARIANTS["awkward"], request.getfixturevalue(rendered("awkward")))

    def test_author_name_round_trips_through_toml(self, project: Rendered) -> None:
        """The author's name reads back from pyproject.toml exactly as it was answered."""
        authors = project.pyproject()["project"]["authors"]  # type: ignore[index]
        assert authors[0]["name"] == project.variant.extra_context["author_name"]

    def test_description_round_trips_through_toml(self, project: Rendered) -> None:
        """The description reads back from pyproject.toml exactly as it was answered."""
        description = project.pyproject()["project"]["description"]  # type: ignore[index]
        assert description == project.variant.extra_context["description"]


LICENSE_FIRST_LINES = {
    "MIT": "MIT License",
    "Apache-2.0": "Apache License",
    "BSD-3-Clause": "BSD 3-Clause License",
}


class TestLicense:
    """The license answer picks the LICENSE file and the package metadata."""

    @pytest.mark.parametrize("choice", list(LICENSE_FIRST_LINES))
    def test_open_source_license(self, choice: str, bake: Bake, tmp_path: Path) -> None:
        """An open-source choice writes its text and its SPDX identifier into pyproject.toml."""
        project = bake(tmp_path, {"license": choice, "author_name": "Ada"})
        text = (project / "LICENSE").read_text(encoding="utf-8")
        assert text.lstrip().startswith(LICENSE_FIRST_LINES[choice])
        assert text.endswith("\n")
        assert not text.endswith("\n\n")
        metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
        assert metadata["license"] == choice
        assert "classifiers" not in metadata
        if choice != "Apache-2.0":  # Apache's text names its holder in each file's header
            assert "Ada" in text

    def test_not_open_source(self, bake: Bake, tmp_path: Path) -> None:
        """Not open source: a proprietary notice, and metadata that PyPI refuses to publish."""
        project = bake(tmp_path, {"license": "Not open source", "author_name": "Ada"})
        text = (project / "LICENSE").read_text(encoding="utf-8")
        assert text.startswith("Copyright (c) ")
        assert "Ada. All rights reserved." in text
        metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
        assert metadata["license"] == "LicenseRef-Proprietary"
        assert metadata["classifiers"] == ["Private :: Do Not Upload"]


class TestReplayFile:
    """The project records its answers in a file that `cookiecutter --replay-file` takes."""

    def test_replaying_the_recorded_answers_reproduces_the_project(
        self, bake: Bake, tmp_path: Path
    ) -> None:
        """Generated again from its own replay file, a project comes out identical."""
        answers = {"project_name": "Orders API", "audience": "api://orders", "docker": False}
        first = bake(tmp_path / "first", answers)
        second = bake(tmp_path / "second", replay=first / ".cookiecutter-replay.json")
        files = sorted(path.relative_to(first) for path in first.rglob("*") if path.is_file())
        assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
        assert [f for f in files if (first / f).read_bytes() != (second / f).read_bytes()] == []
        recorded = json.loads((first / ".cookiecutter-replay.json").read_text())["cookiecutter"]
        assert recorded["audience"] == "api://orders"
        assert not {"_output_dir", "_repo_dir"} & set(recorded)


class TestQuotedAnswers:
    """Answers beyond the awkward variant's: emoji and control-free odd characters."""

    def test_emoji_and_apostrophes_read_back_from_toml_and_yaml(
        self, bake: Bake, tmp_path: Path
    ) -> None:
        """pyproject.toml and the ConfigMap hold the answers literally and read them back."""
        answers = {
            "description": 'The issuer\'s \U0001f600 keys \\ "quoted" \t tab',
            "author_name": "Zoë O'Brien",
            "audience": 'api://o\'brien\\x,"q"',
        }
        project = bake(tmp_path, answers)
        pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
        assert "\\u0027" not in pyproject
        assert "Zoë O'Brien" in pyproject
        metadata = tomllib.loads(pyproject)["project"]
        assert metadata["description"] == answers["description"]
        assert metadata["authors"][0]["name"] == answers["author_name"]
        configmap = yaml.safe_load((project / "deploy/kubernetes/configmap.yaml").read_text())
        assert configmap["data"]["AUTH_AUDIENCE"] == answers["audience"]
