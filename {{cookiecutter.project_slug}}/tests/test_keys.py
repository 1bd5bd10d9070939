"""The key set: loading, single flight, refresh on unknown kid, cooldown, backoff, stale-if-error."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING

import jose.jwk
import pytest

from {{ cookiecutter.package_name }}.auth import (
    InvalidToken,
    KeySet,
    KeysUnavailable,
)

from .conftest import (
    DISCOVERY_PATH,
    FAULTS,
    ISSUER,
    JWKS_PATH,
    auth_settings,
    count_calls,
    eventually,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from {{ cookiecutter.package_name }}.auth import AuthSettings

    from .conftest import FakeClock, Fault, IssuerStub, Keyring

# The defaults the tests below reason with (and the settings fixture keeps).
TTL = 300.0
COOLDOWN = 30.0
MAX_STALE = 86400.0


def open_keys(stub: IssuerStub, clock: Callable[[], float], **overrides: object) -> KeySet:
    """A key set (not yet entered) for the stub issuer, on `clock`."""
    return KeySet(auth_settings(**overrides), transport=stub.transport, clock=clock)


class TestLoading:
    """Getting the keys in the first place."""

    async def test_keys_load_in_the_background_on_entry(
        self, stub: IssuerStub, clock: FakeClock
    ) -> None:
        """Entering the key set starts one fetch; it becomes ready without anyone asking for a key."""
        async with open_keys(stub, clock) as keys:
            assert not keys.ready
            await eventually(lambda: keys.ready)
            assert (keys.fetches, keys.version, stub.jwks_fetches) == (1, 1, 1)

    async def test_concurrent_cold_requests_share_one_fetch(
        self, stub: IssuerStub, clock: FakeClock
    ) -> None:
        """Twenty requests arriving before the keys are loaded cause exactly one JWKS fetch."""
        stub.delay = 0.01
        async with open_keys(stub, clock) as keys:
            found = await asyncio.gather(*(keys.key_for("rsa-1", "RS256") for _ in range(20)))
        assert stub.jwks_fetches == 1
        assert stub.requests[DISCOVERY_PATH] == 1
        assert all(key is found[0] for key in found)

    async def test_concurrent_requests_after_an_outage_share_one_fetch(
        self, stub: IssuerStub, clock: FakeClock
    ) -> None:
        """Once the backoff has passed, twenty waiting requests still cause one fetch."""
        stub.fault = "down"
        async with open_keys(stub, clock) as keys:
            with pytest.raises(KeysUnavailable):
                await keys.current()
            stub.fault = None
            stub.delay = 0.01
            clock.advance(1)
            await asyncio.gather(*(keys.current() for _ in range(20)))
            assert keys.fetches == 2
        assert stub.jwks_fetches == 1

    async def test_keys_are_built_once_per_key_set(
        self, monkeypatch: pytest.MonkeyPatch, stub: IssuerStub, clock: FakeClock
    ) -> None:
        """Keys are constructed when the JWKS is parsed, never per lookup: lookups return the same object."""
        constructed = count_calls(monkeypatch, jose.jwk, "construct")
        async with open_keys(stub, clock) as keys:
            first = await keys.key_for("ed25519-1", "EdDSA")
            built = constructed.calls
            for _ in range(100):
                assert await keys.key_for("ed25519-1", "EdDSA") is first
        assert built == 10  # RSA x 6 algorithms, 3 curves, Ed25519
        assert constructed.calls == built

    async def test_key_set_outside_async_with_has_no_keys(
        self, stub: IssuerStub, clock: FakeClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A key set that was never entered fetches nothing and reports keys unavailable."""
        keys = open_keys(stub, clock)
        with pytest.raises(KeysUnavailable):
            await keys.current()
        assert stub.urls == []
        assert "used outside `async with`" in caplog.text

    async def test_leaving_cancels_a_fetch_under_way(
        self, stub: IssuerStub, clock: FakeClock
    ) -> None:
        """Leaving the key set while the issuer is slow does not wait for the issuer."""
        stub.delay = 10
        started = time.monotonic()
        async with open_keys(stub, clock):
            await eventually(lambda: bool(stub.urls))
        assert time.monotonic() - started < 1


class TestUnknownKid:
    """Refreshing for a key the set does not know yet (rotation), within the cooldown."""

    async def test_rotated_key_is_found_after_one_refresh(
        self, stub: IssuerStub, keys: KeySet, keyring: Keyring, clock: FakeClock
    ) -> None:
        """A token with a new kid is accepted once the issuer publishes the key: one refresh."""
        stub.keys.append(keyring.rsa_next.public_jwk)
        clock.advance(COOLDOWN)
        key = await keys.key_for("rsa-2", "RS256")
        assert key.to_dict()["n"] == keyring.rsa_next.public_jwk["n"]
        assert (stub.jwks_fetches, keys.version) == (2, 2)

    async def test_unknown_kid_within_the_cooldown_does_not_fetch(
        self, stub: IssuerStub, keys: KeySet, keyring: Keyring, clock: FakeClock
    ) -> None:
        """Right after a fetch, an unknown kid is refused without asking the issuer again."""
        stub.keys.append(keyring.rsa_next.public_jwk)
        clock.advance(COOLDOWN - 1)
        with pytest.raises(InvalidToken) as raised:
            await keys.key_for("rsa-2", "RS256")
        assert raised.value.reason == "unknown_kid"
        assert stub.jwks_fetches == 1

    @pytest.mark.parametrize("concurrent", [False, True], ids=["one-by-one", "all-at-once"])
    async def test_flood_of_random_kids_costs_at_most_one_fetch(
        self, stub: IssuerStub, keys: KeySet, clock: FakeClock, concurrent: bool
    ) -> None:
        """Fifty random kids within one cooldown cause one fetch, not fifty."""
        clock.advance(COOLDOWN)

        async def lookup() -> None:
            with pytest.raises(InvalidToken):
                await keys.key_for(uuid.uuid4().hex, "RS256")

        if concurrent:
            await asyncio.gather(*(lookup() for _ in range(50)))
        else:
            for _ in range(50):
                await lookup()
        assert stub.jwks_fetches == 2

    async def test_next_cooldown_allows_the_next_refresh(
        self, stub: IssuerStub, keys: KeySet, clock: FakeClock
    ) -> None:
        """After another cooldown, another unknown kid refreshes again."""
        for expected in (2, 3):
            clock.advance(COOLDOWN)
            with pytest.raises(InvalidToken):
                await keys.key_for("nobody", "RS256")
            assert stub.jwks_fetches == expected

    async def test_known_kid_with_another_alg_does_not_fetch(
        self, stub: IssuerStub, keys: KeySet, clock: FakeClock
    ) -> None:
        """The kid of an RSA key with alg ES256 is refused without a refresh: the kid is known."""
        clock.advance(COOLDOWN)
        with pytest.raises(InvalidToken) as raised:
            await keys.key_for("rsa-1", "ES256")
        assert raised.value.reason == "unknown_kid"
        assert stub.jwks_fetches == 1

    async def test_missing_kid_without_a_unique_key_does_not_fetch(
        self, stub: IssuerStub, keyring: Keyring, clock: FakeClock
    ) -> None:
        """Without kid and with two candidate keys, nothing is guessed and nothing fetched."""
        stub.keys.append(keyring.rsa_next.public_jwk)
        async with open_keys(stub, clock) as keys:
            await keys.current()
            clock.advance(COOLDOWN)
            with pytest.raises(InvalidToken) as raised:
                await keys.key_for(None, "RS256")
        assert raised.value.reason == "no_unique_key"
        assert stub.jwks_fetches == 1


class TestLifetime:
    """Keys are fresh for the TTL, then refreshed in the background."""

    async def test_fresh_keys_are_not_fetched_again(
        self, stub: IssuerStub, keys: KeySet, clock: FakeClock
    ) -> None:
        """Within the TTL the cached keys are used with no request."""
        clock.advance(TTL - 1)
        await keys.key_for("rsa-1", "RS256")
        assert stub.jwks_fetches == 1

    async def test_expired_keys_are_served_while_refreshed_in_the_background(
        self, stub: IssuerStub, keys: KeySet, clock: FakeClock
    ) -> None:
        """Past the TTL the old keys answer at once and one background fetch replaces them."""
        old = await keys.current()
        clock.advance(TTL)
        assert await keys.current() is old
        await eventually(lambda: keys.version == 2)
        assert await keys.current() is not old
        assert stub.jwks_fetches == 2


class TestStaleIfError:
    """A failing issuer does not take the keys away."""

    async def test_keys_survive_an_outage_after_they_loaded(
        self, stub: IssuerStub, keys: KeySet, clock: FakeClock
    ) -> None:
        """With the issuer down, keys past their TTL are still used."""
        stub.fault = "down"
        clock.advance(TTL)
        await keys.key_for("rsa-1", "RS256")
        await eventually(lambda: keys.fetches == 2)
        clock.advance(MAX_STALE - 1)
        assert keys.ready
        await keys.key_for("rsa-1", "RS256")

    async def test_keys_expire_after_max_stale(
        self, stub: IssuerStub, keys: KeySet, clock: FakeClock
    ) -> None:
        """`jwks_max_stale` past the TTL without a successful fetch, requests get 503."""
        stub.fault = "down"
        clock.advance(TTL + MAX_STALE)
        assert not keys.ready
        with pytest.raises(KeysUnavailable):
            await keys.key_for("rsa-1", "RS256")

    @pytest.mark.parametrize("fault", FAULTS)
    async def test_garbage_never_replaces_good_keys(
        self, stub: IssuerStub, keys: KeySet, clock: FakeClock, fault: Fault
    ) -> None:
        """A broken answer to a refresh leaves the last good keys in place."""
        good = await keys.current()
        stub.fault = fault
        clock.advance(TTL)
        assert await keys.current() is good
        await eventually(lambda: keys.fetches == 2)
        await asyncio.sleep(0)
        assert await keys.current() is good
        assert keys.version == 1

    async def test_key_set_without_usable_keys_does_not_replace_good_keys(
        self, stub: IssuerStub, keys: KeySet, keyring: Keyring, clock: FakeClock
    ) -> None:
        """A JWKS holding only encryption keys is refused like any other garbage."""
        good = await keys.current()
        stub.keys = [keyring.rsa.jwk(use="enc")]
        clock.advance(COOLDOWN)
        with pytest.raises(InvalidToken):
            await keys.key_for("nobody", "RS256")
        assert await keys.current() is good

    async def test_retry_after_doubles_up_to_the_cooldown(
        self, stub: IssuerStub, clock: FakeClock
    ) -> None:
        """With no keys at all, failed fetches are retried after 1, 2, 4, 8, 16, then 30 s."""
        stub.fault = "error"
        waits = []
        async with open_keys(stub, clock) as keys:
            for _ in range(7):
                with pytest.raises(KeysUnavailable) as raised:
                    await keys.current()
                waits.append(raised.value.retry_after)
                clock.advance(raised.value.retry_after)
        assert waits == [1, 2, 4, 8, 16, 30, 30]

    async def test_no_fetch_before_the_backoff_has_passed(
        self, stub: IssuerStub, clock: FakeClock
    ) -> None:
        """Requests during the backoff get 503 without asking the issuer."""
        stub.fault = "down"
        async with open_keys(stub, clock) as keys:
            for _ in range(10):
                with pytest.raises(KeysUnavailable):
                    await keys.current()
                clock.advance(0.05)
            assert keys.fetches == 1


class TestColdOutage:
    """No keys have ever loaded."""

    async def test_outage_then_recovery(self, stub: IssuerStub, clock: FakeClock) -> None:
        """While the issuer is down requests get 503 with Retry-After; once it is back, keys load."""
        stub.fault = "down"
        async with open_keys(stub, clock) as keys:
            with pytest.raises(KeysUnavailable) as raised:
                await keys.current()
            assert (raised.value.retry_after, raised.value.status_code) == (1, 503)
            assert not keys.ready
            stub.fault = None
            with pytest.raises(KeysUnavailable):
                await keys.current()
            clock.advance(raised.value.retry_after)
            await keys.key_for("rsa-1", "RS256")
            assert keys.ready

    async def test_retries_on_its_own_until_the_issuer_is_back(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """With no keys at all, the key set retries after each backoff without waiting for a request."""
        stub.fault = "down"
        async with open_keys(stub, time.monotonic, refresh_cooldown=0.02) as keys:
            await eventually(lambda: keys.fetches >= 3)
            stub.fault = None
            await eventually(lambda: keys.ready)
        assert stub.jwks_fetches == 1

    async def test_no_retry_is_left_behind_on_exit(
        self, stub: IssuerStub, clock: FakeClock
    ) -> None:
        """After leaving the key set no scheduled retry starts a fetch, however many failures led there."""
        stub.fault = "down"
        async with open_keys(stub, clock, refresh_cooldown=0.02) as keys:
            for _ in range(3):
                with pytest.raises(KeysUnavailable):
                    await keys.current()
                clock.advance(0.02)
            fetches = keys.fetches
        await asyncio.sleep(0.1)
        assert keys.fetches == fetches

    async def test_slow_issuer_times_out(self, stub: IssuerStub, clock: FakeClock) -> None:
        """An issuer slower than `http_timeout` gives 503 after the timeout, not after the issuer."""
        stub.delay = 5
        started = time.monotonic()
        async with open_keys(stub, clock, http_timeout=0.2) as keys:
            with pytest.raises(KeysUnavailable):
                await keys.current()
        assert 0.2 <= time.monotonic() - started < 1

    async def test_failure_is_logged_with_its_cause(
        self, stub: IssuerStub, clock: FakeClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The warning names the failing URL and what happens next."""
        stub.fault = "error"
        async with open_keys(stub, clock, jwks_url=ISSUER + JWKS_PATH) as keys:
            with pytest.raises(KeysUnavailable):
                await keys.current()
        assert caplog.record_tuples == [
            (
                KeySet.__module__,
                logging.WARNING,
                f"JWKS fetch failed: {ISSUER}{JWKS_PATH} answered HTTP 500, expected 200; "
                "requests get 503 until keys load; next attempt in 1s",
            )
        ]

    async def test_issuer_mismatch_in_discovery_keeps_keys_out(
        self, stub: IssuerStub, clock: FakeClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A discovered issuer differing by a trailing slash loads no keys, and the log says why."""
        stub.discovered_issuer = ISSUER + "/"
        async with open_keys(stub, clock) as keys:
            with pytest.raises(KeysUnavailable):
                await keys.current()
        assert stub.jwks_fetches == 0
        assert "(a trailing slash counts)" in caplog.text
        assert f"names issuer '{ISSUER}/' but AUTH_ISSUER is '{ISSUER}'" in caplog.text


def test_settings_fixture_keeps_the_defaults_reasoned_with(settings: AuthSettings) -> None:
    """The constants above are the settings' defaults, so the tests reason about real values."""
    assert (settings.jwks_cache_ttl, settings.refresh_cooldown, settings.jwks_max_stale) == (
        TTL,
        COOLDOWN,
        MAX_STALE,
    )
