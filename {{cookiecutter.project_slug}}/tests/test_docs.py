"""The API docs: Swagger UI at `/schema`, every asset it loads served by the service itself."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from {{ cookiecutter.package_name }}.docs import ASSETS, ASSETS_PATH

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import AsyncTestClient

    Client = AsyncTestClient[Litestar]

ASSET_REFERENCE = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


class TestDocsPage:
    """`/schema` is Swagger UI and needs nothing from outside the service."""

    @pytest.mark.parametrize("path", ["/schema", "/schema/", "/schema/swagger"])
    async def test_schema_is_swagger_ui(self, client: Client, path: str) -> None:
        """`/schema` and `/schema/swagger` answer Swagger UI's page without a token."""
        response = await client.get(path)
        assert response.status_code == 200
        assert "SwaggerUIBundle(" in response.text

    async def test_page_loads_only_local_assets(self, client: Client) -> None:
        """Every script, style and icon the page references is under `/schema/assets`."""
        page = (await client.get("/schema")).text
        references = ASSET_REFERENCE.findall(page)
        assert len(references) == 4
        assert all(reference.startswith(f"{ASSETS_PATH}/") for reference in references)
        assert "https://" not in page.split("<body>")[0]

    async def test_referenced_assets_are_served_without_a_token(self, client: Client) -> None:
        """Each asset the page references is served, with the media type the browser needs."""
        page = (await client.get("/schema")).text
        expected = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
        for reference in ASSET_REFERENCE.findall(page):
            response = await client.get(reference)
            assert response.status_code == 200, reference
            suffix = reference[reference.rfind(".") :]
            assert response.headers["content-type"].startswith(expected[suffix]), reference
            assert response.content

    @pytest.mark.parametrize("path", ["/schema/openapi.json", "/schema/openapi.yaml"])
    async def test_schema_documents_are_served(self, client: Client, path: str) -> None:
        """The schema itself is served as JSON and as YAML."""
        response = await client.get(path)
        assert response.status_code == 200
        assert "/protected" in response.text

    @pytest.mark.parametrize("path", ["/schema/redoc", "/schema/elements", "/schema/rapidoc"])
    async def test_cdn_based_pages_are_not_served(self, client: Client, path: str) -> None:
        """Pages that would load their scripts from a CDN (blank offline) are 404."""
        assert (await client.get(path)).status_code == 404

    @pytest.mark.parametrize(
        "name",
        [
            "missing.js",
            "index.html",
            "swagger-initializer.js",
            "oauth2-redirect.html",
            "swagger-ui.js.map",
            "..%2F__init__.py",
        ],
    )
    async def test_only_the_pages_assets_are_served(self, client: Client, name: str) -> None:
        """Any other file of the bundle (its demo page, which loads a remote schema) is 404."""
        assert (await client.get(f"{ASSETS_PATH}/{name}")).status_code == 404

    async def test_every_served_asset_is_referenced_by_the_page(self, client: Client) -> None:
        """The allow-list is exactly what the page loads."""
        page = (await client.get("/schema")).text
        referenced = {reference.rpartition("/")[2] for reference in ASSET_REFERENCE.findall(page)}
        assert referenced == ASSETS

    @pytest.mark.parametrize("settings", [{"exclude_paths": ()}], indirect=True)
    async def test_assets_need_a_token_when_schema_is_not_excluded(self, client: Client) -> None:
        """With no `exclude_paths`, the docs assets are protected like the docs page."""
        assert (await client.get(f"{ASSETS_PATH}/swagger-ui.css")).status_code == 401
