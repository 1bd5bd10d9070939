"""Who a verified token speaks for."""

from __future__ import annotations

from collections.abc import Mapping  # noqa: TC003  # msgspec reads the annotations at runtime
from typing import Any

import msgspec

__all__ = ("Principal",)


class Principal(msgspec.Struct, frozen=True):
    """The identity of a verified token; set as `request.user`."""

    subject: str
    """The token's `sub`."""
    issuer: str
    """Which trusted issuer vouched for the token, as configured (`AUTH_ISSUER`, or an entry)."""
    scopes: frozenset[str]
    """Granted scopes, from the issuer's scope claims (`scope`, `scp`, ...)."""
    roles: frozenset[str]
    """Roles, from the issuer's role claims (`roles`, `realm_access.roles`, ...)."""
    claims: Mapping[str, Any]
    """Every claim of the verified token."""
