"""This service as an OAuth protected resource: its URI, canonical form and metadata URL (RFC 9728)."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from .urls import check_url

__all__ = (
    "METADATA_PATH",
    "canonical_uri",
    "check_resource",
    "metadata_paths",
    "metadata_url",
)

METADATA_PATH: Final = "/.well-known/oauth-protected-resource"
DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# Path segments a Litestar route can serve as they are: no `{`, `}`, no empty segment.
RESOURCE_PATH: Final = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*/?")
RESOURCE_EXAMPLE: Final = "e.g. https://api.example.com or https://api.example.com/mcp"


def check_resource(value: str) -> str:
    """Return `value` if it can be this service's resource identifier (RFC 8707 section 2), else raise."""
    try:
        check_url(value)
        parts = urlsplit(value)
        parts.port  # noqa: B018 - reading the port is what validates it
    except ValueError as exc:
        raise ValueError(f"{exc}: {RESOURCE_EXAMPLE}") from None
    if "#" in value or "?" in value:
        raise ValueError(
            f"{value!r} has a ?query or #fragment, which a resource identifier must not have "
            f"(RFC 8707): {RESOURCE_EXAMPLE}"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{value!r} holds a user name or password: {RESOURCE_EXAMPLE}")
    if not RESOURCE_PATH.fullmatch(parts.path):
        raise ValueError(
            f"{value!r} has a path that cannot be served as it is (empty segment or braces): "
            f"{RESOURCE_EXAMPLE}"
        )
    return value


def canonical_uri(value: str) -> str | None:
    """The canonical form of an http(s) URI for audience comparison; None if it is not one.

    Scheme and host are case-insensitive, a default port is dropped, and an empty path equals
    `/`. The path keeps its case and its trailing slash, which servers may tell apart. A URI
    with a fragment or user information never names this resource.
    """
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.fragment or "#" in value:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    host = parts.hostname  # urlsplit lowercases it
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = "" if parts.path == "/" else parts.path
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{host}{path}{query}"


def metadata_paths(resource: str) -> tuple[str, ...]:
    """The local paths that serve the metadata: the well-known path, and its path-suffixed form.

    RFC 9728 section 3.1 inserts the well-known path between the host and the resource's path;
    clients that know only the host ask the bare well-known path.
    """
    path = urlsplit(resource).path.rstrip("/")
    return (METADATA_PATH, f"{METADATA_PATH}{path}") if path else (METADATA_PATH,)


def metadata_url(resource: str) -> str:
    """The metadata URL for `resource` (RFC 9728 section 3.1), named in `resource_metadata`."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{metadata_paths(resource)[-1]}"
