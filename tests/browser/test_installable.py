"""The app is installable: Chromium reports no installability errors, the manifest is clean."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, BrowserType, Page

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.helpers_pwa import activate_worker
from tests.server_process import LiveServer


@pytest.fixture
def installable_page(browser_type: BrowserType, tmp_path: Path) -> Iterator[Page]:
    # A persistent profile: an incognito context always reports `in-incognito`.
    context: BrowserContext = browser_type.launch_persistent_context(
        tmp_path / "profile", executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
        viewport={"width": 390, "height": 844}, service_workers="allow",
    )
    try:
        yield context.pages[0] if context.pages else context.new_page()
    finally:
        context.close()


def installability_errors(page: Page) -> list[dict]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Page.getAppManifest")  # makes sure the manifest has been fetched and parsed
    errors: list[dict] = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    return errors


class TestInstallability:
    def test_chromium_reports_no_installability_errors(self, installable_page: Page,
                                                         live_server: LiveServer):
        installable_page.goto(live_server.url + "/")
        activate_worker(installable_page)
        assert installability_errors(installable_page) == []

    def test_a_page_without_the_manifest_is_not_installable(self, installable_page: Page,
                                                             live_server: LiveServer):
        # Negative control: the check above can fail.
        installable_page.goto(live_server.url + "/api/health")
        errors = installability_errors(installable_page)
        assert any(error["errorId"] == "no-manifest" for error in errors), errors

    def test_manifest_parses_without_errors_and_icons_load_at_their_sizes(
        self, installable_page: Page, live_server: LiveServer
    ):
        page = installable_page
        page.goto(live_server.url + "/")
        manifest = page.context.new_cdp_session(page).send("Page.getAppManifest")
        assert manifest["url"] == live_server.url + "/manifest.webmanifest"
        assert manifest["errors"] == []
        icons = page.evaluate(
            """async () => {
              const manifest = await (await fetch('/manifest.webmanifest')).json();
              return Promise.all(manifest.icons.map((icon) => new Promise((resolve) => {
                const img = new Image();
                const size = () => `${img.naturalWidth}x${img.naturalHeight}`;
                img.onload = () => resolve({ ...icon, got: size() });
                img.onerror = () => resolve({ ...icon, got: 'error' });
                img.src = icon.src;
              })));
            }"""
        )
        for icon in icons:
            assert icon["got"] == icon["sizes"], icon
        assert any(icon["purpose"] == "maskable" and icon["sizes"] == "512x512" for icon in icons)
        touch = page.locator('link[rel="apple-touch-icon"]').get_attribute("href")
        assert page.evaluate(
            "async (url) => (await fetch(url)).headers.get('Content-Type')", touch
        ) == "image/png"
