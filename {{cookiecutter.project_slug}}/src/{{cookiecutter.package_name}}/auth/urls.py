"""URL rules shared by the settings and the key fetcher: https, or http on loopback only."""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import urlsplit

__all__ = ("check_url", "is_loopback")

MAX_PORT: Final = 65535
# The port is ASCII digits only: Python's and httpx's parsers differ on `+80`, `8_0` or
# fullwidth digits.
_AUTHORITY: Final = re.compile(
    r"(?:[^@]*@)?(?:\[[^\]]*\]|[^:@\[\]]*)(?::(?P<port>[0-9]{0,5}))?", re.A
)


def check_url(url: str) -> str:
    """Return `url` if it is absolute and https (http only for a loopback host), else raise.

    The URL must also be one that httpx will request as it is: a port within 1-65535, a host
    that is a valid (IDNA) name, and the same host for Python's URL parser and httpx's.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed `[` of an IPv6 host
        raise ValueError(f"{url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in {"https", "http"} or not parts.hostname or any(c.isspace() for c in url):
        raise ValueError(f"{url!r} is not an absolute http(s) URL")
    authority = _AUTHORITY.fullmatch(parts.netloc)
    port = authority and authority["port"]
    if authority is None or (port and not 1 <= int(port) <= MAX_PORT):
        raise ValueError(f"{url!r} has an invalid port (a port is a number from 1 to {MAX_PORT})")
    host = _requested_host(url, parts.hostname)
    if host != parts.hostname:
        raise ValueError(f"{url!r} is ambiguous: its host reads as {parts.hostname!r} or {host!r}")
    if parts.scheme == "http" and not is_loopback(host):
        raise ValueError(f"{url!r} must use https (http is allowed only for loopback hosts)")
    return url


def _requested_host(url: str, parsed: str) -> str:
    """The host httpx would connect to for `url` (`parsed` where httpx is not installed).

    The template's answer checks load this module at generation, without the service's
    dependencies; the service itself always has httpx, so it always makes this check.
    """
    try:
        import httpx  # noqa: PLC0415
    except ModuleNotFoundError:
        return parsed
    try:
        return httpx.URL(url).host
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise ValueError(f"{url!r} is not a valid URL: {exc}") from None


def is_loopback(host: str) -> bool:
    """Tell whether `host` names this machine: localhost, 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
