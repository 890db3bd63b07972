"""Accounts and sync in a real browser: two phones on one account, merging, errors, deletion."""

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Request, expect

from tests.browser.helpers_history import (
    earlier_today,
    live_rests,
    make_rest,
    outbox,
    save_rests,
    wait_outbox_empty,
)
from tests.browser.helpers_pwa import (
    QUICK_SESSION,
    activate_worker,
    save_session,
    wait_until,
)
from tests.server_process import LiveServer, free_port

PASSWORD = "floor-and-breath-42"
QUICK = {"routine_id": "quick-reset", "minutes": 3, "cue_density": "guided", "prep_s": 0}
CSRF = {"X-Requested-With": "rest-guide"}


def new_email() -> str:
    return f"rest-{uuid.uuid4().hex[:10]}@example.org"


def submit_account_form(
    page: Page, server: LiveServer, email: str, button: str, password: str = PASSWORD
) -> None:
    page.goto(server.url + "/settings")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name=button).click()


def sign_up(page: Page, server: LiveServer, email: str, password: str = PASSWORD) -> None:
    submit_account_form(page, server, email, "Create account", password)
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()


def sign_in(page: Page, server: LiveServer, email: str, password: str = PASSWORD) -> None:
    submit_account_form(page, server, email, "Sign in", password)
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()


def server_rests(page: Page) -> list[dict[str, Any]]:
    """The account's rests as the server holds them, asked with this phone's session."""
    rests: list[dict[str, Any]] = page.evaluate(
        "fetch('/api/history/rests?limit=500').then((r) => r.json())"
    )
    return rests


def history_ids(page: Page) -> list[str]:
    items = page.locator(".rest-item")
    return [items.nth(i).get_attribute("data-id") or "" for i in range(items.count())]


@pytest.fixture
def phones(
    browser: Browser, browser_context_args: dict[str, Any]
) -> Iterator[tuple[BrowserContext, BrowserContext]]:
    """Two phones: separate browser profiles (cookies, IndexedDB, service worker)."""
    a = browser.new_context(**browser_context_args)
    b = browser.new_context(**browser_context_args)
    yield a, b
    a.close()
    b.close()


class TestTwoPhones:
    def test_offline_rests_reach_the_other_phone_and_a_delete_comes_back(
        self, phones: tuple[BrowserContext, BrowserContext], fresh_server: LiveServer
    ):
        context_a, context_b = phones
        email = new_email()

        # Phone A: an account, and the short session saved for offline.
        a = context_a.new_page()
        sign_up(a, fresh_server, email)
        activate_worker(a)
        save_session(a, QUICK_SESSION)
        a.evaluate(
            """async (choice) => {
              const { setSetting } = await import('/js/store.js');
              await setSetting('choice', choice);
              await setSetting('skipGuide', true);
            }""",
            QUICK,
        )

        # Offline: one rest through the real player, two recorded by the app's own module.
        context_a.set_offline(True)
        a.goto(fresh_server.url + "/")
        a.get_by_role("button", name="Start rest").click()
        wait_until(a, "() => document.querySelector('audio')?.currentTime > 0")
        a.evaluate("document.querySelector('audio').playbackRate = 16")
        a.wait_for_url("**/after", timeout=60_000)
        a.get_by_label("Before the rest, how did your low back feel?").fill("6")
        a.get_by_label("How does your low back feel now?").fill("2")
        a.get_by_role("button", name="Save").click()
        a.wait_for_url("**/history")
        save_rests(a, [
            make_rest(earlier_today(3000), 900, before=7, after=4, note="Morning"),
            make_rest(earlier_today(1500), 600, minutes=10, completed=False),
        ])
        a.get_by_role("link", name="Settings").click()
        expect(a.get_by_text("3 rests not yet synced.")).to_be_visible()

        # Back online: the app syncs by itself.
        context_a.set_offline(False)
        expect(a.get_by_text("All rests synced.")).to_be_visible(timeout=30_000)
        expect(a.get_by_text(re.compile(r"Last synced today at"))).to_be_visible()
        on_a = {rest["id"] for rest in live_rests(a)}
        assert len(on_a) == 3
        assert {rest["id"] for rest in server_rests(a)} == on_a
        played = next(r for r in live_rests(a) if r["routine_id"] == "quick-reset")
        assert played["completed"] is True and played["after_rating"] == 2

        # Phone B signs in and sees the same three rests.
        b = context_b.new_page()
        sign_in(b, fresh_server, email)
        b.get_by_role("link", name="History").click()
        expect(b.locator(".rest-item")).to_have_count(3)
        assert set(history_ids(b)) == on_a
        expect(b.get_by_text("Low back: 6 before → 2 after")).to_be_visible()

        # A delete on B reaches A.
        doomed = next(r for r in live_rests(b) if r["note"] == "Morning")
        item = b.locator(f'.rest-item[data-id="{doomed["id"]}"]')
        item.get_by_role("button", name=re.compile("^Edit")).click()
        item.get_by_role("button", name="Delete this rest").click()
        b.get_by_role("dialog").get_by_role("button", name="Delete rest").click()
        expect(b.locator(".rest-item")).to_have_count(2)
        wait_outbox_empty(b)

        a.get_by_role("button", name="Sync now").click()
        expect(a.get_by_text("All rests synced.")).to_be_visible()
        a.get_by_role("link", name="History").click()
        expect(a.locator(".rest-item")).to_have_count(2)
        expect(a.get_by_text("Morning")).to_have_count(0)

        # No duplicates anywhere: each phone and the server hold the same two rests once.
        remaining = on_a - {doomed["id"]}
        for phone in (a, b):
            ids = history_ids(phone)
            assert len(ids) == len(set(ids)) == 2 and set(ids) == remaining
        assert sorted(r["id"] for r in server_rests(b)) == sorted(remaining)


class TestMerge:
    def test_signing_in_on_a_phone_with_local_history_keeps_both_sides(
        self, page: Page, live_server: LiveServer
    ):
        email = new_email()
        account_rest = make_rest(earlier_today(5000), 1200, minutes=20, before=8, after=5)
        with httpx.Client(base_url=live_server.url, headers=CSRF) as other_phone:
            other_phone.post("/api/auth/register",
                             json={"email": email, "password": PASSWORD}).raise_for_status()
            pushed = other_phone.post("/api/sync/push", json={
                "client_id": str(uuid.uuid4()),
                "mutations": [{"seq": 1, "op": "put", "id": account_rest["id"],
                               "rest": account_rest}],
            })
            assert pushed.json()["results"][0]["status"] == "applied"

        local = [make_rest(earlier_today(3000), 900, note="Local one"),
                 make_rest(earlier_today(2000), 300, minutes=5, completed=False)]
        page.goto(live_server.url + "/history")
        save_rests(page, local)
        sign_in(page, live_server, email)
        expect(page.get_by_text("All rests synced.")).to_be_visible(timeout=30_000)

        page.get_by_role("link", name="History").click()
        expect(page.locator(".rest-item")).to_have_count(3)
        union = {account_rest["id"], *(r["id"] for r in local)}
        assert set(history_ids(page)) == union
        assert sorted(r["id"] for r in server_rests(page)) == sorted(union)
        expect(page.get_by_text("Local one")).to_be_visible()


@pytest.fixture
def strict_server(tmp_path: Path, speech_cache: Path) -> Iterator[LiveServer]:
    """A server that refuses after three failed attempts, without slowing down first."""
    server = LiveServer(tmp_path / "data", speech_cache, free_port())
    server.start({"LOGIN_MAX_FAILURES_ACCOUNT": "3", "LOGIN_SLOWDOWN_AFTER": "50"})
    yield server
    server.stop()


class TestAccountErrors:
    def test_errors_from_the_api_are_shown_next_to_the_form(
        self, page: Page, strict_server: LiveServer
    ):
        email = new_email()
        httpx.post(strict_server.url + "/api/auth/register", headers=CSRF,
                   json={"email": email, "password": PASSWORD}).raise_for_status()
        writes: list[Request] = []
        page.on("request", lambda r: writes.append(r) if r.method != "GET" else None)
        page.goto(strict_server.url + "/settings")
        alert = page.locator("#account-slot").get_by_role("alert")

        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill("short")
        page.get_by_role("button", name="Create account").click()
        expect(alert).to_have_text("The password needs at least 8 characters.")

        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(alert).to_have_text("An account with this email already exists.")

        for _ in range(2):
            page.get_by_label("Password").fill("not-the-password")
            page.get_by_role("button", name="Sign in").click()
            expect(alert).to_have_text("The email or the password is wrong.")
            page.get_by_label("Password").fill("")

        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        retry = re.compile(r"^Too many attempts\. Try again in 1[45] minutes\.$")
        expect(alert).to_have_text(retry)
        expect(page.get_by_role("button", name="Sign in")).to_be_enabled()

        posts = [r for r in writes if "/api/auth/" in r.url]
        assert len(posts) == 4
        assert all(r.headers.get("x-requested-with") == "rest-guide" for r in posts)


class TestDeleteAccount:
    def start_with_a_synced_rest(self, page: Page, server: LiveServer) -> tuple[str, str]:
        email = new_email()
        sign_up(page, server, email)
        rest = make_rest(earlier_today(2000), 900, note="Kept on the phone")
        save_rests(page, [rest])
        wait_outbox_empty(page)
        return email, rest["id"]

    def delete_account(self, page: Page, clear_device: bool) -> None:
        page.get_by_role("button", name="Delete account").click()
        dialog = page.get_by_role("dialog", name="Delete your account?")
        expect(dialog).to_contain_text("erases your account and every rest stored with it")
        expect(dialog).to_contain_text("This device keeps its own copy")
        dialog.get_by_label("Password").fill("wrong-password")
        dialog.get_by_role("button", name="Delete account").click()
        expect(dialog.get_by_role("alert")).to_have_text(
            "The password is wrong; nothing was erased."
        )
        dialog.get_by_label("Password").fill(PASSWORD)
        if clear_device:
            dialog.get_by_label("Also clear the history on this device").check()
        dialog.get_by_role("button", name="Delete account").click()
        expect(dialog).to_have_count(0)
        expect(page.get_by_role("button", name="Create account")).to_be_visible()

    def test_server_data_is_erased_and_the_device_keeps_its_copy(
        self, page: Page, live_server: LiveServer
    ):
        email, rest_id = self.start_with_a_synced_rest(page, live_server)
        self.delete_account(page, clear_device=False)

        gone = httpx.post(live_server.url + "/api/auth/login", headers=CSRF,
                          json={"email": email, "password": PASSWORD})
        assert gone.status_code == 401
        page.get_by_role("link", name="History").click()
        expect(page.get_by_text("Kept on the phone")).to_be_visible()
        assert [r["id"] for r in live_rests(page)] == [rest_id]

    def test_the_device_can_be_cleared_too(self, page: Page, live_server: LiveServer):
        self.start_with_a_synced_rest(page, live_server)
        self.delete_account(page, clear_device=True)
        page.get_by_role("link", name="History").click()
        expect(page.get_by_text("No rests yet.")).to_be_visible()
        assert live_rests(page) == []


class TestRestsTheServerRefuses:
    def test_a_rest_paused_for_more_than_six_hours_still_syncs(
        self, page: Page, live_server: LiveServer
    ):
        sign_up(page, live_server, new_email())
        paused = page.evaluate(
            """async () => {
              const { finishRest, newRest, saveRest } = await import('/js/rests.js');
              const script = { routine_id: 'classic', title: 'Classic constructive rest',
                minutes: 15, cue_density: 'guided', prep_s: 30, version: 'v1', duration_s: 930 };
              // Started 7 hours ago, paused most of that time, ended now after 612 s lain.
              const started_at = new Date(Date.now() - 7 * 3600 * 1000).toISOString();
              const started = { ...newRest(script), started_at };
              const rest = finishRest(started, { actual_s: 612, completed: false });
              await saveRest(rest);
              return rest;
            }"""
        )
        wait_outbox_empty(page)
        expect(page.get_by_text("All rests synced.")).to_be_visible()
        [synced] = server_rests(page)
        six_hours_on = datetime.fromisoformat(paused["started_at"]) + timedelta(hours=6)
        assert (synced["id"], synced["actual_s"]) == (paused["id"], 612)
        assert datetime.fromisoformat(synced["ended_at"]) == six_hours_on

    def test_a_refused_rest_is_not_counted_as_synced(self, page: Page, live_server: LiveServer):
        sign_up(page, live_server, new_email())
        # 40 minutes lain through in a 15-minute session: over planned_s + 300, refused.
        save_rests(page, [make_rest(earlier_today(3000), 2400, note="Too long")])
        wait_outbox_empty(page)
        refused = r"^1 rest could not be synced; History shows why\. "
        expect(page.locator("#sync-status")).to_have_text(re.compile(refused))
        page.get_by_role("link", name="History").click()
        expect(page.get_by_text("Not synced: actual_s")).to_be_visible()


class TestNoAccount:
    def test_a_device_without_an_account_asks_nothing_until_it_signs_up(
        self, page: Page, context: BrowserContext, live_server: LiveServer
    ):
        pulls: list[str] = []
        page.on("request", lambda r: pulls.append(r.url) if "/api/sync/pull" in r.url else None)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(live_server.url + "/")
        expect(page.get_by_role("button", name="Start rest")).to_be_visible()
        page.wait_for_timeout(1500)  # time for a start-up sync to ask, had it one
        assert pulls == []
        assert not [text for text in errors if "401" in text]

        sign_up(page, live_server, new_email())
        assert pulls  # the sign-up's first sync

        # A session that expired on a device that remembers its account: asked at start, as before.
        context.clear_cookies()
        with page.expect_request(lambda r: "/api/sync/pull" in r.url) as pull:
            page.goto(live_server.url + "/")
        response = pull.value.response()
        assert response is not None and response.status == 401


def pulled_ids(page: Page) -> set[str]:
    """The live rests a full pull from the server brings this phone's session."""
    answer: dict[str, Any] = page.evaluate(
        "fetch('/api/sync/pull?since=0').then((r) => r.json())"
    )
    return {change["id"] for change in answer["changes"] if not change["deleted"]}


def rest_ids_of(server: LiveServer, email: str) -> set[str]:
    """An account's rests, asked from another client with its own session."""
    with httpx.Client(base_url=server.url, headers=CSRF) as client:
        signed_in = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        signed_in.raise_for_status()
        return {rest["id"] for rest in client.get("/api/history/rests?limit=500").json()}


def other_account_dialog(page: Page) -> Locator:
    return page.get_by_role("dialog", name="Rests from another account")


class TestSharedPhone:
    """One phone, two people: one account's rests never reach another account unasked."""

    def test_the_next_account_is_asked_and_can_remove_them(
        self, page: Page, live_server: LiveServer
    ):
        first, second = new_email(), new_email()
        sign_up(page, live_server, first)
        rest = make_rest(earlier_today(2000), 900, note="The first person's rest")
        save_rests(page, [rest])
        wait_outbox_empty(page)
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()

        submit_account_form(page, live_server, second, "Create account")
        dialog = other_account_dialog(page)
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text(
            f"This phone holds 1 rest from another account ({first}). "
            f"Add them to {second}, or remove them from this phone?"
        )
        expect(dialog).to_contain_text(f"It stays in {first}'s account either way.")
        expect(dialog).to_have_attribute("aria-describedby", "other-account-text")
        expect(dialog.get_by_text("This phone holds")).to_be_focused()

        # Backing out of the question backs out of the sign-in; nothing changes.
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        backed_out = "Not signed in. The rests on this phone are as they were."
        expect(page.get_by_text(backed_out)).to_be_visible()
        assert page.evaluate("fetch('/api/auth/me').then((r) => r.status)") == 401
        assert [r["id"] for r in live_rests(page)] == [rest["id"]]

        submit_account_form(page, live_server, second, "Sign in")
        dialog.get_by_role("button", name="Remove them from this phone").click()
        expect(page.get_by_text(f"Signed in as {second}")).to_be_visible()
        expect(page.get_by_text("All rests synced.")).to_be_visible(timeout=30_000)
        assert live_rests(page) == [] and outbox(page) == []
        assert pulled_ids(page) == set() and server_rests(page) == []
        assert rest_ids_of(live_server, first) == {rest["id"]}
        page.get_by_role("link", name="History").click()
        expect(page.get_by_text("No rests yet.")).to_be_visible()

    def test_after_an_expired_session_the_rests_can_be_added_even_unsynced(
        self, page: Page, context: BrowserContext, live_server: LiveServer, artifacts_dir: Path
    ):
        first, second = new_email(), new_email()
        sign_up(page, live_server, first)
        synced = make_rest(earlier_today(3000), 900, note="Synced")
        save_rests(page, [synced])
        wait_outbox_empty(page)
        # The session runs out; a rest made after that waits in the outbox.
        context.clear_cookies()
        waiting = make_rest(earlier_today(1500), 600, note="Not synced")
        save_rests(page, [waiting])
        submit_account_form(page, live_server, second, "Create account")
        dialog = other_account_dialog(page)
        expect(dialog).to_contain_text(f"This phone holds 2 rests from another account ({first}).")
        expect(dialog).to_contain_text(
            f"1 of them has not been synced to {first} and would be lost if removed."
        )
        page.screenshot(path=artifacts_dir / "settings-account-other-account.png")
        dialog.get_by_role("button", name=f"Add them to {second}").click()
        expect(page.get_by_text(f"Signed in as {second}")).to_be_visible()
        expect(page.get_by_text("All rests synced.")).to_be_visible(timeout=30_000)
        both = {synced["id"], waiting["id"]}
        assert pulled_ids(page) == both
        assert {r["id"] for r in live_rests(page)} == both
        assert rest_ids_of(live_server, first) == {synced["id"]}

    def test_history_made_without_an_account_joins_with_no_question_and_is_then_its(
        self, page: Page, live_server: LiveServer
    ):
        first, second = new_email(), new_email()
        page.goto(live_server.url + "/history")
        local = make_rest(earlier_today(2000), 900, note="Before any account")
        save_rests(page, [local])
        # sign_up waits for "Signed in as", which a question would hold back.
        sign_up(page, live_server, first)
        expect(other_account_dialog(page)).to_have_count(0)
        expect(page.get_by_text("All rests synced.")).to_be_visible(timeout=30_000)
        assert pulled_ids(page) == {local["id"]} == rest_ids_of(live_server, first)

        # The same account again: no question either.
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        sign_in(page, live_server, first)
        expect(page.get_by_text("All rests synced.")).to_be_visible(timeout=30_000)

        # The history is now that account's: the next one is asked about it.
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        submit_account_form(page, live_server, second, "Create account")
        expect(other_account_dialog(page)).to_contain_text(f"another account ({first})")


class TestSignOut:
    def test_sign_out_keeps_the_history_on_the_device(self, page: Page, live_server: LiveServer):
        sign_up(page, live_server, new_email())
        save_rests(page, [make_rest(earlier_today(2000), 900, note="Still here")])
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        assert page.evaluate("fetch('/api/auth/me').then((r) => r.status)") == 401
        page.get_by_role("link", name="History").click()
        expect(page.get_by_text("Still here")).to_be_visible()


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_account_screenshots(
    page: Page, context: BrowserContext, live_server: LiveServer, artifacts_dir: Path, theme: str
):
    context.add_init_script(f"localStorage.setItem('crg-theme', '{theme}')")
    page.goto(live_server.url + "/settings")
    page.get_by_role("heading", name="Account").scroll_into_view_if_needed()
    page.get_by_label("Email").fill("not-an-account@example.org")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#account-slot").get_by_role("alert")).to_be_visible()
    page.screenshot(path=artifacts_dir / f"settings-account-signed-out-{theme}.png")

    sign_up(page, live_server, new_email())
    context.set_offline(True)
    save_rests(page, [make_rest(earlier_today(d * 600 + 900), 600) for d in range(2)])
    expect(page.get_by_text("2 rests not yet synced.")).to_be_visible()
    page.get_by_role("heading", name="Account").scroll_into_view_if_needed()
    page.screenshot(path=artifacts_dir / f"settings-account-signed-in-{theme}.png")
    context.set_offline(False)
    wait_outbox_empty(page)
    page.get_by_role("button", name="Delete account").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.screenshot(path=artifacts_dir / f"settings-account-delete-{theme}.png")
