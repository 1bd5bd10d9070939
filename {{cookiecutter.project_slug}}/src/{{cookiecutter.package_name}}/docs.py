"""The API docs: Swagger UI at `/schema`, its scripts and styles served by the service itself.

Litestar's docs pages load their assets from public CDNs, so behind a strict proxy or offline they
stay blank. Here they come from the `swagger-ui-bundle-v2` package instead, under `/schema/assets`:
inside the `/schema` prefix that `AUTH_EXCLUDE_PATHS` leaves public by default.
"""

from __future__ import annotations

from litestar import Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin, YamlRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # no py.typed marker

__all__ = ("ASSETS_PATH", "DOCS_PATH", "openapi_config")

DOCS_PATH = "/schema"
ASSETS_PATH = f"{DOCS_PATH}/assets"


def openapi_config(title: str, version: str) -> OpenAPIConfig:
    """Swagger UI (with its "Authorize" button) at `/schema`, the schema at `/schema/openapi.json`."""
    swagger_ui = SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
        path=["/", "/swagger"],
    )
    assets = create_static_files_router(
        path=ASSETS_PATH.removeprefix(DOCS_PATH), directories=[swagger_ui_path], name="docs-assets"
    )
    return OpenAPIConfig(
        title=title,
        version=version,
        render_plugins=[swagger_ui, YamlRenderPlugin()],
        openapi_router=Router(DOCS_PATH, route_handlers=[assets], include_in_schema=False),
    )
