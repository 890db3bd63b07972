"""The screens in a real browser: what a person sees and does, plus screenshots for review."""

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.browser.helpers_history import outbox
from tests.browser.helpers_pwa import BARE_PAGE
from tests.server_process import LiveServer

RENDER_TIMEOUT_MS = 120_000  # a session's first render synthesises its voice lines
QUICK = {"routine_id": "quick-reset", "minutes": 3, "cue_density": "guided", "prep_s": 0}
SPEED = 16  # playbackRate: a 3-minute rest lasts about 11 s
REST_FIELDS = {
    "id",
    "routine_id",
    "title",
    "minutes",
    "cue_density",
    "prep_s",
    "version",
    "started_at",
    "ended_at",
    "time_zone",
    "planned_s",
    "actual_s",
    "completed",
    "before_rating",
    "after_rating",
    "note",
    "updated_at",
}


def choose(
    page: Page, server: LiveServer, choice: dict[str, Any], skip_guide: bool = False
) -> None:
    """Remember a session choice the way Home does, then open Home."""
    page.goto(server.url + "/")
    page.evaluate(
        """async ([choice, skip]) => {
          const { setSetting } = await import('/js/store.js');
          await setSetting('choice', choice);
          await setSetting('skipGuide', skip);
        }""",
        [choice, skip_guide],
    )
    page.goto(server.url + "/")


def session_script(server: LiveServer, choice: dict[str, Any]) -> dict[str, Any]:
    params = {"minutes": choice["minutes"], "cues": choice["cue_density"], "prep": choice["prep_s"]}
    response = httpx.get(
        f"{server.url}/api/routines/{choice['routine_id']}/session",
        params=params,
        timeout=RENDER_TIMEOUT_MS / 1000,
    )
    response.raise_for_status()
    script: dict[str, Any] = response.json()
    return script


def start_from_guide(page: Page) -> None:
    start = page.get_by_role("button", name="Start rest")
    expect(start).to_be_enabled(timeout=RENDER_TIMEOUT_MS)
    start.click()
    expect(page).to_have_url(re.compile(r"/play$"))
    page.wait_for_function("() => document.querySelector('audio')?.currentTime > 0")


def audio_time(page: Page) -> float:
    return float(page.evaluate("document.querySelector('audio').currentTime"))


def saved_rests(page: Page) -> list[dict[str, Any]]:
    rests: list[dict[str, Any]] = page.evaluate(
        "import('/js/store.js').then((store) => store.all('rests'))"
    )
    return rests


def clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}"


def expected_phase(script: dict[str, Any], t: float) -> str:
    title: str = next(p["title"] for p in script["phases"] if p["start_s"] <= t < p["end_s"])
    return title


def expected_caption(script: dict[str, Any], t: float) -> str:
    spoken = [c for c in script["cues"] if c["text"] and c["at_s"] <= t]
    if not spoken:
        return ""
    cue = spoken[-1]
    return cue["text"] if script["voice"] is None or t < cue["end_s"] + 6 else ""


@pytest.fixture
def themed(context: BrowserContext, request: pytest.FixtureRequest) -> str:
    theme: str = request.param
    context.add_init_script(f"localStorage.setItem('crg-theme', '{theme}')")
    return theme


class TestScreenshots:
    @pytest.mark.parametrize("themed", ["dark", "light"], indirect=True)
    def test_every_screen_in_both_themes(
        self, page: Page, live_server: LiveServer, themed: str, artifacts_dir: Path
    ):
        def shot(name: str) -> None:
            page.screenshot(path=artifacts_dir / f"{name}-{themed}.png")

        page.goto(live_server.url + "/")
        expect(page.locator("html")).to_have_attribute("data-theme", themed)
        # The default session is saved on the first visit, and Home says so.
        expect(page.get_by_text("Ready offline")).to_be_visible(timeout=RENDER_TIMEOUT_MS)
        shot("home")
        page.get_by_role("heading", name="Choose your rest").scroll_into_view_if_needed()
        page.evaluate("scrollBy(0, 200)")
        shot("home-options")

        choose(page, live_server, QUICK)
        page.get_by_role("button", name="Start rest").click()
        expect(page.get_by_role("heading", name="Get into position")).to_be_visible()
        expect(page.get_by_role("button", name="Start rest")).to_be_enabled(
            timeout=RENDER_TIMEOUT_MS
        )
        shot("setup")
        page.evaluate("scrollTo(0, document.body.scrollHeight)")
        shot("setup-end")

        start_from_guide(page)
        page.evaluate(f"document.querySelector('audio').playbackRate = {SPEED}")
        page.wait_for_function("() => document.querySelector('audio').currentTime > 12")
        page.get_by_role("button", name="Pause").click()
        expect(page.locator(".caption")).not_to_be_empty()
        shot("player")
        page.get_by_role("button", name="End rest").click()
        expect(page.get_by_role("heading", name="Rest ended early")).to_be_visible()
        page.get_by_label("How does your low back feel now?").fill("3")
        shot("after")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", name="History")).to_be_visible()
        expect(page.get_by_text("Partial").first).to_be_visible()
        shot("history")

        for path, name, heading in [
            ("/learn", "learn", "Learn"),
            ("/downloads", "downloads", "Saved sessions"),
            ("/settings", "settings", "Settings"),
        ]:
            page.goto(live_server.url + path)
            expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            shot(name)
        page.goto(live_server.url + "/learn#position")
        expect(page.locator("#position")).to_be_in_viewport()
        shot("learn-position")


class TestHome:
    def test_routines_come_from_the_api_and_length_keeps_to_their_range(
        self, page: Page, live_server: LiveServer
    ):
        routines = httpx.get(live_server.url + "/api/routines").json()
        page.goto(live_server.url + "/")
        for routine in routines:
            expect(
                page.get_by_role("radio", name=re.compile(re.escape(routine["title"])))
            ).to_be_attached()

        quick = next(r for r in routines if r["id"] == "quick-reset")
        page.get_by_role("radio", name=re.compile("^" + re.escape(quick["title"]))).check()
        length = page.get_by_label("Length")
        expect(length).to_have_attribute("min", str(quick["minutes"]["min"]))
        expect(length).to_have_attribute("max", str(quick["minutes"]["max"]))
        span = quick["minutes"]
        recommended = f"Recommended: {span['recommended_min']}–{span['recommended_max']} min"
        expect(page.get_by_text(recommended)).to_be_visible()
        length.focus()
        page.keyboard.press("End")
        expect(page.locator("#rest-summary")).to_contain_text(f"{quick['minutes']['max']} min")
        page.keyboard.press("Home")
        expect(page.locator("#rest-summary")).to_contain_text(f"{quick['minutes']['min']} min")

        # The choice is remembered for the one-tap start.
        page.get_by_role("radio", name="Bells only").check()
        expect(page.locator("#rest-summary")).to_contain_text("Bells only")
        page.wait_for_function("""async () => {
          const { getSetting } = await import('/js/store.js');
          return (await getSetting('choice'))?.cue_density === 'bells';
        }""")
        page.reload()
        expect(page.locator("#rest-title")).to_have_text(quick["title"])
        expect(page.locator("#rest-summary")).to_contain_text(
            f"{quick['minutes']['min']} min · Bells only"
        )

    def test_save_for_offline_marks_the_session_ready(self, page: Page, live_server: LiveServer):
        choose(page, live_server, {**QUICK, "cue_density": "sparse"})
        page.get_by_role("button", name="Save for offline").click()
        expect(page.get_by_text("Ready offline")).to_be_visible(timeout=RENDER_TIMEOUT_MS)
        page.goto(live_server.url + "/downloads")
        expect(page.get_by_text("3 min · Sparse · no set-up time")).to_be_visible()


class TestDownloads:
    def test_nothing_saved_takes_0_kb_and_a_few_bytes_1_kb(
        self, page: Page, live_server: LiveServer
    ):
        # Same origin without the app starting: keep it from saving the default session.
        page.goto(live_server.url + BARE_PAGE)
        page.evaluate("import('/js/store.js').then((s) => s.setSetting('defaultSaved', true))")
        page.goto(live_server.url + "/downloads")
        expect(page.get_by_text("Nothing saved yet.")).to_be_visible()
        expect(page.locator("#usage .list-item-title")).to_have_text("0 saved sessions · 0 KB")

        sizes = page.evaluate(
            "import('/js/ui/dom.js').then(({ bytes }) => [0, 300, 1536, 5 * 1024 ** 2].map(bytes))"
        )
        assert sizes == ["0 KB", "1 KB", "2 KB", "5.0 MB"]


class TestPlayer:
    def test_time_phase_and_caption_follow_the_audio_and_ending_early_saves_a_partial_rest(
        self, page: Page, live_server: LiveServer
    ):
        script = session_script(live_server, QUICK)
        choose(page, live_server, QUICK)
        page.get_by_role("button", name="Start rest").click()
        page.get_by_label("How does your low back feel right now?").fill("6")
        start_from_guide(page)
        assert page.evaluate("navigator.mediaSession.metadata?.title") == script["title"]

        page.evaluate(f"document.querySelector('audio').playbackRate = {SPEED}")
        page.wait_for_function("() => document.querySelector('audio').currentTime > 50")
        page.get_by_role("button", name="Pause").click()
        expect(page.get_by_role("button", name="Resume")).to_be_visible()
        t = audio_time(page)
        # What the screen shows is what the audio position says, to the second.
        expect(page.locator("#elapsed")).to_have_text(clock(t))
        expect(page.get_by_role("heading", level=1)).to_have_text(expected_phase(script, t))
        expect(page.locator(".caption:not(.faded)")).to_have_count(
            1 if expected_caption(script, t) else 0
        )
        if expected_caption(script, t):
            expect(page.locator(".caption")).to_have_text(expected_caption(script, t))
        page.wait_for_timeout(300)  # paused audio stays put
        assert audio_time(page) == t

        page.get_by_role("button", name="Resume").click()
        expect(page.get_by_role("button", name="Pause")).to_be_visible()
        page.wait_for_function("(t) => document.querySelector('audio').currentTime > t + 1", arg=t)
        page.get_by_role("button", name="End rest").click()
        expect(page.get_by_role("heading", name="Rest ended early")).to_be_visible()

        [rest] = saved_rests(page)
        assert set(rest) == REST_FIELDS
        assert rest["completed"] is False
        assert t < rest["actual_s"] < script["duration_s"]
        assert rest["planned_s"] == round(script["duration_s"])
        assert rest["before_rating"] == 6 and rest["after_rating"] is None
        assert (rest["routine_id"], rest["minutes"], rest["cue_density"], rest["prep_s"]) == (
            "quick-reset",
            3,
            "guided",
            0,
        )
        assert rest["version"] == script["version"]
        assert rest["time_zone"] == page.evaluate(
            "Intl.DateTimeFormat().resolvedOptions().timeZone"
        )
        assert rest["started_at"] < rest["ended_at"] and rest["ended_at"].endswith("Z")
        # No lock-screen player is left behind.
        assert page.evaluate(
            "[navigator.mediaSession.metadata, navigator.mediaSession.playbackState]"
        ) == [None, "none"]

    def test_a_completed_rest_reaches_the_check_in_and_is_saved_with_its_ratings(
        self, page: Page, live_server: LiveServer
    ):
        script = session_script(live_server, QUICK)
        choose(page, live_server, QUICK, skip_guide=True)
        page.get_by_role("button", name="Start rest").click()
        expect(page).to_have_url(re.compile(r"/play$"))
        page.wait_for_function(
            "() => document.querySelector('audio')?.currentTime > 0", timeout=RENDER_TIMEOUT_MS
        )
        page.evaluate(f"document.querySelector('audio').playbackRate = {SPEED}")
        phases_seen = set()
        deadline = time.monotonic() + script["duration_s"] / SPEED + 30
        while not page.url.endswith("/after") and time.monotonic() < deadline:
            phases_seen.add(page.locator("h1").inner_text())
            page.wait_for_timeout(250)  # sampling the heading, not waiting for an outcome
        assert {p["title"] for p in script["phases"]} <= phases_seen | {"Welcome back"}

        expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
        page.get_by_label("Before the rest, how did your low back feel?").fill("7")
        page.get_by_label("How does your low back feel now?").fill("3")
        page.get_by_label("Anything you noticed?").fill("Shoulders wider on the floor.")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Low back: 7 before → 3 after")).to_be_visible()
        expect(page.get_by_text("Completed")).to_be_visible()

        [rest] = saved_rests(page)
        assert rest["completed"] is True
        assert abs(rest["actual_s"] - script["duration_s"]) <= 1
        assert (rest["before_rating"], rest["after_rating"]) == (7, 3)
        assert rest["note"] == "Shoulders wider on the floor."
        assert rest["updated_at"] >= rest["ended_at"]


    def test_a_reload_mid_rest_keeps_what_was_lain_through(
        self, page: Page, live_server: LiveServer
    ):
        choose(page, live_server, QUICK, skip_guide=True)
        page.get_by_role("button", name="Start rest").click()
        page.wait_for_function(
            "() => document.querySelector('audio')?.currentTime > 0", timeout=RENDER_TIMEOUT_MS
        )
        page.evaluate(f"document.querySelector('audio').playbackRate = {SPEED}")
        page.wait_for_function("() => document.querySelector('audio').currentTime > 30")
        page.reload()  # pull-to-refresh, or the browser reloading the tab

        # The page that went away could not finish its save; the page after it does.
        page.wait_for_function(
            """() => import('/js/store.js').then((store) => store.all('rests'))
                 .then((rests) => rests.some((rest) => rest.actual_s >= 30))"""
        )
        [partial] = [rest for rest in saved_rests(page) if rest["actual_s"] >= 30]
        assert partial["completed"] is False
        assert partial["id"] in {entry["id"] for entry in outbox(page)}
        assert page.evaluate("localStorage.getItem('crg-rest-being-saved')") is None

    def test_leaving_while_the_session_is_prepared_plays_nothing(
        self, browser: Browser, live_server: LiveServer
    ):
        # No service worker, so that the page's own request for the session can be held.
        context = browser.new_context(
            service_workers="block", viewport={"width": 390, "height": 844}
        )
        page = context.new_page()
        try:
            held: list[Route] = []
            choose(page, live_server, QUICK, skip_guide=True)
            page.route("**/api/routines/quick-reset/session?*", lambda route: held.append(route))
            page.get_by_role("button", name="Start rest").click()
            expect(page.get_by_role("heading", name="Getting ready")).to_be_visible()
            deadline = time.monotonic() + 10
            while not held and time.monotonic() < deadline:
                page.wait_for_timeout(50)  # the route's handler runs while the page is waited on
            assert len(held) == 1
            page.go_back()
            expect(page.get_by_role("heading", name="Time for a rest")).to_be_visible()
            with page.expect_response("**/api/routines/quick-reset/session?*"):
                held[0].continue_()
            page.wait_for_timeout(1000)  # time for a late start to begin playing, had it one

            assert page.evaluate(
                "import('/js/player.js').then((player) => player.activeRest() === null)"
            )
            assert page.evaluate(
                "[...document.querySelectorAll('audio')].every((audio) => audio.paused)"
            )
        finally:
            context.close()

    def test_ending_before_a_second_has_played_leaves_no_rest(
        self, page: Page, live_server: LiveServer
    ):
        choose(page, live_server, QUICK)
        page.get_by_role("button", name="Start rest").click()
        start = page.get_by_role("button", name="Start rest")
        expect(start).to_be_enabled(timeout=RENDER_TIMEOUT_MS)
        start.click()
        page.get_by_role("button", name="End rest").click()

        expect(page.get_by_role("heading", name="Time for a rest")).to_be_visible()
        assert saved_rests(page) == []
        assert outbox(page) == []


class TestKeyboard:
    def focused_names(self, page: Page, presses: int) -> list[str]:
        names = []
        for _ in range(presses):
            page.keyboard.press("Tab")
            names.append(
                page.evaluate(
                    "(() => { const el = document.activeElement;"
                    " return (el.getAttribute('aria-label') || el.innerText || el.value || '')"
                    ".trim(); })()"
                )
            )
        return names

    def test_tab_reaches_the_main_controls_with_a_visible_focus(
        self, page: Page, live_server: LiveServer
    ):
        choose(page, live_server, QUICK)
        expect(page.get_by_role("button", name="Start rest")).to_be_visible()
        names = self.focused_names(page, 30)
        assert "Start rest" in names
        for link in ["Home", "History", "Learn", "Settings"]:
            assert link in names, names
        page.get_by_role("button", name="Start rest").focus()
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"

        page.get_by_role("button", name="Start rest").press("Enter")
        expect(page.get_by_role("heading", name="Get into position")).to_be_visible()
        expect(page.get_by_role("button", name="Start rest")).to_be_enabled(
            timeout=RENDER_TIMEOUT_MS
        )
        page.get_by_role("button", name="Start rest").press("Enter")
        page.wait_for_function("() => document.querySelector('audio')?.currentTime > 0")
        names = self.focused_names(page, 4)
        assert "Pause" in names and "End rest" in names
        page.get_by_role("button", name="Pause").press("Enter")
        expect(page.get_by_role("button", name="Resume")).to_be_visible()
