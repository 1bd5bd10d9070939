"""Validate every answer before cookiecutter writes a single project file.

Each problem is printed as one line on stderr, naming the variable, the bad value and the fix;
any problem exits with status 1, and cookiecutter then removes the half-made project.
"""

from __future__ import annotations

import ipaddress
import keyword
import re
import sys
from collections.abc import Callable
from urllib.parse import urlsplit


def _text(raw: str) -> str:
    """Rejoin the surrogate pairs that Jinja's `tojson` writes for characters beyond U+FFFF."""
    return raw.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")


# `tojson` makes each answer a valid Python string literal, whatever quotes or backslashes it holds;
# booleans go through `string` first because JSON's `true` is not Python.
ANSWERS: dict[str, str] = {
    name: _text(value)
    for name, value in {
        "project_slug": {{ cookiecutter.project_slug | tojson }},
        "package_name": {{ cookiecutter.package_name | tojson }},
        "issuer": {{ cookiecutter.issuer | tojson }},
        "audience": {{ cookiecutter.audience | tojson }},
        "algorithms": {{ cookiecutter.algorithms | tojson }},
        "author_email": {{ cookiecutter.author_email | tojson }},
        "python_version": {{ cookiecutter.python_version | string | tojson }},
        "docker": {{ cookiecutter.docker | string | tojson }},
        "github_actions": {{ cookiecutter.github_actions | string | tojson }},
    }.items()
}
SUPPORTED_ALGORITHMS: list[str] = [
{%- for name in cookiecutter._supported_algorithms %}
    {{ name | tojson }},
{%- endfor %}
]

PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
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


def check_project_slug(value: str) -> list[str]:
    """Return the problem with the distribution and command name, if any."""
    if SLUG.fullmatch(value):
        return []
    return [
        "must be lowercase letters and digits in words joined by single hyphens, "
        "starting with a letter. Example: my-auth-service"
    ]


def check_package_name(value: str) -> list[str]:
    """Return the problem with the import name, if any."""
    fix = "Choose another name, e.g. my_auth_service"
    if not IDENTIFIER.fullmatch(value):
        return [
            "must be a Python identifier of lowercase letters, digits and underscores, "
            "not starting with a digit. Example: my_auth_service"
        ]
    if keyword.iskeyword(value):
        return [f"is a Python keyword. {fix}"]
    if value in sys.stdlib_module_names:
        return [f"would shadow the standard library module of that name. {fix}"]
    if value in DEPENDENCY_IMPORTS:
        return [f"would shadow the dependency imported under that name. {fix}"]
    return []


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_issuer(value: str) -> list[str]:
    """Return the problem with the issuer URL, if any."""
    example = "Example: https://auth.example.com/"
    if any(char.isspace() for char in value):
        return [f"must not contain whitespace. {example}"]
    if "#" in value:
        return [f"must not have a #fragment. {example}"]
    if "?" in value:
        return [f"must not have a ?query. {example}"]
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - reading the port is what validates it
    except ValueError:
        return [f"is not a valid URL (check the brackets and the port). {example}"]
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return []
    if parts.scheme == "http" and _is_loopback(host):
        return []
    return [
        "must be an absolute https:// URL (http:// is allowed only for localhost/127.0.0.1/::1). "
        + example
    ]


def check_audience(value: str) -> list[str]:
    """Return the problem with the audience list, if any (empty means `aud` is not checked)."""
    if value == "":
        return []
    example = "Example: api://orders,api://billing (or leave it empty)"
    items = value.split(",")
    if "" in items:
        return [f"has an empty item; separate audiences with single commas. {example}"]
    if any(char.isspace() for char in value):
        return [f"must not contain whitespace, not even after the commas. {example}"]
    return []


def _algorithm_problem(item: str) -> str | None:
    if item in SUPPORTED_ALGORITHMS:
        return None
    if item == "":
        return "has an empty item; separate algorithms with single commas. Example: RS256,EdDSA"
    if item.lower() == "none":
        return (
            "includes 'none', which turns signature verification off; it is never accepted. "
            "Example: RS256,EdDSA"
        )
    if item.upper().startswith("HS"):
        return (
            f"includes {item!r}: a JWKS is public, so HMAC secrets cannot come from it. "
            "Use asymmetric algorithms, e.g. RS256,EdDSA"
        )
    by_lower = {name.lower(): name for name in SUPPORTED_ALGORITHMS}
    if item.lower() in by_lower:
        return (
            f"includes {item!r}; algorithm names are case-sensitive: use {by_lower[item.lower()]}"
        )
    return f"includes unsupported {item!r}; choose from {','.join(SUPPORTED_ALGORITHMS)}"


def check_algorithms(value: str) -> list[str]:
    """Return one problem per bad item of the algorithm allow-list."""
    if value == "":
        return ["must list at least one algorithm. Example: RS256,EdDSA"]
    problems = (_algorithm_problem(item) for item in value.split(","))
    return list(dict.fromkeys(problem for problem in problems if problem))


def check_author_email(value: str) -> list[str]:
    """Return the problem with the author's email address, if any."""
    if EMAIL.fullmatch(value):
        return []
    return ["must be an email address. Example: you@example.com"]


def check_python_version(value: str) -> list[str]:
    """Return the problem with the minimum Python version, if any."""
    if value in PYTHON_VERSIONS:
        return []
    return [f"must be one of {', '.join(PYTHON_VERSIONS)}. Example: 3.12"]


def check_boolean(value: str) -> list[str]:
    """Return the problem with a yes/no answer, if any."""
    if value.lower() in BOOLEAN_WORDS:
        return []
    return [f"must be a boolean: one of {'/'.join(sorted(BOOLEAN_WORDS))}. Example: false"]


CHECKS: dict[str, Callable[[str], list[str]]] = {
    "project_slug": check_project_slug,
    "package_name": check_package_name,
    "issuer": check_issuer,
    "audience": check_audience,
    "algorithms": check_algorithms,
    "author_email": check_author_email,
    "python_version": check_python_version,
    "docker": check_boolean,
    "github_actions": check_boolean,
}


def main() -> int:
    """Print one line per problem with the answers; return the exit status."""
    errors = [
        f"error: {name} {ANSWERS[name]!r} {problem}"
        for name, check in CHECKS.items()
        for problem in check(ANSWERS[name])
    ]
    for line in errors:
        print(line, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
