"""The API docs: Swagger UI at `/schema`, its scripts and styles served by the service itself.

Litestar's docs pages load their assets from public CDNs, so behind a strict proxy or offline they
stay blank. Here they come from the `swagger-ui-bundle-v2` package instead, under `/schema/assets`:
inside the `/schema` prefix that `AUTH_EXCLUDE_PATHS` leaves public by default.
"""

from __future__ import annotations

from typing import Final

from litestar import Router, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin, YamlRenderPlugin
from litestar.params import FromPath  # noqa: TC002  # Litestar reads handler annotations at runtime
from litestar.response import File
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # no py.typed marker

__all__ = ("ASSETS", "ASSETS_PATH", "DOCS_PATH", "openapi_config")

DOCS_PATH: Final = "/schema"
ASSETS_PATH: Final = f"{DOCS_PATH}/assets"
ASSETS: Final = frozenset(
    {
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-ui-standalone-preset.js",
        "favicon-32x32.png",
    }
)
"""The bundle's files the page loads: only these are served, not the bundle's own demo page."""


@get(
    ASSETS_PATH.removeprefix(DOCS_PATH) + "/{name:str}",
    name="docs-assets",
    sync_to_thread=False,
    cache_control=CacheControlHeader(max_age=3600, public=True),
)
def docs_asset(name: FromPath[str]) -> File:
    """One of `ASSETS`, from the installed swagger-ui-bundle-v2."""
    if name not in ASSETS:
        raise NotFoundException()
    return File(swagger_ui_path / name, filename=name, content_disposition_type="inline")


def openapi_config(title: str, version: str) -> OpenAPIConfig:
    """Swagger UI (with its "Authorize" button) at `/schema`, the schema at `/schema/openapi.json`."""
    swagger_ui = SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
        path=["/", "/swagger"],
    )
    return OpenAPIConfig(
        title=title,
        version=version,
        render_plugins=[swagger_ui, YamlRenderPlugin()],
        openapi_router=Router(DOCS_PATH, route_handlers=[docs_asset], include_in_schema=False),
    )
