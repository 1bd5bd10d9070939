"""The rules for the issuer, audience and algorithm settings, each with the message that names the fix.

The template's generation step loads this file (and `urls.py`) by path to check the answers, so
`AUTH_*` at start-up and the answers at generation follow one rule with one message: keep both
files free of imports beyond the standard library and each other.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from .urls import check_url

__all__ = (
    "SUPPORTED_ALGORITHMS",
    "algorithm_problem",
    "algorithms_problems",
    "audience_problems",
    "issuer_problem",
    "split_list",
)

SUPPORTED_ALGORITHMS: Final = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "Ed25519",
)
ALGORITHMS_EXAMPLE: Final = "e.g. RS256,EdDSA"
ISSUER_EXAMPLE: Final = "e.g. https://auth.example.com/"


def split_list(value: str) -> tuple[str, ...]:
    """Split a comma-separated list, trimming spaces around each item; blank means no items."""
    if not value.strip():
        return ()
    return tuple(item.strip() for item in value.split(","))


def issuer_problem(value: str) -> str | None:
    """Say why `value` cannot be the issuer (`iss`), or return None if it can."""
    try:
        urlsplit(value).port  # noqa: B018 - reading the port is what validates it
    except ValueError as exc:
        return f"{value!r} is not a valid URL ({exc}): check the brackets and the port, {ISSUER_EXAMPLE}"
    if any(char.isspace() for char in value):
        return f"{value!r} contains whitespace, which no URL holds: {ISSUER_EXAMPLE}"
    try:
        check_url(value)
    except ValueError as exc:
        return f"{exc}, {ISSUER_EXAMPLE}"
    # RFC 8414 section 2: an issuer identifier has no query and no fragment.
    if "?" in value:
        return f"{value!r} has a ?query, which an issuer never has: {ISSUER_EXAMPLE}"
    if "#" in value:
        return f"{value!r} has a #fragment, which an issuer never has: {ISSUER_EXAMPLE}"
    return None


def audience_problems(value: str) -> list[str]:
    """Say what is wrong with a comma-separated audience list (blank: `aud` is not checked)."""
    items = split_list(value)
    example = "e.g. api://orders,api://billing, or nothing to leave `aud` unchecked"
    if "" in items:
        return [
            f"{value!r} has an empty item: separate the audiences with single commas, {example}"
        ]
    return [
        f"{item!r} contains whitespace, which no audience holds: {example}"
        for item in items
        if any(char.isspace() for char in item)
    ]


def algorithm_problem(name: str) -> str | None:
    """Say why `name` cannot be in the algorithm allow-list, or return None if it can."""
    if name in SUPPORTED_ALGORITHMS:
        return None
    if name.lower() == "none":
        return (
            f"{name!r} turns signature verification off and is never accepted: {ALGORITHMS_EXAMPLE}"
        )
    if name.upper().startswith("HS"):
        return (
            f"{name!r} is HMAC, and a JWKS is public, so HMAC secrets cannot come from it: "
            f"use asymmetric algorithms, {ALGORITHMS_EXAMPLE}"
        )
    by_lower = {supported.lower(): supported for supported in SUPPORTED_ALGORITHMS}
    if name.lower() in by_lower:
        return f"{name!r} is not supported: names are case-sensitive, did you mean {by_lower[name.lower()]}?"
    return f"{name!r} is not supported: choose from {','.join(SUPPORTED_ALGORITHMS)}"


def algorithms_problems(value: str) -> list[str]:
    """Say what is wrong with a comma-separated algorithm allow-list, one problem per bad item."""
    items = split_list(value)
    if not items:
        return [f"{value!r} lists no algorithm: list at least one, {ALGORITHMS_EXAMPLE}"]
    if "" in items:
        return [
            f"{value!r} has an empty item: separate the algorithms with single commas, {ALGORITHMS_EXAMPLE}"
        ]
    problems = (algorithm_problem(item) for item in items)
    return list(dict.fromkeys(problem for problem in problems if problem))
