"""Recently verified tokens, so a client reusing its token is not verified again on every request."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from .principal import Principal

__all__ = ("VerifiedTokens",)


class VerifiedTokens:
    """The principal of each recently verified token, keyed by the exact token string.

    Only successful verifications count, and a token is stored the second time it is verified:
    a token seen once (most tokens, under a flood of fresh ones) costs no entry, so it evicts
    none. An entry lives until the token expires or for `ttl` seconds, whichever comes first;
    everything is dropped when the key set changes; when `maxsize` entries are held, the oldest
    goes. A plain ordered dict: on the hot path of every request, it costs a tenth of a
    general-purpose TTL cache.
    """

    def __init__(self, maxsize: int, ttl: float, clock: Callable[[], float]) -> None:
        self._maxsize = maxsize
        self._ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._seen_once: set[int] = set()
        self._key_version = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, key_version: int) -> Principal | None:
        """The principal stored for `token`, if still valid under this key set version."""
        if key_version != self._key_version:
            self._drop_all(key_version)
            return None
        entry = self._entries.get(token)
        if entry is None:
            return None
        principal, valid_until = entry
        if self._clock() >= valid_until:
            del self._entries[token]
            return None
        return principal

    def put(self, token: str, principal: Principal, expires_at: float, key_version: int) -> None:
        """Remember a successful verification until `expires_at` (or `ttl` from now, if sooner)."""
        if key_version != self._key_version:
            self._drop_all(key_version)
        fingerprint = hash(token)
        if fingerprint not in self._seen_once:
            if len(self._seen_once) >= self._maxsize:
                self._seen_once.clear()
            self._seen_once.add(fingerprint)
            return
        self._seen_once.discard(fingerprint)
        if len(self._entries) >= self._maxsize:
            self._entries.popitem(last=False)
        self._entries[token] = (principal, min(expires_at, self._clock() + self._ttl))

    def _drop_all(self, key_version: int) -> None:
        self._entries.clear()
        self._seen_once.clear()
        self._key_version = key_version
