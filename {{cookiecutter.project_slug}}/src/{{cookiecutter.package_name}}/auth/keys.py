"""The issuer's key set: loaded in the background, cached, refreshed on demand, served stale on error."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import TYPE_CHECKING, Final

import httpx
from cachetools import TTLCache

from .errors import InvalidToken, KeysUnavailable
from .jwks import JWKSError, ParsedKeys, fetch_jwks, parse_jwks

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from jose.backends.base import Key

    from .settings import AuthSettings

__all__ = ("KeySet",)

logger = logging.getLogger(__name__)

FIRST_RETRY_SECONDS: Final = 1.0


class KeySet:
    """Signing keys of the configured issuer, shared by all requests of one worker.

    - One fetch at a time: concurrent callers wait for the fetch under way (single flight).
    - Fresh for the issuer's `Cache-Control: max-age`, clamped to `jwks_cache_min_ttl`..
      `jwks_cache_max_ttl` (`no-store`/`no-cache`: the minimum), or `jwks_cache_ttl` when it
      sends none; after that
      the keys are still used while one request refreshes them in the background.
    - An unknown `kid` refreshes at once, but never more often than `refresh_cooldown`: one
      that arrives during the cooldown schedules a single refresh for the cooldown's end, so a
      newly published key is found within a cooldown of the first token that uses it.
    - Any failure to fetch, parse or build the keys is a failed fetch: logged, counted in
      `failed_fetches`, retried with exponential backoff. The last good keys stay in use for
      up to `jwks_max_stale` past their lifetime; with no keys at all, callers get
      `KeysUnavailable` (503 with `Retry-After`).
    """

    def __init__(
        self,
        settings: AuthSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._min_ttl, self._max_ttl = settings.jwks_cache_min_ttl, settings.jwks_cache_max_ttl
        self._transport = transport
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._fresh: TTLCache[str, ParsedKeys] = TTLCache(
            maxsize=1, ttl=settings.jwks_cache_ttl, timer=clock
        )
        self._last_good: ParsedKeys | None = None
        self._last_good_until = -math.inf
        self._next_fetch_at = -math.inf
        self._failures = 0
        self._inflight: asyncio.Task[ParsedKeys | None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loaded_at = math.nan
        self.fetches = 0
        """How many fetches were started (for tests and metrics)."""
        self.failed_fetches = 0
        """How many of them failed."""
        self.version = 0
        """Bumped whenever a new key set is installed, so caches built on the old one can drop."""

    async def __aenter__(self) -> KeySet:
        self._client = httpx.AsyncClient(
            transport=self._transport,
            timeout=self._settings.http_timeout,
            follow_redirects=False,
            headers={"User-Agent": "jwks-keyset"},
        )
        self._start_fetch()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._cancel_timer()
        if self._inflight is not None:
            self._inflight.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def ready(self) -> bool:
        """Whether keys are loaded and still within their (stale) lifetime."""
        return self._usable() is not None

    def age(self) -> float:
        """Seconds since the key set in use was fetched (NaN before the first)."""
        return self._clock() - self._loaded_at

    def retry_after(self) -> int:
        """Whole seconds until the next fetch may start (at least 1)."""
        return max(1, math.ceil(self._next_fetch_at - self._clock()))

    async def key_for(self, kid: str | None, algorithm: str) -> Key:
        """The key that verifies a token with this `kid` and `alg`.

        Raises:
            InvalidToken: no key in the issuer's set fits the token.
            KeysUnavailable: no key set could be loaded.
        """
        keys = await self.current()
        key = keys.find(kid, algorithm)
        if key is None and kid is not None and kid not in keys.by_kid:
            if self._inflight is None and self._clock() < self._next_fetch_at:
                self._schedule_fetch()  # too soon to ask the issuer: ask once it is allowed
            else:
                refreshed = await self._fetch(only_if_due=False)
                if refreshed is not None:
                    key = refreshed.find(kid, algorithm)
        if key is None:
            raise InvalidToken("unknown_kid" if kid is not None else "no_unique_key")
        return key

    async def current(self) -> ParsedKeys:
        """The keys to verify with now, fetching them first if there are none."""
        try:  # on every request: indexing costs a third of `TTLCache.get`
            return self._fresh["keys"]
        except KeyError:
            pass
        usable = self._usable()
        if usable is not None:
            if self._clock() >= self._next_fetch_at:
                self._start_fetch()
            return usable
        keys = await self._fetch(only_if_due=True)
        if keys is None:
            raise KeysUnavailable(self.retry_after())
        return keys

    def _usable(self) -> ParsedKeys | None:
        fresh = self._fresh.get("keys")
        if fresh is not None:
            return fresh
        return self._last_good if self._clock() < self._last_good_until else None

    def _start_fetch(self) -> asyncio.Task[ParsedKeys | None]:
        if self._inflight is None:
            self._inflight = asyncio.get_running_loop().create_task(self._load())
        return self._inflight

    async def _fetch(self, *, only_if_due: bool) -> ParsedKeys | None:
        """Join the fetch under way, or start one (when due); None if no keys came of it."""
        if self._inflight is None and only_if_due and self._clock() < self._next_fetch_at:
            return None
        # Shielded: a caller that goes away (client disconnect) must not cancel the shared fetch.
        return await asyncio.shield(self._start_fetch())

    async def _load(self) -> ParsedKeys | None:
        """Fetch, parse and install a key set; log and return None on failure."""
        started = self._clock()
        self._next_fetch_at = started + self._settings.refresh_cooldown
        self.fetches += 1
        try:
            keys, lifetime = await self._download()
        except JWKSError as exc:
            self._failed(started, str(exc))
            return None
        except Exception as exc:  # whatever the issuer sent: a failed fetch, never a 500
            # The type only: the message of an unforeseen error may quote the document.
            logger.debug("JWKS fetch failed unexpectedly", exc_info=True)
            self._failed(started, f"unexpected {type(exc).__name__} while loading the keys")
            return None
        finally:
            self._inflight = None
        self._failures = 0
        self._cancel_timer()
        self._install(keys, lifetime)
        return keys

    def _failed(self, started: float, reason: str) -> None:
        self._failures += 1
        self.failed_fetches += 1
        backoff = min(
            FIRST_RETRY_SECONDS * 2 ** (self._failures - 1), self._settings.refresh_cooldown
        )
        self._next_fetch_at = started + backoff
        if self._usable() is None:
            # No keys at all: keep retrying without waiting for traffic, so /ready recovers.
            self._cancel_timer()
            self._schedule_fetch()
        logger.warning(
            "JWKS fetch failed: %s; %s; next attempt in %.0fs",
            reason,
            "serving the cached keys" if self._usable() else "requests get 503 until keys load",
            backoff,
        )

    async def _download(self) -> tuple[ParsedKeys, float]:
        if self._client is None:
            raise JWKSError("the key set is used outside `async with`")
        try:
            async with asyncio.timeout(self._settings.http_timeout):
                document = await fetch_jwks(self._client, self._settings)
        except TimeoutError:
            raise JWKSError(f"no answer within {self._settings.http_timeout:g}s") from None
        keys = parse_jwks(document.content, self._settings.algorithms)
        lifetime = self._lifetime(document.max_age)
        logger.info(
            "JWKS loaded from %s: %s; fresh for %.0fs", document.url, keys.describe(), lifetime
        )
        return keys, lifetime

    def _lifetime(self, max_age: float | None) -> float:
        """How long a key set stays fresh: the issuer's word, within bounds, or the default."""
        if max_age is None:
            return self._settings.jwks_cache_ttl
        return min(max(max_age, self._min_ttl), self._max_ttl)

    def _schedule_fetch(self) -> None:
        """Start a fetch as soon as one is allowed; one timer at a time, cancelled on exit."""
        if self._timer is None and self._client is not None:
            delay = max(0.0, self._next_fetch_at - self._clock())
            self._timer = asyncio.get_running_loop().call_later(delay, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self._start_fetch()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _install(self, keys: ParsedKeys, lifetime: float) -> None:
        # A one-entry cache per key set: each set lives as long as its own answer said.
        self._fresh = TTLCache(maxsize=1, ttl=lifetime, timer=self._clock)
        self._fresh["keys"] = keys
        self._last_good = keys
        self._loaded_at = self._clock()
        self._last_good_until = self._clock() + lifetime + self._settings.jwks_max_stale
        self.version += 1
