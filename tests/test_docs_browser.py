"""The generated service's API docs in a real headless browser: a newcomer's first visit.

`dev` serves the docs at `/schema`; Debian's Chromium (driven by Playwright, which needs no browser
download with `executable_path`) opens them, authorizes with a token from `token`, and calls
`/protected` with "Try it out". Every request the page makes must go to the service itself: the
network beyond loopback is closed here, so an asset from a CDN would fail to load anyway, and a
recorded request to any other host fails the test by name.

`.ci/run` installs Chromium; without it these tests fail under CI and skip elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import pytest
from conftest import Installed, run
from playwright.sync_api import BrowserContext, Locator, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from processes import LOOPBACK, SLUG, START_TIMEOUT, Service, running_service, service_env

CHROMIUM = Path("/usr/bin/chromium")
# The network beyond loopback is closed: without these, Chromium keeps calling home.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
UI_TIMEOUT_MS = 30_000  # the first load parses a 1.5 MB bundle on a contended 2-core machine


def unavailable(reason: str) -> NoReturn:
    """Fail under CI, where Chromium must be installed; skip with `reason` elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium, which `.ci/run` installs."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing: `apt-get install chromium` (as .ci/run does)")
    return CHROMIUM


@pytest.fixture(scope="module")
def dev(
    installed_default: Installed, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """`dev --no-reload` of the default project, ready to accept tokens."""
    log = tmp_path_factory.mktemp("docs-browser") / "dev.log"
    with running_service(installed_default, "dev", log, "--no-reload") as service:
        service.wait_for("/ready", 200, START_TIMEOUT)
        yield service


@pytest.fixture(scope="module")
def token(dev: Service, installed_default: Installed) -> str:
    """A token minted by `token` for the running `dev` service."""
    env = service_env(installed_default.env, PORT=str(dev.port))
    return run(["uv", "run", SLUG, "token"], installed_default.path, env).stdout.strip()


@pytest.fixture
def browser(chromium: Path, tmp_path: Path) -> Iterator[BrowserContext]:
    """Headless Chromium with a fresh profile in the test's temporary folder."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=chromium,
            headless=True,
            args=list(CHROMIUM_FLAGS),
        )
        context.set_default_timeout(UI_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@dataclass
class DocsPage:
    """The docs page as the browser shows it, and every request it made."""

    page: Page
    service: Service
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def open(self) -> None:
        """Load `/schema` and wait until Swagger UI has drawn the operations."""
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on(
            "requestfailed",
            lambda request: self.failed.append(f"{request.url}: {request.failure}"),
        )
        self.page.goto(f"http://{LOOPBACK}:{self.service.port}/schema")
        try:
            self.operation("/protected").wait_for()
        except PlaywrightTimeoutError:
            pytest.fail(
                f"Swagger UI drew no operations; requests: {self.requests}, failed: {self.failed}",
                pytrace=False,
            )

    def operation(self, path: str) -> Locator:
        """The operation block of `path`."""
        summary = self.page.locator(f".opblock-summary-path[data-path='{path}']")
        return self.page.locator(".opblock").filter(has=summary)

    def authorize(self, token: str) -> None:
        """Enter `token` in the "Authorize" dialog, apply it, close the dialog."""
        self.page.get_by_role("button", name="Authorize").first.click()
        dialog = self.page.locator(".modal-ux")
        dialog.locator("#auth-bearer-value").fill(token)
        dialog.get_by_role("button", name="Apply credentials").click()
        dialog.get_by_role("button", name="Close").click()

    def try_it_out(self, path: str) -> tuple[str, str]:
        """Execute `path` with "Try it out"; the status and body that the page shows."""
        operation = self.operation(path)
        operation.locator(".opblock-summary-control").click()
        operation.get_by_role("button", name="Try it out").click()
        operation.get_by_role("button", name="Execute").click()
        response = operation.locator(".live-responses-table .response")
        # The cell adds "Undocumented" under a status that the schema does not list.
        status = response.locator(".response-col_status").inner_text().split()[0]
        body = response.locator(".response-col_description pre").first.inner_text()
        return status, body

    def assert_only_the_service_was_asked(self) -> None:
        """Every request went to the service's own origin, and none failed."""
        origin = f"{LOOPBACK}:{self.service.port}"
        elsewhere = [url for url in self.requests if urlsplit(url).netloc != origin]
        assert not elsewhere, f"the docs page asked hosts other than {origin}: {elsewhere}"
        assert not self.failed, f"requests that failed: {self.failed}"


@pytest.fixture
def docs(browser: BrowserContext, dev: Service) -> DocsPage:
    """`/schema` of the `dev` service, loaded in a new tab."""
    docs = DocsPage(browser.new_page(), dev)
    docs.open()
    return docs


class TestDocsInBrowser:
    """`/schema` works in a browser that reaches nothing but the service."""

    def test_page_renders_from_the_service_alone(self, docs: DocsPage, tmp_path: Path) -> None:
        """Swagger UI draws the routes and "Authorize", with every asset from the service."""
        page = docs.page
        assert page.locator(".info .title").inner_text().startswith("Litestar JWKS Service")
        paths = set(page.locator(".opblock-summary-path").all_inner_texts())
        assert {"/health", "/ready", "/protected", "/admin", "/staff"} <= paths
        assert page.get_by_role("button", name="Authorize").first.is_visible()
        page.screenshot(path=tmp_path / "docs.png", full_page=True)
        assets = [url for url in docs.requests if "/schema/assets/" in url]
        assert len(assets) == 4, docs.requests
        docs.assert_only_the_service_was_asked()

    def test_try_it_out_without_authorizing_is_401(self, docs: DocsPage) -> None:
        """Without "Authorize", "Try it out" on `/protected` shows the service's 401."""
        status, _ = docs.try_it_out("/protected")
        assert status == "401"
        docs.assert_only_the_service_was_asked()

    def test_authorized_try_it_out_is_200(self, docs: DocsPage, token: str, tmp_path: Path) -> None:
        """After "Authorize" with a `token` token, "Try it out" on `/protected` shows 200."""
        docs.authorize(token)
        status, body = docs.try_it_out("/protected")
        docs.page.screenshot(path=tmp_path / "try-it-out.png", full_page=True)
        assert status == "200", body
        assert "Access granted" in body
        assert "dev-user" in body
        docs.assert_only_the_service_was_asked()
