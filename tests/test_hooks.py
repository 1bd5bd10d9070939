"""Answer checks and hooks: a bad answer is refused at once, clearly; options prune files.

Answers are checked by the `check_answer` filter right after each question (cookiecutter renders
the `__check_<variable>` entries in order while it asks), and all at once by `check_answers` while
the pre-generation hook is rendered, for answers that skip the questions (replays, the API).
"""

from __future__ import annotations

import json
import os
import select
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import TEMPLATE_DIR, Bake, run
from cookiecutter.generate import generate_context
from cookiecutter.hooks import run_script_with_context
from cookiecutter.prompt import prompt_for_config
from cookiecutter.utils import create_env_with_context

sys.path.insert(0, str(TEMPLATE_DIR))  # where cookiecutter finds the template's extension, too
from local_extensions import AnswerError

HOOKS_DIR = TEMPLATE_DIR / "hooks"
HMAC_REASON = "a JWKS is public, so HMAC secrets cannot come from it"
ISSUER_SCHEME_LINE = (
    "issuer='ftp://x': 'ftp://x' is not an absolute http(s) URL, e.g. https://auth.example.com/"
)
NOTHING_WRITTEN = "Nothing was written."


@dataclass(frozen=True)
class BadAnswer:
    """One answer that must be refused before anything is written."""

    variable: str
    value: str
    hint: str = ""
    """A phrase the problem line must contain besides the variable and the value."""
    others: Mapping[str, str] = field(default_factory=dict)
    """Valid answers to give alongside, so that derived defaults do not fail too."""
    by_replay: bool = False
    """Cookiecutter's own API already refuses this value (choices, booleans), so it can only
    arrive from a replay file, which is handed over as is."""

    @property
    def id(self) -> str:
        """Readable test id."""
        return f"{self.variable}={self.value!r}"


VALID_SLUG_PACKAGE = {"package_name": "svc"}
BAD_ANSWERS = [
    BadAnswer("project_slug", "My-Service", "lowercase", VALID_SLUG_PACKAGE),
    BadAnswer("project_slug", "1service", "starting with a letter", VALID_SLUG_PACKAGE),
    BadAnswer("project_slug", "my_service", "hyphens", VALID_SLUG_PACKAGE),
    BadAnswer("project_slug", "my--service", "single hyphens", VALID_SLUG_PACKAGE),
    BadAnswer("project_slug", "-service", "", VALID_SLUG_PACKAGE),
    BadAnswer("project_slug", "service-", "", VALID_SLUG_PACKAGE),
    BadAnswer("project_slug", "my service", "", VALID_SLUG_PACKAGE),
    BadAnswer("package_name", "1pkg", "identifier"),
    BadAnswer("package_name", "My_pkg", "lowercase"),
    BadAnswer("package_name", "my-pkg", "identifier"),
    BadAnswer("package_name", "class", "keyword"),
    BadAnswer("package_name", "json", "standard library"),
    BadAnswer("package_name", "secrets", "standard library"),
    BadAnswer("package_name", "litestar", "dependency"),
    BadAnswer("package_name", "jose", "dependency"),
    BadAnswer("package_name", "pydantic_settings", "dependency"),
    BadAnswer("package_name", "pytest", "dependency"),
    BadAnswer("issuer", "ftp://x", "e.g. https://"),
    BadAnswer("issuer", "htps://auth.example.com", "absolute http(s) URL"),
    BadAnswer("issuer", "http://auth.example.com", "loopback"),
    BadAnswer("issuer", "auth.example.com", "absolute"),
    BadAnswer("issuer", "/issuer", "absolute"),
    BadAnswer("issuer", "https://", "absolute"),
    BadAnswer("issuer", "http://127.0.0.1.evil.example", "loopback"),
    BadAnswer("issuer", "http://localhost.evil.example", "loopback"),
    BadAnswer("issuer", "http://10.0.0.1/", "loopback"),
    BadAnswer("issuer", "https://auth example.com", "whitespace"),
    BadAnswer("issuer", " https://auth.example.com", "whitespace"),
    BadAnswer("issuer", "https://auth.example.com/#top", "fragment"),
    BadAnswer("issuer", "https://auth.example.com/#", "fragment"),
    BadAnswer("issuer", "https://auth.example.com/?tenant=1", "query"),
    BadAnswer("issuer", "https://auth.example.com:99999/", "port"),
    BadAnswer("issuer", "http://[::1/", "brackets"),
    BadAnswer("issuer", "ftp://o'connor\"\\x", "absolute"),
    BadAnswer("audience", ",", "empty item"),
    BadAnswer("audience", "api://a,", "empty item"),
    BadAnswer("audience", "api://a,,api://b", "empty item"),
    BadAnswer("audience", "api://a b", "whitespace"),
    BadAnswer("audience", "api://\U0001f600 b", "whitespace"),
    BadAnswer("algorithms", "", "at least one"),
    BadAnswer("algorithms", "none", "signature verification off"),
    BadAnswer("algorithms", "RS256,None", "signature verification off"),
    BadAnswer("algorithms", "HS256", HMAC_REASON),
    BadAnswer("algorithms", "RS256,HS512", HMAC_REASON),
    BadAnswer("algorithms", "rs256", "did you mean RS256?"),
    BadAnswer("algorithms", "EDDSA", "did you mean EdDSA?"),
    BadAnswer("algorithms", "RS256,,ES256", "empty item"),
    BadAnswer("algorithms", "ES256K", "not supported"),
    BadAnswer("author_email", "", "email"),
    BadAnswer("author_email", "you", "email"),
    BadAnswer("author_email", "you@", "email"),
    BadAnswer("author_email", "you@example", "email"),
    BadAnswer("author_email", "y ou@example.com", "email"),
    BadAnswer("license", "GPL-3.0", "Not open source", by_replay=True),
    BadAnswer("python_version", "3.10", "3.11, 3.12, 3.13", by_replay=True),
    BadAnswer("python_version", "3.14", "3.11, 3.12, 3.13", by_replay=True),
    BadAnswer("docker", "maybe", "boolean", by_replay=True),
    BadAnswer("docker", "", "boolean", by_replay=True),
    BadAnswer("github_actions", "sometimes", "boolean", by_replay=True),
]
ACCEPTED_ANSWERS: list[dict[str, Any]] = [
    {"issuer": "http://localhost:8000/issuer"},
    {"issuer": "http://127.0.0.1:9999/issuer"},
    {"issuer": "http://127.8.9.10/"},
    {"issuer": "http://[::1]:8080/issuer"},
    {"issuer": "https://auth.example.com/"},
    {"issuer": "HTTPS://auth.example.com"},
    {"issuer": "https://my-api-main-1a2b3c.zuplo.app/__zuplo/issuer"},
    {"audience": ""},
    {"audience": "api://a,api://b"},
    # Spaces around commas are trimmed, by the service's settings exactly as here.
    {"audience": "api://a, api://b"},
    {"algorithms": "RS256, ES256"},
    {"algorithms": "EdDSA"},
    {"package_name": "svc_2", "project_slug": "svc-2"},
    {"package_name": "_private_svc"},
    {"package_name": "match"},  # a soft keyword is a valid module name
    {"docker": "off", "github_actions": "YES"},
    {"docker": "0", "github_actions": "1"},
    {"license": "Not open source"},
]
# Answers that would break naive quoting in the rendered hooks.
HOSTILE = {
    "project_slug": 'it\'s "x" \\ {{ y }}',
    "issuer": "ftp://o'connor\"\\x/\U0001f600",
    "audience": "a\\b,'c' \"d\"",
}
HOOKS = ["pre_gen_project.py", "post_gen_project.py"]
TEMPLATE_CONFIG = str(TEMPLATE_DIR / "pyproject.toml")
RUFF = [sys.executable, "-m", "ruff"]
Replay = Callable[..., Path]


def problem_lines(error: AnswerError) -> list[str]:
    """The `variable='value': problem` lines of a refusal, without the re-run advice."""
    return error.message.split(f"\n{NOTHING_WRITTEN}")[0].splitlines()


def default_context() -> dict[str, Any]:
    """Cookiecutter's full context for the default answers, as a replay file stores it."""
    context = generate_context(context_file=TEMPLATE_DIR / "cookiecutter.json")
    context["cookiecutter"] = dict(prompt_for_config(context, no_input=True))
    return context


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    """An empty folder to render into, inside the test's own temporary folder."""
    path = tmp_path / "output"
    path.mkdir()
    return path


@pytest.fixture
def replay_with(tmp_path: Path) -> Replay:
    """Write a replay file holding the default answers with some raw answers changed."""

    def _replay_with(**answers: str) -> Path:
        context = default_context()
        context["cookiecutter"].update(answers)
        path = tmp_path / "replay" / "answers.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(context), encoding="utf-8")
        return path

    return _replay_with


class TestRejectedAnswers:
    """Bad answers are refused before any file is written, by the service's own rules."""

    @pytest.mark.parametrize(
        "bad", [bad for bad in BAD_ANSWERS if not bad.by_replay], ids=lambda bad: bad.id
    )
    def test_bad_answer_is_refused_as_soon_as_it_is_given(
        self, bad: BadAnswer, bake: Bake, output_dir: Path
    ) -> None:
        """A bad answer stops the questions with one line naming the variable and the value."""
        with pytest.raises(AnswerError) as refused:
            bake(output_dir, {bad.variable: bad.value, **bad.others})
        lines = problem_lines(refused.value)
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"{bad.variable}={bad.value!r}: ")
        assert bad.hint in lines[0]
        assert list(output_dir.iterdir()) == []

    @pytest.mark.parametrize("bad", BAD_ANSWERS, ids=lambda bad: bad.id)
    def test_bad_answer_in_a_replay_is_refused_alike(
        self, bad: BadAnswer, bake: Bake, replay_with: Replay, output_dir: Path
    ) -> None:
        """A replay skips the questions; the same line refuses it before any file is written."""
        with pytest.raises(AnswerError) as refused:
            bake(output_dir, replay=replay_with(**{bad.variable: bad.value}))
        lines = problem_lines(refused.value)
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"{bad.variable}={bad.value!r}: ")
        assert bad.hint in lines[0]
        assert [path for path in output_dir.rglob("*")] == []

    def test_issuer_message_says_what_to_do(self, bake: Bake, output_dir: Path) -> None:
        """A bad issuer gets the rule, an example, and a command that keeps the other answers."""
        with pytest.raises(AnswerError) as refused:
            bake(output_dir, {"issuer": "ftp://x", "project_name": "Orders API"})
        first, advice, command = refused.value.message.splitlines()
        assert first == ISSUER_SCHEME_LINE
        assert advice.startswith(NOTHING_WRITTEN)
        assert "you are asked for issuer again" in advice
        argv = shlex.split(command)
        assert argv[:2] == ["cookiecutter", str(TEMPLATE_DIR)]
        assert "project_name=Orders API" in argv
        assert "project_slug=orders-api" in argv
        assert not any(arg.startswith("issuer=") for arg in argv)

    def test_every_problem_of_a_replay_gets_its_own_line(
        self, bake: Bake, replay_with: Replay, output_dir: Path
    ) -> None:
        """Several bad answers of a replay are all reported at once, one line each, in order."""
        replay = replay_with(issuer="ftp://x", algorithms="HS256,none", author_email="nobody")
        with pytest.raises(AnswerError) as refused:
            bake(output_dir, replay=replay)
        lines = problem_lines(refused.value)
        assert [line.split("=")[0] for line in lines] == [
            "author_email",
            "issuer",
            "algorithms",
            "algorithms",
        ]
        assert HMAC_REASON in lines[2]
        assert "'none'" in lines[3]
        assert "asked for author_email, issuer, algorithms again" in refused.value.message

    def test_questions_stop_at_the_first_bad_answer(self, bake: Bake, output_dir: Path) -> None:
        """Given several bad answers at once, the first one in question order is refused."""
        with pytest.raises(AnswerError) as refused:
            bake(output_dir, {"issuer": "ftp://x", "algorithms": "HS256"})
        assert problem_lines(refused.value) == [ISSUER_SCHEME_LINE]

    def test_slug_with_a_path_separator_leaves_no_files(
        self, bake: Bake, replay_with: Replay, output_dir: Path
    ) -> None:
        """A slug holding `/` is refused and no file is left (a replay may leave empty dirs)."""
        with pytest.raises(AnswerError, match="project_slug='team/service'"):
            bake(output_dir, {"project_slug": "team/service", "package_name": "svc"})
        assert list(output_dir.iterdir()) == []
        with pytest.raises(AnswerError, match="project_slug='team/service'"):
            bake(output_dir, replay=replay_with(project_slug="team/service"))
        assert [path for path in output_dir.rglob("*") if not path.is_dir()] == []


class TestCookiecutterOwnGuards:
    """Choices and booleans are checked by cookiecutter itself before the hook can see them."""

    @pytest.mark.parametrize(
        ("variable", "value"),
        [("python_version", "3.10"), ("docker", "maybe"), ("github_actions", "sometimes")],
    )
    def test_api_refuses_values_outside_the_choices(
        self, bake: Bake, output_dir: Path, variable: str, value: str
    ) -> None:
        """Through the API or CLI, an impossible choice or boolean stops before any writing."""
        with pytest.raises(ValueError, match=variable):
            bake(output_dir, {variable: value})
        assert list(output_dir.iterdir()) == []


class TestAcceptedAnswers:
    """Unusual but valid answers render."""

    @pytest.mark.parametrize("answers", ACCEPTED_ANSWERS, ids=lambda answers: repr(answers))
    def test_valid_but_unusual_answers_render(
        self, answers: dict[str, Any], bake: Bake, output_dir: Path
    ) -> None:
        """Loopback http issuers, trailing slashes, empty audiences and the like pass the hook."""
        project = bake(output_dir, answers)
        assert project.is_dir()


def render_hook(name: str, answers: Mapping[str, Any], into: Path) -> Path:
    """Render hook `name` with `answers` into the folder `into`, as cookiecutter would."""
    context = {"cookiecutter": dict(answers)}
    source = (HOOKS_DIR / name).read_text(encoding="utf-8")
    rendered = create_env_with_context(context).from_string(source).render(**context)
    target = into / name
    target.write_text(rendered, encoding="utf-8")
    return target


def run_hook(name: str, answers: Mapping[str, Any], cwd: Path) -> None:
    """Render and run hook `name` with `answers` in `cwd`, exactly as cookiecutter does."""
    run_script_with_context(str(HOOKS_DIR / name), str(cwd), {"cookiecutter": dict(answers)})


class TestHookSources:
    """The hooks stay clean Python once rendered, whatever the answers hold."""

    def test_post_gen_hook_rendered_from_hostile_answers_is_lint_clean(
        self, tmp_path: Path
    ) -> None:
        """Quotes, backslashes and emoji in the answers still render to ruff-clean Python."""
        answers = {**default_context()["cookiecutter"], **HOSTILE}
        hook = render_hook("post_gen_project.py", answers, tmp_path)
        run([*RUFF, "check", "--no-cache", "--config", TEMPLATE_CONFIG, str(hook)], tmp_path)

    @pytest.mark.parametrize("name", HOOKS)
    def test_hook_rendered_from_default_answers_is_clean(self, name: str, tmp_path: Path) -> None:
        """With the default answers a rendered hook is ruff-clean and exactly as ruff formats it."""
        hook = render_hook(name, default_context()["cookiecutter"], tmp_path)
        for check in (["check"], ["format", "--check"]):
            run([*RUFF, *check, "--no-cache", "--config", TEMPLATE_CONFIG, str(hook)], tmp_path)

    def test_hostile_answers_reach_the_checks_unchanged(self, tmp_path: Path) -> None:
        """Rendering the pre-generation hook refuses exactly the characters that were answered."""
        answers = {**default_context()["cookiecutter"], **HOSTILE}
        with pytest.raises(AnswerError) as refused:
            render_hook("pre_gen_project.py", answers, tmp_path)
        lines = problem_lines(refused.value)
        for variable in ("project_slug", "issuer", "audience"):
            assert any(line.startswith(f"{variable}={HOSTILE[variable]!r}: ") for line in lines)


class TestPostGenHook:
    """The post-generation hook removes the files of disabled options and prints next steps."""

    @pytest.mark.parametrize("docker", ["yes", ""], ids=["docker-on", "docker-off"])
    @pytest.mark.parametrize("actions", ["yes", ""], ids=["actions-on", "actions-off"])
    def test_disabled_options_lose_their_files(
        self, docker: str, actions: str, tmp_path: Path
    ) -> None:
        """Dockerfile/.dockerignore and .github go exactly when their option is off."""
        project = tmp_path / "project"
        (project / ".github" / "workflows").mkdir(parents=True)
        for name in ("Dockerfile", ".dockerignore", ".github/workflows/ci.yml", "README.md"):
            (project / name).write_text("x", encoding="utf-8")
        answers = {"project_slug": "svc", "__docker": docker, "__github_actions": actions}
        run_hook("post_gen_project.py", answers, project)
        assert (project / "Dockerfile").exists() is bool(docker)
        assert (project / ".dockerignore").exists() is bool(docker)
        assert (project / ".github").exists() is bool(actions)
        assert (project / "README.md").exists()

    def test_missing_optional_files_are_fine(self, tmp_path: Path) -> None:
        """Turning options off succeeds even when their files were never generated."""
        answers = {"project_slug": "svc", "__docker": "", "__github_actions": ""}
        run_hook("post_gen_project.py", answers, tmp_path)
        assert list(tmp_path.iterdir()) == []

    def test_next_steps_are_printed(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """After generation the user is told how to enter, run, get a token and test."""
        answers = {"project_slug": "svc", "__docker": "yes", "__github_actions": "yes"}
        run_hook("post_gen_project.py", answers, tmp_path)
        out = capfd.readouterr().out
        for step in ("cd svc", "uv run svc dev", "uv run svc token", "uv run pytest"):
            assert step in out


def cookiecutter_cli() -> str:
    """The cookiecutter command of the template's environment."""
    return str(Path(sys.executable).with_name("cookiecutter"))


class TestCommandLine:
    """What a user of the `cookiecutter` command sees when an answer is refused."""

    def test_refusal_prints_no_traceback_and_a_working_command(
        self, tmp_path: Path, cookiecutter_config: Path
    ) -> None:
        """Exit 1 with the problem; the printed command, with the fix added, keeps the answers."""
        output = tmp_path / "out"
        answers = ["project_name=Orders API", "issuer=htps://auth.example.com", "docker=no"]
        cmd = [cookiecutter_cli(), "--no-input", "--config-file", str(cookiecutter_config)]
        first = subprocess.run(
            [*cmd, "-o", str(output), str(TEMPLATE_DIR), *answers],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        shown = first.stdout + first.stderr
        assert first.returncode == 1, shown
        assert "Traceback" not in shown
        assert "Error: issuer='htps://auth.example.com': " in shown
        assert not output.exists()
        rerun = shlex.split(shown.strip().splitlines()[-1])
        assert rerun[0] == "cookiecutter"
        run([cookiecutter_cli(), *rerun[1:], "issuer=https://auth.example.com/"], tmp_path)
        replay = json.loads((output / "orders-api" / ".cookiecutter-replay.json").read_text())
        assert replay["cookiecutter"]["issuer"] == "https://auth.example.com/"
        assert replay["cookiecutter"]["docker"] is False
        assert not (output / "orders-api" / "Dockerfile").exists()

    def test_bad_replay_file_prints_no_traceback(
        self, tmp_path: Path, replay_with: Replay, cookiecutter_config: Path
    ) -> None:
        """A replay file with a bad answer ends with the problem and no traceback, no files."""
        output = tmp_path / "out"
        result = subprocess.run(
            [
                cookiecutter_cli(),
                "--config-file",
                str(cookiecutter_config),
                "-o",
                str(output),
                "--replay-file",
                str(replay_with(algorithms="rs256")),
                str(TEMPLATE_DIR),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        shown = result.stdout + result.stderr
        assert result.returncode == 1, shown
        assert "Traceback" not in shown
        assert "algorithms='rs256': 'rs256' is not supported" in shown
        assert "did you mean RS256?" in shown
        assert "--replay" not in shown.splitlines()[-1]
        assert [path for path in output.rglob("*") if not path.is_dir()] == []


class Terminal:
    """A command running under a pseudo-terminal, as a user at a keyboard would run it."""

    def __init__(self, cmd: list[str], cwd: Path) -> None:
        """Start `cmd` with its stdin, stdout and stderr on a new pseudo-terminal."""
        import pty

        self.master, slave = pty.openpty()
        env = {**os.environ, "TERM": "dumb", "COLUMNS": "200", "NO_COLOR": "1"}
        self.process = subprocess.Popen(
            cmd, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
        )
        os.close(slave)
        self.screen = ""

    def read_until(self, text: str, timeout: float = 60.0) -> str:
        """Read the output until `text` shows (or the command ends); return what was read."""
        deadline = time.monotonic() + timeout
        while text not in self.screen and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the command ended and closed the terminal
                    break
                if not chunk:
                    break
                self.screen += chunk.decode("utf-8", errors="replace")
            elif self.process.poll() is not None:
                break
        return self.screen

    def answer(self, prompt: str, text: str = "") -> None:
        """Wait for `prompt`, then type `text` and Enter."""
        assert prompt in self.read_until(prompt), self.screen
        os.write(self.master, text.encode() + b"\r")

    def close(self) -> int:
        """Wait for the command to end; return its exit status."""
        self.read_until("\0", timeout=5.0)
        status = self.process.wait(timeout=30)
        os.close(self.master)
        return status


class TestInteractive:
    """Prompted answers, typed at a terminal."""

    def test_typo_in_the_issuer_stops_right_after_it(
        self, tmp_path: Path, cookiecutter_config: Path
    ) -> None:
        """A bad issuer is refused as soon as it is typed, before the next question, cleanly."""
        terminal = Terminal(
            [cookiecutter_cli(), "--config-file", str(cookiecutter_config), str(TEMPLATE_DIR)],
            tmp_path,
        )
        for prompt in ("Project name", "Project slug", "Python package name", "description"):
            terminal.answer(prompt)
        for prompt in ("Author name", "Author email", "License", "Who issues the tokens?"):
            terminal.answer(prompt)
        terminal.answer("JWT issuer URL", "htps://auth.example.com")
        status = terminal.close()
        screen = terminal.screen
        assert status == 1, screen
        after = screen[screen.index("htps://auth.example.com") :]
        assert "Error: issuer='htps://auth.example.com': " in after
        assert "Expected audience" not in after
        assert "Traceback" not in screen
        rerun = shlex.split(after.strip().splitlines()[-1])
        assert rerun[:4] == [
            "cookiecutter",
            "--config-file",
            str(cookiecutter_config),
            str(TEMPLATE_DIR),
        ]
        assert rerun[4:] == [
            "project_slug=litestar-jwks-service",
            "package_name=litestar_jwks_service",
        ]
        assert list(tmp_path.iterdir()) == []
