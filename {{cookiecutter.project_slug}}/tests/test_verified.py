"""The cache of verified tokens: bounded in size and in time, dropped when the key set changes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from {{ cookiecutter.package_name }}.auth import Principal
from {{ cookiecutter.package_name }}.auth.verified import VerifiedTokens

if TYPE_CHECKING:
    from .conftest import FakeClock

TTL = 60.0
HOUR = 3600.0


def user(name: str) -> Principal:
    """A principal for `name` (the cache stores whatever the verifier gives it)."""
    return Principal(
        subject=name,
        issuer="https://issuer.test",
        scopes=frozenset(),
        roles=frozenset(),
        claims={"sub": name},
    )


def subject_of(principal: Principal | None) -> str | None:
    """What a lookup found, by subject (None: not found)."""
    return None if principal is None else principal.subject


@pytest.fixture
def cache(clock: FakeClock) -> VerifiedTokens:
    """Room for three tokens, each for at most a minute."""
    return VerifiedTokens(maxsize=3, ttl=TTL, clock=clock)


def verified_twice(
    cache: VerifiedTokens, token: str, subject: str, expires_at: float, key_version: int = 1
) -> None:
    """Put `token` as two successful verifications would: the second one stores it."""
    for _ in range(2):
        cache.put(token, user(subject), expires_at=expires_at, key_version=key_version)


def test_token_verified_once_is_not_stored(cache: VerifiedTokens, clock: FakeClock) -> None:
    """A token seen once takes no entry, so a flood of fresh tokens evicts nothing."""
    verified_twice(cache, "kept", "K", clock() + HOUR)
    for index in range(10):
        cache.put(f"fresh-{index}", user("F"), expires_at=clock() + HOUR, key_version=1)
    assert len(cache) == 1
    assert subject_of(cache.get("fresh-0", key_version=1)) is None
    assert subject_of(cache.get("kept", key_version=1)) == "K"


def test_token_verified_twice_is_stored(cache: VerifiedTokens, clock: FakeClock) -> None:
    """The second verification of a token stores it; other tokens are not found."""
    verified_twice(cache, "token", "alice", clock() + HOUR)
    assert subject_of(cache.get("token", key_version=1)) == "alice"
    assert subject_of(cache.get("other", key_version=1)) is None


def test_oldest_entry_goes_when_full(cache: VerifiedTokens, clock: FakeClock) -> None:
    """The size never exceeds `maxsize`: the first token stored is the first dropped."""
    for name in ("a", "b", "c", "d"):
        verified_twice(cache, name, name.upper(), clock() + HOUR)
    assert len(cache) == 3
    assert [subject_of(cache.get(name, key_version=1)) for name in "abcd"] == [None, "B", "C", "D"]


def test_entry_ends_when_the_token_expires(cache: VerifiedTokens, clock: FakeClock) -> None:
    """An entry is not served at or after the `expires_at` it was put with."""
    verified_twice(cache, "token", "alice", clock() + 10)
    clock.advance(9.9)
    assert subject_of(cache.get("token", key_version=1)) == "alice"
    clock.advance(0.1)
    assert subject_of(cache.get("token", key_version=1)) is None
    assert len(cache) == 0


def test_entry_ends_after_the_ttl(cache: VerifiedTokens, clock: FakeClock) -> None:
    """A long-lived token is served from the cache for `ttl` seconds at most."""
    verified_twice(cache, "token", "alice", clock() + HOUR)
    clock.advance(TTL - 0.1)
    assert subject_of(cache.get("token", key_version=1)) == "alice"
    clock.advance(0.1)
    assert subject_of(cache.get("token", key_version=1)) is None


def test_new_key_set_version_drops_everything(cache: VerifiedTokens, clock: FakeClock) -> None:
    """After a key set change no earlier verification counts, and the memory is released."""
    verified_twice(cache, "a", "A", clock() + HOUR)
    verified_twice(cache, "b", "B", clock() + HOUR)
    cache.put("c", user("C"), expires_at=clock() + HOUR, key_version=1)
    assert subject_of(cache.get("a", key_version=2)) is None
    assert len(cache) == 0
    assert subject_of(cache.get("b", key_version=1)) is None
    cache.put("c", user("C"), expires_at=clock() + HOUR, key_version=2)
    assert subject_of(cache.get("c", key_version=2)) is None  # its first success under version 2


def test_put_under_a_new_version_drops_older_entries(
    cache: VerifiedTokens, clock: FakeClock
) -> None:
    """A verification made with a newer key set replaces everything verified with the old one."""
    verified_twice(cache, "a", "A", clock() + HOUR)
    verified_twice(cache, "b", "B", clock() + HOUR, key_version=2)
    assert len(cache) == 1
    assert subject_of(cache.get("b", key_version=2)) == "B"
