"""The Litestar application: `create_app()` builds it, `app` is what uvicorn serves."""

from __future__ import annotations

from importlib.metadata import version
from typing import TYPE_CHECKING, Final

from litestar import Litestar

from .auth import JWKSAuth, SettingsError, load_auth_settings
from .docs import openapi_config
from .logs import configure_logging
{%- if cookiecutter.__mcp_server %}
from .mcp_server import MCPEndpoint
{%- endif %}
from .observability import Observability
from .routes import Routes
from .settings import ServiceSettings, load_service_settings

if TYPE_CHECKING:
    from collections.abc import Sequence

    import httpx
    from litestar.types import ControllerRouterHandler

    from .auth import AuthSettings

__all__ = ("app", "create_app")

VERSION: Final = version({{ cookiecutter.project_slug | tojson }})


def create_app(
    settings: AuthSettings | None = None,
    *,
    service: ServiceSettings | None = None,
    jwks_transport: httpx.AsyncBaseTransport | None = None,
    route_handlers: Sequence[ControllerRouterHandler] = (),
) -> Litestar:
    """Build the service. `jwks_transport` replaces the network (tests use `httpx.MockTransport`)."""
    service = service or load_service_settings()
    auth = JWKSAuth(settings or load_auth_settings(), jwks_transport=jwks_transport)
    return Litestar(
        route_handlers=[Routes, *route_handlers],
        plugins=[
            auth,
            Observability(service, auth.issuers, {{ cookiecutter.project_slug | tojson }}),
{%- if cookiecutter.__mcp_server %}
            MCPEndpoint({{ cookiecutter.project_name | tojson }}, auth.issuers),
{%- endif %}
        ],
        logging_config=None,
        openapi_config=openapi_config(title={{ cookiecutter.project_name | tojson }}, version=VERSION),
    )


def app_from_environment() -> Litestar:
    """The app as `serve` runs it: settings and logging from the environment, clear errors."""
    try:
        service = load_service_settings()
        configure_logging(service.log_format, service.log_level)
        return create_app(service=service)
    except SettingsError as exc:
        raise SystemExit(str(exc)) from None


app = app_from_environment()
