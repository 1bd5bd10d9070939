"""URL rules shared by the settings and the key fetcher: https, or http on loopback only."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ("check_url", "is_loopback")


def check_url(url: str) -> str:
    """Return `url` if it is absolute and https (http only for a loopback host), else raise."""
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname or any(c.isspace() for c in url):
        raise ValueError(f"{url!r} is not an absolute http(s) URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"{url!r} must use https (http is allowed only for loopback hosts)")
    return url


def is_loopback(host: str) -> bool:
    """Tell whether `host` names this machine: localhost, 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
