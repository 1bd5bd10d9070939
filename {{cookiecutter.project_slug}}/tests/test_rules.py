"""The issuer, audience and algorithm rules shared by the settings and the template's answers."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.auth import algorithms, rules, urls


class TestAlgorithms:
    """Each refused algorithm name gets the reason and the fix."""

    @pytest.mark.parametrize("name", rules.SUPPORTED_ALGORITHMS)
    def test_supported_names_pass(self, name: str) -> None:
        """Every supported algorithm name is accepted as written."""
        assert rules.algorithm_problem(name) is None

    @pytest.mark.parametrize(
        ("name", "reason"),
        [
            ("rs256", "did you mean RS256?"),
            ("EDDSA", "did you mean EdDSA?"),
            ("none", "turns signature verification off"),
            ("None", "turns signature verification off"),
            ("HS256", "HMAC secrets cannot come from it"),
            ("hs512", "HMAC secrets cannot come from it"),
            ("ES256K", "choose from RS256,"),
        ],
    )
    def test_refused_names_say_why(self, name: str, reason: str) -> None:
        """A wrong case, none, HMAC or an unknown name is refused with its own reason."""
        problem = rules.algorithm_problem(name)
        assert problem is not None
        assert problem.startswith(f"{name!r} ")
        assert reason in problem

    def test_lists_trim_spaces_around_commas(self) -> None:
        """Spaces around the commas of an allow-list are not part of the names."""
        assert rules.algorithms_problems(" RS256, EdDSA ") == []
        assert rules.split_list(" RS256, EdDSA ") == ("RS256", "EdDSA")

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ("", "lists no algorithm"),
            (" ", "lists no algorithm"),
            ("RS256,,ES256", "empty item"),
            ("RS256,", "empty item"),
        ],
    )
    def test_empty_lists_and_items_are_refused(self, value: str, reason: str) -> None:
        """An allow-list needs at least one name, and no empty item between commas."""
        problems = rules.algorithms_problems(value)
        assert len(problems) == 1
        assert reason in problems[0]

    def test_each_bad_item_is_named_once(self) -> None:
        """Several bad names give one problem each, a repeated one only once."""
        problems = rules.algorithms_problems("HS256,RS256,none,HS256")
        assert [problem.split()[0] for problem in problems] == ["'HS256'", "'none'"]

    def test_the_service_supports_exactly_these_names(self) -> None:
        """The rules name the same algorithms that the verifier implements."""
        assert rules.SUPPORTED_ALGORITHMS == algorithms.SUPPORTED_ALGORITHMS


class TestAudience:
    """Audience lists: blank means unchecked; items are trimmed; blanks inside are refused."""

    @pytest.mark.parametrize("value", ["", " ", "api://a", "api://a,api://b", " api://a, api://b "])
    def test_accepted_lists(self, value: str) -> None:
        """Blank, single and comma-separated audiences (spaces around commas) are accepted."""
        assert rules.audience_problems(value) == []

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            (",", "empty item"),
            ("api://a,", "empty item"),
            ("a,,b", "empty item"),
            ("api://a b", "whitespace"),
            ("a,b\tc", "whitespace"),
        ],
    )
    def test_refused_lists_say_why(self, value: str, reason: str) -> None:
        """An empty item or whitespace inside an audience is refused with the reason."""
        problems = rules.audience_problems(value)
        assert len(problems) == 1
        assert reason in problems[0]


class TestIssuer:
    """The issuer is an absolute https URL (http on loopback) without query or fragment."""

    @pytest.mark.parametrize(
        "value",
        [
            "https://auth.example.com/",
            "http://localhost:8000/issuer",
            "http://[::1]:8080/",
            "https://x.zuplo.app/__zuplo/issuer",
        ],
    )
    def test_accepted_issuers(self, value: str) -> None:
        """https issuers, and http ones on a loopback host, are accepted."""
        assert rules.issuer_problem(value) is None

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ("htps://auth.example.com", "https"),
            ("http://auth.example.com", "loopback"),
            ("https://auth.example.com/?tenant=1", "?query"),
            ("https://auth.example.com/#top", "#fragment"),
            ("https://auth.example.com:99999/", "port"),
            ("http://[::1/", "brackets"),
            (" https://auth.example.com", "whitespace"),
        ],
    )
    def test_refused_issuers_say_why(self, value: str, reason: str) -> None:
        """A wrong scheme, a remote http host, a query, a fragment or a bad port is refused."""
        problem = rules.issuer_problem(value)
        assert problem is not None
        assert reason in problem
        assert "e.g. https://auth.example.com/" in problem


def imported_modules(source: str) -> set[str]:
    """The modules `source` imports when it is loaded (`.urls` counts as `urls`).

    Module-level statements only: an import inside a function runs when the service calls it.
    """
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0])
    return names


def test_rules_need_only_the_standard_library() -> None:
    """rules.py imports the standard library and urls.py only: the template loads it by path."""
    for module in (rules.__file__, urls.__file__):
        imported = imported_modules(Path(module).read_text(encoding="utf-8"))
        assert imported - sys.stdlib_module_names <= {"urls"}, module
