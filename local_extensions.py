"""Jinja filters that cookiecutter loads from this template (`_extensions` in cookiecutter.json).

`check_answer` runs while cookiecutter asks its questions (through the `__check_<variable>` entries
that follow the questions in cookiecutter.json), so a bad answer is refused as soon as it is typed;
`check_answers` runs while the pre-generation hook is rendered, for answers that skipped the
questions (`--replay`, `--replay-file`, the Python API, `cruft update`). Either way a refusal is a
`click.ClickException`: the cookiecutter and cruft commands print it and exit with status 1, with
no traceback, before any project file is written. The issuer, audience and algorithm rules are the
generated service's own (`auth/rules.py`), loaded from the template by path.
"""

from __future__ import annotations

import importlib
import json
import keyword
import re
import shlex
import sys
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
from jinja2 import Environment
from jinja2.ext import Extension

TEMPLATE_ROOT = Path(__file__).resolve().parent
PROJECT = TEMPLATE_ROOT / "{{cookiecutter.project_slug}}"
AUTH_DIR = PROJECT / "src" / "{{cookiecutter.package_name}}" / "auth"
# The template's own defaults: a re-run command leaves out the answers that merely repeat them.
DEFAULTS: dict[str, Any] = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text("utf-8"))
# Replay keys that describe one run on one machine, not the answers.
MACHINE_KEYS = frozenset({"_output_dir", "_repo_dir"})
TOML_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
EXTRA_CONTEXT_ARG = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause", "Not open source")
BOOLEAN_WORDS = frozenset({"true", "false", "yes", "no", "y", "n", "1", "0", "on", "off"})
# Import names of the generated project's dependencies: a package of that name would shadow them.
DEPENDENCY_IMPORTS = frozenset(
    {
        "cachetools",
        "click",
        "httpx",
        "jose",
        "litestar",
        "pydantic",
        "pydantic_settings",
        "pytest",
        "uvicorn",
    }
)
SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def load_service_rules() -> types.ModuleType:
    """Import the template's `auth/rules.py` (with the `urls.py` it uses) without its package.

    `auth/profiles.py` (which needs only `auth/errors.py`) is importable the same way after it.

    The real package's `__init__.py` imports Litestar, which generation does not have; a bare
    package object pointing at the folder lets `rules.py` keep its relative import.
    """
    name = "_litestar_jwks_template_auth"
    package = types.ModuleType(name)
    package.__path__ = [str(AUTH_DIR)]
    sys.modules[name] = package
    return importlib.import_module(f"{name}.rules")


rules = load_service_rules()
profiles = importlib.import_module("_litestar_jwks_template_auth.profiles")


class AnswerError(click.ClickException):
    """An answer that cannot make a project; the message says why and how to run again."""


def check_project_slug(value: str) -> list[str]:
    """Say what is wrong with the distribution and command name."""
    if SLUG.fullmatch(value):
        return []
    return [
        "use lowercase letters and digits in words joined by single hyphens, "
        "starting with a letter, e.g. my-auth-service"
    ]


def check_package_name(value: str) -> list[str]:
    """Say what is wrong with the import name."""
    fix = "choose another name, e.g. my_auth_service"
    if not IDENTIFIER.fullmatch(value):
        return [
            "use a Python identifier of lowercase letters, digits and underscores, "
            "not starting with a digit, e.g. my_auth_service"
        ]
    if keyword.iskeyword(value):
        return [f"it is a Python keyword: {fix}"]
    if value in sys.stdlib_module_names:
        return [f"it would shadow the standard library module of that name: {fix}"]
    if value in DEPENDENCY_IMPORTS:
        return [f"it would shadow the dependency imported under that name: {fix}"]
    return []


def check_issuer(value: str) -> list[str]:
    """Say what is wrong with the issuer URL (the service's own rule)."""
    problem = rules.issuer_problem(value)
    return [problem] if problem else []


def check_author_email(value: str) -> list[str]:
    """Say what is wrong with the author's email address."""
    return [] if EMAIL.fullmatch(value) else ["use an email address, e.g. you@example.com"]


def check_python_version(value: str) -> list[str]:
    """Say what is wrong with the minimum Python version (only a replay can get this wrong)."""
    return [] if value in PYTHON_VERSIONS else [f"choose one of {', '.join(PYTHON_VERSIONS)}"]


def check_license(value: str) -> list[str]:
    """Say what is wrong with the license choice (only a replay can get this wrong)."""
    return [] if value in LICENSES else [f"choose one of {', '.join(LICENSES)}"]


def check_issuer_profile(value: str) -> list[str]:
    """Say what is wrong with the provider profile (only a replay can get this wrong)."""
    return [] if value in profiles.PROFILES else [f"choose one of {', '.join(profiles.PROFILES)}"]


def check_audience_for_profile(answers: Mapping[str, Any]) -> list[str]:
    """The profile's own audience rule: Google's ID tokens, for one, are safe only with one."""
    profile = profiles.PROFILES.get(str(answers.get("issuer_profile", "generic")))
    if profile is not None and profile.requires_audience and not str(answers["audience"]).strip():
        return [f"the {profile.name} profile needs an audience: {profile.audience_hint}"]
    return []


def check_boolean(value: str) -> list[str]:
    """Say what is wrong with a yes/no answer (only a replay can get this wrong)."""
    if value.lower() in BOOLEAN_WORDS:
        return []
    return [f"answer a boolean: one of {'/'.join(sorted(BOOLEAN_WORDS))}"]


CHECKS: dict[str, Callable[[str], list[str]]] = {
    "project_slug": check_project_slug,
    "package_name": check_package_name,
    "license": check_license,
    "issuer_profile": check_issuer_profile,
    "issuer": check_issuer,
    "audience": rules.audience_problems,
    "algorithms": rules.algorithms_problems,
    "author_email": check_author_email,
    "python_version": check_python_version,
    "docker": check_boolean,
    "github_actions": check_boolean,
}


def problems_with(answers: Mapping[str, Any], variables: list[str]) -> list[str]:
    """One `variable='value': problem` line per problem, in question order."""
    return [
        f"{variable}={str(answers[variable])!r}: {problem}"
        for variable in variables
        for problem in [
            *CHECKS[variable](str(answers[variable])),
            *(check_audience_for_profile(answers) if variable == "audience" else []),
        ]
    ]


def _cli_value(value: Any) -> str:  # noqa: ANN401 - answers are any JSON value
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _is_default(name: str, value: Any) -> bool:  # noqa: ANN401 - answers are any JSON value
    default = DEFAULTS.get(name)
    return value == (default[0] if isinstance(default, list) else default)


def _without(args: list[str], flags: set[str], valued: set[str]) -> list[str]:
    """`args` without the `flags` and without the options in `valued` and their values."""
    kept: list[str] = []
    skip_next = False
    for arg in args:
        if skip_next:
            skip_next = False
        elif arg in valued:
            skip_next = True
        elif arg not in flags and arg.split("=", 1)[0] not in valued:
            kept.append(arg)
    return kept


def rerun_command(answers: Mapping[str, Any], dropped: set[str]) -> str:
    """Build the command that runs this generation again with the answers kept, except `dropped`."""
    kept = {
        name: _cli_value(value)
        for name, value in answers.items()
        if not name.startswith("_") and name not in dropped and not _is_default(name, value)
    }
    program, args = Path(sys.argv[0]), sys.argv[1:]
    if program.name == "cruft":
        args = _without(args, set(), {"--extra-context", "--extra-context-file", "-E"})
        return shlex.join(["cruft", *args, "--extra-context", json.dumps(kept, ensure_ascii=False)])
    if program.name == "cookiecutter" or program.parent.name == "cookiecutter":
        given = dict(arg.split("=", 1) for arg in args if EXTRA_CONTEXT_ARG.match(arg))
        options = [arg for arg in args if not EXTRA_CONTEXT_ARG.match(arg)]
        options = _without(options, {"--replay"}, {"--replay-file"})
        merged = {**{k: v for k, v in given.items() if k not in dropped}, **kept}
    else:  # the Python API: name the template folder itself
        options, merged = [str(TEMPLATE_ROOT)], kept
    return shlex.join(["cookiecutter", *options, *(f"{k}={v}" for k, v in merged.items())])


def check_answer(answers: Mapping[str, Any], variable: str) -> str:
    """Refuse the answer to `variable` right after it was given; render as nothing otherwise."""
    if variable not in answers:  # a replay from an older template: check_answers catches it
        return ""
    problems = problems_with(answers, [variable])
    if problems:
        raise AnswerError(
            "\n".join(problems)
            + f"\nNothing was written. To run again with your other answers kept "
            f"(you are asked for {variable} again, or add {variable}=... to the command):\n  "
            + rerun_command(answers, {variable})
        )
    return ""


def check_answers(answers: Mapping[str, Any]) -> str:
    """Refuse every bad answer at once, in question order (answers that skipped the questions)."""
    bad = [name for name in answers if name in CHECKS and problems_with(answers, [name])]
    if not bad:
        return ""
    # The output folder exists (empty) by the time the hook is rendered; leave nothing behind.
    project = Path(str(answers.get("_output_dir", ".")), str(answers["project_slug"]))
    if project.is_dir() and not any(project.iterdir()):
        project.rmdir()
    raise AnswerError(
        "\n".join(problems_with(answers, bad))
        + "\nNothing was written. To run again with the good answers kept "
        f"(you are asked for {', '.join(bad)} again):\n  " + rerun_command(answers, set(bad))
    )


def replay_json(answers: Mapping[str, Any]) -> str:
    """Write the answers as a `cookiecutter --replay-file` file, without this machine's paths."""
    kept = {name: value for name, value in answers.items() if name not in MACHINE_KEYS}
    return json.dumps({"cookiecutter": kept}, indent=2, ensure_ascii=False)


def quoted_string(value: str) -> str:
    """Quote `value` as a double-quoted string that TOML and YAML both read back exactly.

    Only quotes, backslashes and control characters are escaped. Jinja's `tojson` also escapes
    the apostrophe and non-ASCII (unreadable in pyproject.toml), and writes characters beyond
    U+FFFF as surrogate pairs, which TOML refuses.
    """
    escaped = "".join(
        TOML_ESCAPES.get(char, f"\\u{ord(char):04x}" if char < " " or char == "\x7f" else char)
        for char in str(value)
    )
    return f'"{escaped}"'


class AnswerChecks(Extension):
    """Adds the filters `check_answer`, `check_answers`, `replay_json` and `quoted_string`."""

    def __init__(self, environment: Environment) -> None:
        """Register the filters on `environment`."""
        super().__init__(environment)
        environment.filters["check_answer"] = check_answer
        environment.filters["check_answers"] = check_answers
        environment.filters["replay_json"] = replay_json
        environment.filters["quoted_string"] = quoted_string
