"""`doctor`: fetch the configured issuer's documents for real and explain any mismatch."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from .auth.jwks import (
    JWKSError,
    UnusableKey,
    build_keys,
    discover_jwks_url,
    get_json,
    key_list,
    printable,
)

if TYPE_CHECKING:
    from .auth import AuthSettings
    from .auth.jwks import Document

__all__ = ("Report", "diagnose")


@dataclass
class Report:
    """Readable findings; `ok` is False as soon as one is a problem."""

    lines: list[str] = field(default_factory=list)
    ok: bool = True

    def good(self, message: str) -> None:
        self.lines.append(f"  ok    {message}")

    def warn(self, message: str) -> None:
        self.lines.append(f"  warn  {message}")

    def fail(self, message: str) -> None:
        self.lines.append(f"  FAIL  {message}")
        self.ok = False


async def diagnose(
    settings: AuthSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> Report:
    """Check discovery, the JWKS, the issuer string and the algorithms against the settings.

    Whatever the issuer answers, the outcome is a report: never a traceback.
    """
    report = Report([f"Issuer {settings.issuer!r}"])
    if settings.audience:
        report.good(f"audience checked: {', '.join(settings.audience)}")
    else:
        report.warn("AUTH_AUDIENCE is empty: tokens meant for any audience are accepted")
    try:
        document = await _fetch(report, settings, transport)
        keys = key_list(document)
        _check_lifetime(report, document.max_age)
        _check_keys(report, keys, settings.algorithms)
    except TimeoutError:
        report.fail(f"no complete answer within AUTH_HTTP_TIMEOUT={settings.http_timeout:g}s")
    except JWKSError as exc:
        report.fail(str(exc))
    except Exception as exc:  # noqa: BLE001  # a report, whatever the issuer sent
        report.fail(f"unexpected {type(exc).__name__} while reading the issuer's documents")
    return report


async def _fetch(
    report: Report, settings: AuthSettings, transport: httpx.AsyncBaseTransport | None
) -> Document:
    """The JWKS, fetched as the service fetches it: within one AUTH_HTTP_TIMEOUT in all."""
    async with (
        httpx.AsyncClient(transport=transport, timeout=settings.http_timeout) as client,
        asyncio.timeout(settings.http_timeout),
    ):
        url = settings.jwks_url or await discover_jwks_url(client, settings.issuer)
        report.good(f"JWKS URL: {url}")
        return await get_json(client, url)


def _check_lifetime(report: Report, max_age: float | None) -> None:
    if max_age is None:
        report.good("no Cache-Control max-age: the keys are refreshed after AUTH_JWKS_CACHE_TTL")
    elif max_age == 0:
        report.good("Cache-Control no-store/no-cache: the keys are kept for the minimum lifetime")
    else:
        report.good(f"Cache-Control max-age={max_age:.0f}: kept that long, within the bounds")


def _check_keys(report: Report, keys: list[Any], algorithms: tuple[str, ...]) -> None:
    if not keys:
        report.fail("the JWKS has no 'keys'")
        return
    usable = 0
    for item in keys:
        if not isinstance(item, dict):
            report.fail(f"the JWKS holds a key that is not a JSON object: {printable(item)}")
            continue
        described = " ".join(
            f"{name}={printable(item.get(name))}" for name in ("kid", "kty", "crv", "alg", "use")
        )
        try:
            built = build_keys(item, algorithms)
        except UnusableKey as exc:
            report.warn(
                f"key {described}: not usable with AUTH_ALGORITHMS={','.join(algorithms)}: {exc}"
            )
            continue
        usable += 1
        report.good(f"key {described}: verifies {', '.join(built)}")
    if not usable:
        report.fail(
            "no published key can verify any of AUTH_ALGORITHMS="
            f"{','.join(algorithms)}: every token would be refused"
        )
