"""Loaded once online, the app opens and works with no network and no server at all."""

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.helpers_pwa import (
    RENDER_TIMEOUT_MS,
    cache_names,
    shown_version,
    wait_ready_offline,
    wait_until,
)
from tests.server_process import LiveServer

# "/history/": a typed or bookmarked path with a trailing slash opens its screen too.
APP_ROUTES = ["/learn", "/history", "/settings", "/downloads", "/setup", "/history/"]


class TestOfflineShell:
    def test_shell_and_every_screen_open_with_the_server_gone(
        self, page: Page, context: BrowserContext, fresh_server: LiveServer
    ):
        page.goto(fresh_server.url + "/")
        wait_ready_offline(page)
        version = shown_version(page)
        context.set_offline(True)
        fresh_server.stop()

        page.reload()
        expect(page.get_by_role("link", name="Home")).to_be_visible()
        assert shown_version(page) == version
        for route in APP_ROUTES:
            response = page.goto(fresh_server.url + route)
            assert response is not None and response.ok, route
            assert response.from_service_worker, route
            expect(page.get_by_role("link", name="Learn")).to_be_visible()

    def test_api_is_never_answered_from_a_cache(
        self, page: Page, context: BrowserContext, fresh_server: LiveServer
    ):
        page.goto(fresh_server.url + "/")
        wait_ready_offline(page)
        assert page.evaluate("fetch('/api/routines').then((r) => r.status)") == 200
        context.set_offline(True)
        outcome = page.evaluate("fetch('/api/routines').then(() => 'answered', () => 'failed')")
        assert outcome == "failed"

    def test_saved_audio_lives_in_its_own_cache(self, page: Page, fresh_server: LiveServer):
        page.goto(fresh_server.url + "/")
        wait_ready_offline(page)
        names = cache_names(page)
        assert "crg-audio" in names
        assert len([name for name in names if name.startswith("crg-shell-")]) == 1


QUICK_CHOICE = {"routine_id": "quick-reset", "minutes": 3, "cue_density": "guided", "prep_s": 0}

# Logs every phase title and caption the player screen shows, in order.
WATCH_PLAYER = """() => {
  window.seen = { phases: [], captions: [] };
  const note = (list, text) => { if (text && list.at(-1) !== text) list.push(text); };
  const look = () => {
    note(window.seen.phases, document.querySelector('#player-phase')?.textContent.trim());
    note(window.seen.captions, document.querySelector('#caption')?.textContent.trim());
  };
  const options = { subtree: true, childList: true, characterData: true };
  new MutationObserver(look).observe(document.body, options);
  look();
}"""


def in_order(seen: list[str], expected: list[str]) -> bool:
    """Every item seen appears in `expected`, in the same order (a subsequence)."""
    rest = iter(expected)
    return all(item in rest for item in seen)


class TestOfflineRest:
    def test_saved_session_plays_offline_to_the_end_and_is_recorded(
        self, page: Page, context: BrowserContext, fresh_server: LiveServer
    ):
        page.goto(fresh_server.url + "/")
        wait_ready_offline(page)
        # Choose the short session as the one-tap choice, then save it from Home.
        page.evaluate(
            "(choice) => import('/js/store.js').then((s) => s.setSetting('choice', choice))",
            QUICK_CHOICE,
        )
        page.reload()
        page.get_by_role("button", name="Save for offline").click()
        wait_until(
            page,
            """() => import('/js/offline.js').then(async (m) =>
                 (await m.listSaved()).some((r) => r.routine_id === 'quick-reset'))""",
            RENDER_TIMEOUT_MS,
        )
        script = page.evaluate(
            """() => import('/js/offline.js').then(async (m) =>
                 (await m.listSaved()).find((r) => r.routine_id === 'quick-reset').script)"""
        )

        context.set_offline(True)
        fresh_server.stop()
        page.reload()
        page.get_by_role("button", name="Start rest").click()
        page.wait_for_url("**/setup")
        page.get_by_label("How does your low back feel right now?").press("ArrowRight")  # 6
        page.get_by_role("button", name="Start rest").click()
        page.wait_for_url("**/play")
        page.evaluate(WATCH_PLAYER)

        page.get_by_role("button", name="Pause").click()
        expect(page.get_by_role("button", name="Resume")).to_be_visible()
        assert page.evaluate("document.querySelector('audio').paused")
        page.get_by_role("button", name="Resume").click()
        expect(page.get_by_role("button", name="Pause")).to_be_visible()
        start = page.evaluate("document.querySelector('audio').currentTime")
        wait_until(page, f"() => document.querySelector('audio').currentTime > {start} + 0.2")
        page.evaluate("document.querySelector('audio').playbackRate = 16")  # 3 min in ~12 s
        page.wait_for_url("**/after", timeout=60_000)

        seen = page.evaluate("window.seen")
        phase_titles = [phase["title"] for phase in script["phases"]]
        cue_texts = [cue["text"] for cue in script["cues"] if cue["text"]]
        phases = [title for title in seen["phases"] if title in phase_titles]
        assert len(phases) >= 2 and in_order(phases, phase_titles), seen
        captions = [text for text in seen["captions"] if text in cue_texts]
        assert len(captions) >= 2 and in_order(captions, cue_texts), seen

        page.get_by_label("How does your low back feel now?").press("ArrowLeft")  # 4
        page.get_by_role("button", name="Save").click()
        page.wait_for_url("**/history")
        rests = page.evaluate("import('/js/store.js').then((s) => s.all('rests'))")
        assert len(rests) == 1
        rest = rests[0]
        assert rest["completed"] is True
        assert rest["routine_id"] == "quick-reset" and rest["minutes"] == 3
        assert (rest["before_rating"], rest["after_rating"]) == (6, 4)
        assert rest["time_zone"] and rest["ended_at"] > rest["started_at"]
        assert rest["actual_s"] >= rest["planned_s"] - 2
