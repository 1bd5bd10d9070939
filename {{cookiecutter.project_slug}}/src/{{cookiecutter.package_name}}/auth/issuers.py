"""The trusted issuers: each token's `iss` picks one, with its own key set and claim rules."""

from __future__ import annotations

import asyncio
import contextlib
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

from .errors import InvalidToken, KeysUnavailable
from .keys import KeySet
from .profiles import TENANT_PLACEHOLDER

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from types import TracebackType

    import httpx

    from .profiles import ClaimRules
    from .settings import AuthSettings

__all__ = ("Issuer", "IssuerRegistry")


@dataclass(frozen=True, slots=True)
class Issuer:
    """One trusted issuer: its name, key set, allowed algorithms and claim rules."""

    name: str
    """The issuer as configured: the exact `iss`, or a `{tenantid}` template."""
    keys: KeySet
    algorithms: frozenset[str]
    rules: ClaimRules


class IssuerRegistry:
    """Finds the issuer of a token by its (still unverified) `iss`.

    A token is only ever checked against the key set of the issuer it names, so a key of
    one issuer can never vouch for a token of another; an `iss` that no issuer answers to is
    refused before any key is looked up or fetched.
    """

    def __init__(self, issuers: Sequence[Issuer]) -> None:
        self._issuers = tuple(issuers)
        self._by_iss: dict[str, Issuer] = {
            iss: issuer for issuer in self._issuers for iss in issuer.rules.issuers
        }
        # `{tenantid}` templates (Entra ID's multi-tenant issuer), split around the placeholder.
        self._templates: list[tuple[str, str, Issuer]] = []
        for issuer in self._issuers:
            if issuer.rules.issuer_template:
                prefix, _, suffix = issuer.rules.issuer_template.partition(TENANT_PLACEHOLDER)
                self._templates.append((prefix, suffix, issuer))
        self._exits = AsyncExitStack()

    @classmethod
    def from_settings(
        cls,
        settings: AuthSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> Self:
        """One issuer per configured entry, each with a key set of its own."""
        return cls(
            [
                Issuer(
                    name=entry.issuer,
                    keys=KeySet(settings.for_issuer(entry), transport=transport, clock=clock),
                    algorithms=frozenset(entry.allowed_algorithms),
                    rules=entry.claim_rules(settings.resource),
                )
                for entry in settings.issuer_entries()
            ]
        )

    def __iter__(self) -> Iterator[Issuer]:
        return iter(self._issuers)

    def __len__(self) -> int:
        return len(self._issuers)

    @property
    def version(self) -> int:
        """Changes whenever any issuer installs a new key set."""
        return sum(issuer.keys.version for issuer in self._issuers)

    @property
    def ready(self) -> bool:
        """Whether at least one issuer has keys, so that some tokens can be verified."""
        return any(issuer.keys.ready for issuer in self._issuers)

    async def readiness(self) -> dict[str, bool]:
        """Whether each issuer has keys, once those without have tried to load them."""

        async def load(issuer: Issuer) -> None:
            if not issuer.keys.ready:
                with contextlib.suppress(KeysUnavailable):
                    await issuer.keys.current()

        await asyncio.gather(*(load(issuer) for issuer in self._issuers))
        return {issuer.name: issuer.keys.ready for issuer in self._issuers}

    def retry_after(self) -> int:
        """Whole seconds until some issuer without keys may try again."""
        waiting = [issuer.keys.retry_after() for issuer in self._issuers if not issuer.keys.ready]
        return min(waiting, default=1)

    def find(self, iss: object) -> Issuer:
        """The issuer a token's `iss` names; a template's tenant is checked by its claim rules.

        Raises:
            InvalidToken: `unknown_issuer`.
        """
        if type(iss) is str:
            issuer = self._by_iss.get(iss)
            if issuer is not None:
                return issuer
            for prefix, suffix, candidate in self._templates:
                if (
                    iss.startswith(prefix)
                    and iss.endswith(suffix)
                    and len(iss) > len(prefix + suffix)
                ):
                    return candidate
        raise InvalidToken("unknown_issuer")

    async def __aenter__(self) -> Self:
        for issuer in self._issuers:
            await self._exits.enter_async_context(issuer.keys)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._exits.aclose()
