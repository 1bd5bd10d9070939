"""The service's routes: add a method to `Routes` and it is served, authenticated unless it opts out."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency  # noqa: TC002  # Litestar reads handler annotations at runtime
from litestar.exceptions import ServiceUnavailableException

from .auth import IssuerRegistry, Principal, requires_roles, requires_scopes

__all__ = ("AuthedRequest", "Routes")

AuthedRequest = Request[Principal, Any, State]
"""A request whose `user` is the verified token's `Principal`."""


class Routes(Controller):
    """Health probes and example routes; each route needs a valid token unless excluded."""

    @get("/health", exclude_from_auth=True, sync_to_thread=False)
    def health(self) -> dict[str, str]:
        """Liveness: the process serves HTTP."""
        return {"status": "ok"}

    @get("/ready", exclude_from_auth=True)
    async def ready(self, issuers: NamedDependency[IssuerRegistry]) -> dict[str, Any]:
        """Readiness: some trusted issuer's keys are loaded, so tokens can be verified."""
        status = await issuers.readiness()
        if not any(status.values()):
            raise ServiceUnavailableException(
                "signing keys not loaded yet", headers={"Retry-After": str(issuers.retry_after())}
            )
        return {
            "status": "ready",
            "issuers": {name: "ready" if up else "unavailable" for name, up in status.items()},
        }

    @get("/protected", sync_to_thread=False)
    def protected(self, request: AuthedRequest) -> dict[str, Any]:
        """Any valid token."""
        return {"message": "Access granted", "user": describe(request.user)}

    @get("/admin", guards=[requires_scopes("admin")], sync_to_thread=False)
    def admin(self, request: AuthedRequest) -> dict[str, Any]:
        """A valid token with the `admin` scope."""
        return {"message": "Admin access granted", "user": describe(request.user)}

    @get("/staff", guards=[requires_roles("staff")], sync_to_thread=False)
    def staff(self, request: AuthedRequest) -> dict[str, Any]:
        """A valid token with the `staff` role."""
        return {"message": "Staff access granted", "user": describe(request.user)}


def describe(user: Principal) -> dict[str, Any]:
    """What the example routes tell the caller about itself."""
    return {
        "subject": user.subject,
        "issuer": user.issuer,
        "scopes": sorted(user.scopes),
        "roles": sorted(user.roles),
    }
