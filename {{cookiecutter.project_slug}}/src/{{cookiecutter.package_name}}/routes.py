"""HTTP routes: health and readiness probes, and two example protected routes."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency  # noqa: TC002  # Litestar reads handler annotations at runtime
from litestar.exceptions import ServiceUnavailableException

from .auth import KeySet, KeysUnavailable, Principal, requires_scopes

__all__ = ("admin", "health", "protected", "ready")

AuthedRequest = Request[Principal, Any, State]


@get("/health", exclude_from_auth=True, sync_to_thread=False)
def health() -> dict[str, str]:
    """Liveness: the process serves HTTP."""
    return {"status": "ok"}


@get("/ready", exclude_from_auth=True)
async def ready(key_set: NamedDependency[KeySet]) -> dict[str, str]:
    """Readiness: the issuer's keys are loaded, so tokens can be verified."""
    if not key_set.ready:
        try:
            await key_set.current()
        except KeysUnavailable as exc:
            raise ServiceUnavailableException(
                "signing keys not loaded yet", headers={"Retry-After": str(exc.retry_after)}
            ) from None
    return {"status": "ready"}


@get("/protected", sync_to_thread=False)
def protected(request: AuthedRequest) -> dict[str, Any]:
    """Any valid token."""
    return {"message": "Access granted", "user": _describe(request.user)}


@get("/admin", guards=[requires_scopes("admin")], sync_to_thread=False)
def admin(request: AuthedRequest) -> dict[str, Any]:
    """A valid token with the `admin` scope."""
    return {"message": "Admin access granted", "user": _describe(request.user)}


def _describe(user: Principal) -> dict[str, Any]:
    return {"subject": user.subject, "scopes": sorted(user.scopes)}
