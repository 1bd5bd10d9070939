"""`doctor`: fetch the configured issuer's documents for real and explain any mismatch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from .auth.jwks import JWKSError, discover_jwks_url, get_json, parse_jwks

if TYPE_CHECKING:
    from .auth import AuthSettings

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
    """Check discovery, the JWKS, the issuer string and the algorithms against the settings."""
    report = Report([f"Issuer {settings.issuer!r}"])
    if settings.audience:
        report.good(f"audience checked: {', '.join(settings.audience)}")
    else:
        report.warn("AUTH_AUDIENCE is empty: tokens meant for any audience are accepted")
    async with httpx.AsyncClient(transport=transport, timeout=settings.http_timeout) as client:
        try:
            url = settings.jwks_url or await discover_jwks_url(client, settings.issuer)
            report.good(f"JWKS URL: {url}")
            document = await get_json(client, url)
        except JWKSError as exc:
            report.fail(str(exc))
            return report
    _check_keys(report, document.get("keys"), settings.algorithms)
    return report


def _check_keys(report: Report, keys: Any, algorithms: tuple[str, ...]) -> None:
    if not isinstance(keys, list) or not keys:
        report.fail("the JWKS has no 'keys'")
        return
    usable = 0
    for item in keys:
        if not isinstance(item, dict):
            report.fail(f"the JWKS holds a key that is not a JSON object: {item!r}")
            continue
        described = (
            f"key kid={item.get('kid')!r} kty={item.get('kty')!r} "
            f"crv={item.get('crv')!r} alg={item.get('alg')!r} use={item.get('use')!r}"
        )
        try:
            parsed = parse_jwks({"keys": [item]}, algorithms)
        except JWKSError:
            report.warn(f"{described}: not usable with AUTH_ALGORITHMS={','.join(algorithms)}")
            continue
        usable += 1
        report.good(f"{described}: verifies {', '.join(parsed.by_algorithm)}")
    if not usable:
        report.fail(
            "no published key can verify any of AUTH_ALGORITHMS="
            f"{','.join(algorithms)}: every token would be refused"
        )
