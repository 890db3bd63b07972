"""The install offer in Settings: Chromium's prompt behind a button, a hint on iOS Safari."""

from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.server_process import LiveServer

IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

# What Chromium dispatches when the app is installable; prompt() records that it was called.
FIRE_PROMPT = """() => {
  window.prompted = 0;
  const event = new Event('beforeinstallprompt', { cancelable: true });
  event.prompt = async () => { window.prompted += 1; };
  event.userChoice = Promise.resolve({ outcome: 'accepted', platform: 'web' });
  dispatchEvent(event);
  return event.defaultPrevented;
}"""


class TestInstall:
    def test_button_appears_with_the_browser_prompt_and_shows_it(
        self, page: Page, live_server: LiveServer
    ):
        page.goto(live_server.url + "/settings")
        expect(page.get_by_role("heading", name="Account")).to_be_visible()
        expect(page.get_by_role("button", name="Install app")).to_have_count(0)

        assert page.evaluate(FIRE_PROMPT) is True  # the browser's own banner is held back
        page.get_by_role("button", name="Install app").click()
        expect(page.get_by_role("button", name="Install app")).to_have_count(0)
        assert page.evaluate("window.prompted") == 1
        expect(page.get_by_text("Tap Share, then Add to Home Screen")).to_have_count(0)

    def test_ios_safari_gets_a_hint_that_can_be_dismissed(
        self, browser: Browser, browser_context_args: dict[str, Any], live_server: LiveServer
    ):
        context = browser.new_context(**{**browser_context_args, "user_agent": IPHONE_SAFARI})
        page = context.new_page()
        page.goto(live_server.url + "/settings")
        hint = page.get_by_text("tap Share, then Add to Home Screen")
        expect(hint).to_be_visible()
        expect(page.get_by_role("button", name="Install app")).to_have_count(0)
        page.get_by_role("button", name="Got it").click()
        expect(hint).to_have_count(0)
        page.reload()
        expect(page.get_by_role("heading", name="Account")).to_be_visible()
        expect(hint).to_have_count(0)
        context.close()
