"""The key set: loading, single flight, refresh on unknown kid, cooldown, backoff, stale-if-error."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Final

import jose.jwk
import pytest

from {{ cookiecutter.package_name }}.auth import (
    InvalidToken,
    KeySet,
    KeysUnavailable,
    SettingsError,
    TokenVerifier,
    load_auth_settings,
)
from {{ cookiecutter.package_name }}.auth import keys as keys_module

from .conftest import (
    DISCOVERY_PATH,
    FAULTS,
    ISSUER,
    JWKS_PATH,
    auth_settings,
    b64url,
    claims,
    count_calls,
    eventually,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from {{ cookiecutter.package_name }}.auth import AuthSettings

    from .conftest import FakeClock, Fault, IssuerStub, Keyring

# The timings the tests below reason with, passed explicitly: they do not follow the defaults.
TTL = 300.0
COOLDOWN = 5.0
MAX_STALE = 86400.0
MIN_TTL = 60.0
MAX_TTL = 3600.0
TIMINGS: Final = {
    "jwks_cache_ttl": TTL,
    "refresh_cooldown": COOLDOWN,
    "jwks_max_stale": MAX_STALE,
    "jwks_cache_min_ttl": MIN_TTL,
    "jwks_cache_max_ttl": MAX_TTL,
}


@pytest.fixture
def settings() -> AuthSettings:
    """The stub issuer's settings with the timings above."""
    return auth_settings(**TIMINGS)


def open_keys(stub: IssuerStub, clock: Callable[[], float], **overrides: object) -> KeySet:
    """A key set (not yet entered) for the stub issuer, on `clock`, with the timings above."""
    return KeySet(auth_settings(**{**TIMINGS, **overrides}), transport=stub.transport, clock=clock)


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
        """With no keys at all, failed fetches are retried after 1, 2, 4, then the cooldown (5 s)."""
        stub.fault = "error"
        waits = []
        async with open_keys(stub, clock) as keys:
            for _ in range(7):
                with pytest.raises(KeysUnavailable) as raised:
                    await keys.current()
                waits.append(raised.value.retry_after)
                clock.advance(raised.value.retry_after)
        assert waits == [1, 2, 4, 5, 5, 5, 5]

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


# The identity point as an Ed25519 public key: OpenSSL verifies `01 00..00` against it.
IDENTITY_KEY: Final = {
    "kty": "OKP",
    "crv": "Ed25519",
    "kid": "zero",
    "x": b64url(b"\x01" + bytes(31)),
}


class TestFailedFetches:
    """Whatever goes wrong while loading keys is a failed fetch: logged, counted, retried."""

    async def test_unexpected_error_with_keys_loaded_keeps_them(
        self,
        monkeypatch: pytest.MonkeyPatch,
        stub: IssuerStub,
        keys: KeySet,
        clock: FakeClock,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """An exception nobody foresaw refuses the token (401, not 500) and keeps the good keys."""
        good = await keys.current()

        def explode(*_: object) -> None:
            raise RuntimeError("secret-looking text from the document")

        monkeypatch.setattr(keys_module, "parse_jwks", explode)
        clock.advance(COOLDOWN)
        with pytest.raises(InvalidToken):
            await keys.key_for("forces-a-refresh", "RS256")
        assert (keys.fetches, keys.failed_fetches, keys.version) == (2, 1, 1)
        assert await keys.current() is good
        (warning,) = [record for record in caplog.records if record.levelno == logging.WARNING]
        assert warning.getMessage().startswith(
            "JWKS fetch failed: unexpected RuntimeError while loading the keys; "
            "serving the cached keys"
        )
        assert "secret" not in caplog.text

    async def test_unexpected_error_at_a_cold_start_is_retried(
        self, monkeypatch: pytest.MonkeyPatch, stub: IssuerStub
    ) -> None:
        """With no keys, an unforeseen exception schedules retries; keys load once it stops."""

        def explode(*_: object) -> None:
            raise OverflowError

        monkeypatch.setattr(keys_module, "parse_jwks", explode)
        async with open_keys(stub, time.monotonic, refresh_cooldown=0.02) as keys:
            with pytest.raises(KeysUnavailable):
                await keys.current()
            await eventually(lambda: keys.failed_fetches >= 3)
            monkeypatch.undo()
            await eventually(lambda: keys.ready)

    @pytest.mark.parametrize("fault", FAULTS)
    async def test_every_fault_at_a_cold_start_is_counted_and_retried(
        self, stub: IssuerStub, fault: Fault
    ) -> None:
        """Each broken answer leaves the key set unready, counted, retrying until the issuer heals."""
        stub.fault = fault
        async with open_keys(stub, time.monotonic, refresh_cooldown=0.02) as keys:
            with pytest.raises(KeysUnavailable):
                await keys.current()
            await eventually(lambda: keys.failed_fetches >= 2)
            assert not keys.ready
            stub.fault = None
            await eventually(lambda: keys.ready)
        assert keys.failed_fetches == keys.fetches - 1

    @pytest.mark.parametrize(
        "jwks_uri",
        ["http://127.0.0.1:99999/keys", "https://issuer.test:0/keys", "https://xn--.test/"],
    )
    async def test_discovered_jwks_uri_httpx_cannot_request_is_a_failed_fetch(
        self, stub: IssuerStub, caplog: pytest.LogCaptureFixture, jwks_uri: str
    ) -> None:
        """A `jwks_uri` with a bad port or host is refused, logged and retried; it is never requested."""
        stub.discovered_jwks_uri = jwks_uri
        async with open_keys(stub, time.monotonic, refresh_cooldown=0.02) as keys:
            with pytest.raises(KeysUnavailable):
                await keys.current()
            await eventually(lambda: keys.failed_fetches >= 2)
            stub.discovered_jwks_uri = ISSUER + JWKS_PATH
            await eventually(lambda: keys.ready)
        assert jwks_uri not in stub.urls
        assert f"the discovery document at {ISSUER}{DISCOVERY_PATH}: jwks_uri" in caplog.text

    async def test_set_whose_every_key_is_malformed_is_a_failed_fetch(
        self, stub: IssuerStub, keys: KeySet, keyring: Keyring, clock: FakeClock
    ) -> None:
        """Integers where strings go, in every key: nothing usable, so the old keys stay."""
        good = await keys.current()
        stub.keys = [key.jwk(n=2**63, e=2**64, x=10**9, y=-1) for key in keyring.published]
        clock.advance(COOLDOWN)
        with pytest.raises(InvalidToken):
            await keys.key_for("forces-a-refresh", "RS256")
        assert (keys.failed_fetches, await keys.current()) == (1, good)


class TestDegenerateKeys:
    """A degenerate key in the issuer's set is never used, whatever the signature."""

    async def test_identity_point_key_is_not_loaded(
        self, stub: IssuerStub, keyring: Keyring, clock: FakeClock
    ) -> None:
        """The identity point published as an Ed25519 key is skipped; the other keys load."""
        stub.keys.append(IDENTITY_KEY)
        async with open_keys(stub, clock) as keys:
            loaded = await keys.current()
        assert "zero" not in loaded.by_kid
        assert "ed25519-1" in loaded.by_kid

    async def test_forged_signature_for_the_identity_key_is_refused(
        self, stub: IssuerStub, verifier: TokenVerifier, clock: FakeClock
    ) -> None:
        """A token signed `01 00..00` under the identity key's kid is an invalid token."""
        stub.keys.append(IDENTITY_KEY)
        clock.advance(COOLDOWN)
        header = b64url(json.dumps({"alg": "EdDSA", "kid": "zero"}).encode())
        payload = b64url(json.dumps(claims(now=clock.now)).encode())
        signature = b64url(b"\x01" + bytes(63))
        forged = f"{header}.{payload}.{signature}"
        with pytest.raises(InvalidToken):
            await verifier.verify(forged)
        assert stub.jwks_fetches == 2  # the unknown kid did refresh; the key was refused


class TestRefreshAfterCooldown:
    """An unknown kid within the cooldown is refused now and looked up once the cooldown ends."""

    @pytest.mark.parametrize("cooldown", [0.05, 0.2])
    async def test_key_published_during_the_cooldown_is_found_by_itself(
        self, stub: IssuerStub, keyring: Keyring, cooldown: float
    ) -> None:
        """One refused token is enough: the new key is loaded a cooldown later, with one fetch."""
        async with open_keys(stub, time.monotonic, refresh_cooldown=cooldown) as keys:
            await keys.current()
            stub.keys.append(keyring.rsa_next.public_jwk)
            with pytest.raises(InvalidToken):
                await keys.key_for("rsa-2", "RS256")
            assert keys.fetches == 1
            await eventually(lambda: keys.version == 2)
            assert await keys.key_for("rsa-2", "RS256")
            await asyncio.sleep(3 * cooldown)
            assert stub.jwks_fetches == 2

    async def test_flood_within_the_cooldown_schedules_a_single_refresh(
        self, stub: IssuerStub
    ) -> None:
        """Fifty random kids during the cooldown lead to one fetch at its end, then none."""
        cooldown = 0.05
        async with open_keys(stub, time.monotonic, refresh_cooldown=cooldown) as keys:
            await keys.current()
            for _ in range(50):
                with pytest.raises(InvalidToken):
                    await keys.key_for(uuid.uuid4().hex, "RS256")
            await eventually(lambda: keys.fetches == 2)
            await asyncio.sleep(4 * cooldown)
            assert stub.jwks_fetches == 2

    async def test_scheduled_refresh_does_not_outlive_the_key_set(self, stub: IssuerStub) -> None:
        """Leaving the key set cancels a refresh scheduled for the end of the cooldown."""
        async with open_keys(stub, time.monotonic, refresh_cooldown=0.05) as keys:
            await keys.current()
            with pytest.raises(InvalidToken):
                await keys.key_for("nobody", "RS256")
        await asyncio.sleep(0.15)
        assert keys.fetches == 1

    async def test_refresh_after_a_failed_one_waits_for_the_backoff(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """With keys loaded and the issuer failing, an unknown kid is looked up after the backoff."""
        async with open_keys(stub, time.monotonic, refresh_cooldown=0.05) as keys:
            await keys.current()
            await asyncio.sleep(0.06)
            stub.fault = "error"
            with pytest.raises(InvalidToken):
                await keys.key_for("rsa-2", "RS256")  # fetches at once, and fails
            assert keys.failed_fetches == 1
            stub.fault = None
            stub.keys.append(keyring.rsa_next.public_jwk)
            with pytest.raises(InvalidToken):
                await keys.key_for("rsa-2", "RS256")  # within the backoff: scheduled
            await eventually(lambda: keys.version == 2)
            assert await keys.key_for("rsa-2", "RS256")


class TestIssuerLifetime:
    """`Cache-Control` sets how long a key set stays fresh, within `min_ttl`..`max_ttl`."""

    @pytest.mark.parametrize(
        ("cache_control", "lifetime"),
        [
            (None, TTL),
            ("max-age=120", 120.0),
            ("max-age=5", MIN_TTL),
            ("max-age=0", MIN_TTL),
            ("max-age=31536000", MAX_TTL),
            ("no-store", MIN_TTL),
            ("no-cache", MIN_TTL),
            ("max-age=abc", TTL),
        ],
    )
    async def test_keys_are_fresh_for_the_lifetime_the_issuer_gives(
        self, stub: IssuerStub, clock: FakeClock, cache_control: str | None, lifetime: float
    ) -> None:
        """No fetch until the lifetime is over; the first request after it refreshes."""
        if cache_control is not None:
            stub.jwks_headers["Cache-Control"] = cache_control
        async with open_keys(stub, clock) as keys:
            await keys.current()
            clock.advance(lifetime - 1)
            await keys.key_for("rsa-1", "RS256")
            assert stub.jwks_fetches == 1
            clock.advance(1)
            await keys.key_for("rsa-1", "RS256")
            await eventually(lambda: stub.jwks_fetches == 2)

    async def test_stale_keys_last_max_stale_past_the_issuers_lifetime(
        self, stub: IssuerStub, clock: FakeClock
    ) -> None:
        """With `max-age=120` and the issuer down, keys are usable until 120 s + `jwks_max_stale`."""
        stub.jwks_headers["Cache-Control"] = "max-age=120"
        async with open_keys(stub, clock) as keys:
            await keys.current()
            stub.fault = "down"
            clock.advance(120 + MAX_STALE - 1)
            assert keys.ready
            clock.advance(1)
            assert not keys.ready

    @pytest.mark.parametrize(
        ("low", "high", "problem"),
        [
            (0.0, 10.0, "greater than 0"),
            (-1.0, 5.0, "greater than 0"),
            (10.0, 5.0, "AUTH_JWKS_CACHE_MIN_TTL (10) is above AUTH_JWKS_CACHE_MAX_TTL (5)"),
        ],
    )
    def test_bounds_must_make_sense(
        self, monkeypatch: pytest.MonkeyPatch, low: float, high: float, problem: str
    ) -> None:
        """A minimum above the maximum, or not positive, stops start-up with its explanation."""
        monkeypatch.setenv("AUTH_JWKS_CACHE_MIN_TTL", str(low))
        monkeypatch.setenv("AUTH_JWKS_CACHE_MAX_TTL", str(high))
        with pytest.raises(SettingsError, match=re.escape(problem)):
            load_auth_settings()
