"""A new version deployed during a rest waits; after the rest, one reload brings it in."""

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.helpers_pwa import (
    QUICK_SESSION,
    activate_worker,
    cache_names,
    shown_version,
    wait_until,
    worker_version,
)
from tests.server_process import LiveServer

START_REST = """async (query) => {
  const script = await (await fetch(query)).json();
  const { saveForOffline } = await import('/js/offline.js');
  await saveForOffline(script);
  const { RestSession } = await import('/js/player.js');
  window.testRest = new RestSession(script);
  await window.testRest.start();
}"""

def audio_advances(page: Page) -> None:
    """The rest's audio is playing: its position moves on."""
    start = page.evaluate("document.querySelector('audio').currentTime")
    wait_until(page, f"() => document.querySelector('audio').currentTime > {start} + 0.3")
    assert page.evaluate("!document.querySelector('audio').paused")


def rest_playing_as_an_update_arrives(page: Page, server: LiveServer) -> str:
    """A rest playing in the app's own player, then a new version deployed and waiting;
    the version the page runs."""
    page.goto(server.url + "/")
    activate_worker(page)
    old_version = shown_version(page)
    # The app's own player plays a saved session, as after a tap on "Start rest".
    page.evaluate(START_REST, QUICK_SESSION)
    audio_advances(page)
    # Deploy: the server restarts with another build, which changes the shell.
    server.stop()
    server.start({"APP_BUILD": "next"})
    page.evaluate("import('/js/sw-client.js').then((m) => m.checkForUpdate())")
    wait_until(
        page,
        """() => navigator.serviceWorker.getRegistration()
             .then((reg) => reg?.waiting?.state === 'installed')""",
    )
    return old_version


class TestUpdateDuringRest:
    def test_update_waits_for_the_rest_then_one_reload_brings_it(
        self, page: Page, context: BrowserContext, fresh_server: LiveServer
    ):
        old_version = rest_playing_as_an_update_arrives(page, fresh_server)
        expect(page.get_by_role("button", name="Update ready")).to_be_visible()

        # Asking now changes nothing: neither the page nor the worker switch mid-rest.
        page.get_by_role("button", name="Update ready").click()
        refused = page.evaluate(
            """async () => {
              const { applyUpdate } = await import('/js/sw-client.js');
              const waiting = (await navigator.serviceWorker.getRegistration()).waiting;
              const deferred = new Promise((resolve) => navigator.serviceWorker.addEventListener(
                'message', (e) => e.data?.type === 'UPDATE_DEFERRED' && resolve(true)));
              waiting.postMessage({ type: 'SKIP_WAITING' });  // even a direct request
              return [applyUpdate(), await deferred];
            }"""
        )
        assert refused == [False, True]
        audio_advances(page)
        assert worker_version(page) == old_version
        assert shown_version(page) == old_version

        page.evaluate("window.testRest.end()")
        wait_until(page, "() => document.querySelector('audio').paused")
        with page.expect_navigation():
            page.get_by_role("button", name="Update ready").click()
        assert shown_version(page) == f"{old_version}+next"
        assert worker_version(page) == f"{old_version}+next"
        names = cache_names(page)
        assert [n for n in names if n.startswith("crg-shell-")] and len(names) == 2, names
        assert "crg-audio" in names
        # The saved session survived the update.
        assert page.evaluate(
            "import('/js/offline.js').then(async (m) => (await m.listSaved()).length)"
        ) >= 1

    def test_a_restarted_worker_still_waits_when_another_page_asks(
        self, page: Page, context: BrowserContext, fresh_server: LiveServer
    ):
        # The browser stops idle workers (Chromium after 30 s): what pages told the old
        # one is gone, so the worker must find out from the pages themselves.
        old_version = rest_playing_as_an_update_arrives(page, fresh_server)
        cdp = context.new_cdp_session(page)
        cdp.send("ServiceWorker.enable")
        cdp.send("ServiceWorker.stopAllWorkers")

        other = context.new_page()  # another tab, with no rest: its button is live
        other.goto(fresh_server.url + "/settings")
        deferred = other.evaluate(
            """async () => {
              const reg = await navigator.serviceWorker.getRegistration();
              const answer = new Promise((resolve) => navigator.serviceWorker.addEventListener(
                'message', (e) => e.data?.type === 'UPDATE_DEFERRED' && resolve(true)));
              reg.waiting.postMessage({ type: 'SKIP_WAITING' });
              const swapped = new Promise((resolve) => setTimeout(() => resolve(false), 10000));
              return Promise.race([answer, swapped]);
            }"""
        )
        assert deferred is True
        audio_advances(page)
        assert worker_version(page) == old_version
        assert page.evaluate(
            "navigator.serviceWorker.getRegistration().then((reg) => reg.waiting !== null)")
