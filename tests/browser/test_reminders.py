"""Reminders in a real browser: turned on in Settings, sent by the server, shown by the
service worker.

Chromium here cannot reach a real push service (no internet), so the page's
PushManager hands out a subscription to the push service the test plays, with keys the
test holds: everything past that edge (the server's encryption and VAPID signature, the
worker's notification) is the real thing.
"""

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Worker, expect
from playwright.sync_api import Error as PlaywrightError

from app.reminders.sender import REMINDER
from app.reminders.webpush import KEY_FILE
from tests.push_service import Browser, PushService, new_browser
from tests.server_process import LiveServer, free_port

# A stand-in for the browser's own push registration, at the edge: it returns the test's
# subscription, made for the server key it was asked with, and keeps it across page loads
# as a browser does; it remembers whether it was unsubscribed.
FAKE_PUSH_MANAGER = """
(() => {
  const made = %s;
  const subscription = (key) => ({
    endpoint: made.endpoint,
    options: { applicationServerKey: Uint8Array.from(key).buffer },
    toJSON: () => ({ endpoint: made.endpoint, expirationTime: null, keys: made.keys }),
    unsubscribe: async () => {
      localStorage.removeItem('test-push-key');
      window.__unsubscribed = true;
      return true;
    },
  });
  PushManager.prototype.subscribe = async function (options) {
    const given = options.applicationServerKey;
    const key = Array.from(new Uint8Array(given.buffer ?? given));
    localStorage.setItem('test-push-key', JSON.stringify(key));
    return subscription(key);
  };
  PushManager.prototype.getSubscription = async function () {
    const kept = localStorage.getItem('test-push-key');
    return kept && subscription(JSON.parse(kept));
  };
})();
"""


@pytest.fixture
def reminder_server(tmp_path: Path, speech_cache: Path,
                    push_service: PushService) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path / "data", speech_cache, free_port())
    server.start({"PUSH_SERVICES": json.dumps([push_service.origin]),
                  "REMINDER_CHECK_S": "0.2", "VOICE_ENABLED": "false"})
    yield server
    server.stop()


@pytest.fixture
def phone(context: BrowserContext, reminder_server: LiveServer,
          push_service: PushService) -> Browser:
    browser = new_browser(push_service)
    subscription = browser.subscription()
    context.add_init_script(FAKE_PUSH_MANAGER % json.dumps(
        {"endpoint": browser.endpoint, "keys": subscription["keys"]}))
    context.grant_permissions(["notifications"], origin=reminder_server.url)
    return browser


def stored(server: LiveServer) -> list[tuple[str, int, int, str]]:
    with sqlite3.connect(server.data_dir / "rest.db") as db:
        return db.execute("SELECT endpoint, minute_of_day, weekdays, time_zone "
                          "FROM reminder").fetchall()


def server_key(page: Page) -> list[int]:
    key: list[int] = page.evaluate("""async () => {
        const { public_key: key } = await (await fetch('/api/reminders/key')).json();
        return Array.from(atob(key.replace(/-/g, '+').replace(/_/g, '/')),
                          (c) => c.charCodeAt(0));
    }""")
    return key


def make_due(server: LiveServer) -> None:
    due = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(server.data_dir / "rest.db") as db:
        db.execute("UPDATE reminder SET next_at = ?", [due])


def show_pushed(page: Page, context: BrowserContext, data: str) -> list[dict[str, str]]:
    """Deliver a push message to the page's service worker, as the browser does once it
    has decrypted one; the notifications it then shows."""
    cdp = context.new_cdp_session(page)
    registrations: list[str] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(
        r["registrationId"] for r in event["registrations"] if not r.get("isDeleted")))
    cdp.send("ServiceWorker.enable")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.wait_for_timeout(200)  # the registrations event arrives after enable
    origin = page.evaluate("location.origin") + "/"
    cdp.send("ServiceWorker.deliverPushMessage",
             {"origin": origin, "registrationId": registrations[0], "data": data})
    # Read in the same step that finds it: with no screen, a notification may not last.
    # Up to 15 s: the worker may have to start first (once, on a loaded CI machine, none
    # was shown within 5 s).
    shown: list[dict[str, str]] = page.evaluate("""async () => {
        const registration = await navigator.serviceWorker.ready;
        for (let tries = 0; tries < 300; tries += 1) {
            const shown = await registration.getNotifications();
            if (shown.length) {
                return shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag }));
            }
            await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return [];
    }""")
    return shown


class TestReminders:
    def test_turned_on_sent_when_due_shown_and_turned_off(
        self, page: Page, context: BrowserContext, reminder_server: LiveServer,
        push_service: PushService, phone: Browser, artifacts_dir: Path
    ) -> None:
        page.goto(reminder_server.url + "/settings")
        page.get_by_label("Remind me to rest").check()
        expect(page.locator("#reminder-status")).to_contain_text("Next reminder")
        [(endpoint, minute, weekdays, zone)] = stored(reminder_server)
        assert (endpoint, minute, weekdays) == (phone.endpoint, 21 * 60, 0b1111111)
        assert zone == page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")

        # A new time and fewer days are saved as soon as they are chosen.
        page.get_by_label("Time").fill("07:15")
        page.get_by_label("Time").dispatch_event("change")
        page.get_by_label("Sunday").uncheck()
        page.get_by_label("Saturday").uncheck()
        expect(page.locator("#reminder-status")).to_contain_text("Next reminder")
        page.wait_for_function("() => !document.querySelector('#reminder-status')"
                               ".textContent.includes('Saving')")
        assert stored(reminder_server)[0][1:3] == (7 * 60 + 15, 0b0011111)
        page.locator("#reminders-slot").evaluate("section => section.scrollIntoView()")
        page.screenshot(path=artifacts_dir / "settings-reminders-dark.png")
        page.get_by_label("Light").check()
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        page.locator("#reminders-slot").evaluate("section => section.scrollIntoView()")
        page.screenshot(path=artifacts_dir / "settings-reminders-light.png")

        # Due now: the server sends it, encrypted to the phone, within its next look.
        make_due(reminder_server)
        page.wait_for_timeout(100)
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not push_service.deliveries and datetime.now(UTC) < deadline:
            page.wait_for_timeout(100)
        (delivery,) = push_service.deliveries
        message = phone.decrypt(delivery.body)
        assert message == REMINDER

        # What the browser would hand its worker: a notification with the reminder's words.
        (shown,) = show_pushed(page, context, json.dumps(message))
        assert shown == {"title": REMINDER["title"], "body": REMINDER["body"],
                         "tag": REMINDER["tag"]}

        page.get_by_label("Remind me to rest").uncheck()
        expect(page.locator("#reminder-status")).to_have_text("Reminders are off.")
        assert stored(reminder_server) == []
        assert page.evaluate("window.__unsubscribed") is True

    def test_without_notification_permission_nothing_is_saved(
        self, page: Page, context: BrowserContext, reminder_server: LiveServer,
        phone: Browser
    ) -> None:
        context.clear_permissions()
        page.goto(reminder_server.url + "/settings")
        # Headless Chromium answers the permission prompt with "denied".
        page.get_by_label("Remind me to rest").check()
        expect(page.locator("#reminder-error")).to_contain_text("notifications")
        expect(page.get_by_label("Remind me to rest")).not_to_be_checked()
        assert stored(reminder_server) == []

    def test_a_new_server_key_brings_a_new_subscription(
        self, page: Page, reminder_server: LiveServer, push_service: PushService,
        phone: Browser
    ) -> None:
        # Pushes signed with another key than the one a subscription was made for never
        # arrive: when the server's key changes (say, its data folder was lost), the app
        # subscribes again the next time it opens.
        page.goto(reminder_server.url + "/settings")
        page.get_by_label("Remind me to rest").check()
        expect(page.locator("#reminder-status")).to_contain_text("Next reminder")
        saves: list[str] = []
        page.on("request", lambda request: saves.append(request.url)
                if request.method == "PUT" and "/api/reminders" in request.url else None)
        key_reads: list[str] = []
        page.on("request", lambda request: key_reads.append(request.url)
                if request.url.endswith("/api/reminders/key") else None)

        # Opened again, nothing changed: nothing is sent again.
        with page.expect_response("**/api/reminders/key"):
            page.goto(reminder_server.url + "/")
        page.wait_for_timeout(300)
        assert saves == [] and page.evaluate("window.__unsubscribed") is None

        reminder_server.stop()
        (reminder_server.data_dir / KEY_FILE).unlink()  # a new key is made on start
        reminder_server.start({"PUSH_SERVICES": json.dumps([push_service.origin]),
                               "REMINDER_CHECK_S": "0.2", "VOICE_ENABLED": "false"})
        key_reads.clear()
        with page.expect_response(lambda response: response.request.method == "PUT"
                                  and "/api/reminders" in response.url) as saved:
            page.goto(reminder_server.url + "/")
        assert saved.value.status == 200
        assert len(key_reads) == 1  # the key read to notice the change serves the new one
        new_key = server_key(page)
        assert page.evaluate("window.__unsubscribed") is True
        assert json.loads(page.evaluate("localStorage.getItem('test-push-key')")) == new_key
        assert [row[0] for row in stored(reminder_server)] == [phone.endpoint]



def worker(context: BrowserContext, page: Page) -> Worker:
    """The page's service worker, once it controls the page."""
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    (found,) = context.service_workers
    return found


def endpoint_saved_on_device(page: Page) -> str | None:
    """The subscription the page's own record of the reminder names (None: no reminder)."""
    endpoint: str | None = page.evaluate("""async () => {
        const { getSetting } = await import('/js/store.js');
        return (await getSetting('reminder'))?.endpoint ?? null;
    }""")
    return endpoint


def fire_subscription_change(service_worker: Worker, old_endpoint: str | None,
                             made: dict[str, object] | None, for_server_key: bool = True
                             ) -> None:
    """Fire pushsubscriptionchange in the worker as the browser does, with the old
    subscription's endpoint and the new subscription (None: the browser gives none), and
    wait for what its handler waits for."""
    service_worker.evaluate("""async ([oldEndpoint, made, forServerKey]) => {
        const { public_key: key } = await (await fetch('/api/reminders/key')).json();
        const given = made && {
            endpoint: made.endpoint,
            options: { applicationServerKey: forServerKey ? keyBytes(key).buffer
                                                          : new Uint8Array(65).buffer },
            toJSON: () => made,
            unsubscribe: async () => { self.unsubscribed = made.endpoint; return true; },
        };
        const event = new ExtendableEvent('pushsubscriptionchange');
        let handled = Promise.resolve();
        Object.defineProperties(event, {
            oldSubscription: { value: oldEndpoint && { endpoint: oldEndpoint } },
            newSubscription: { value: given },
            // An event made by a script cannot be extended: what the handler waits for
            // is kept and awaited here instead.
            waitUntil: { value: (promise) => { handled = promise; } },
        });
        self.dispatchEvent(event);
        await handled;
    }""", [old_endpoint, made, for_server_key])


def subscribe_to(service_worker: Worker, made: dict[str, object]) -> None:
    """The browser's push registration in the worker, at the edge (as FAKE_PUSH_MANAGER
    on the page): subscribing hands out `made` and notes the key it was asked for."""
    service_worker.evaluate("""(made) => {
        self.registration.pushManager.subscribe = async (options) => {
            self.subscribedWith = Array.from(new Uint8Array(options.applicationServerKey));
            return { endpoint: made.endpoint, toJSON: () => made };
        };
    }""", made)


class TestRenewedSubscription:
    """The browser renews a push subscription on its own (pushsubscriptionchange): the
    worker carries the reminder over, with no page needed to do it."""

    def turn_on(self, page: Page, server: LiveServer) -> None:
        page.goto(server.url + "/settings")
        page.get_by_label("Remind me to rest").check()
        expect(page.locator("#reminder-status")).to_contain_text("Next reminder")
        page.get_by_label("Time").fill("06:45")
        page.get_by_label("Time").dispatch_event("change")
        page.get_by_label("Sunday").uncheck()
        page.wait_for_function("() => !document.querySelector('#reminder-status')"
                               ".textContent.includes('Saving')")

    def test_the_new_subscription_gets_the_reminder_and_the_old_one_is_dropped(
        self, page: Page, context: BrowserContext, reminder_server: LiveServer,
        push_service: PushService, phone: Browser
    ) -> None:
        self.turn_on(page, reminder_server)
        zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
        assert stored(reminder_server) == [(phone.endpoint, 6 * 60 + 45, 0b0111111, zone)]
        renewed = new_browser(push_service)

        fire_subscription_change(worker(context, page), phone.endpoint, renewed.subscription())

        assert stored(reminder_server) == [(renewed.endpoint, 6 * 60 + 45, 0b0111111, zone)]
        assert endpoint_saved_on_device(page) == renewed.endpoint

        # When due, the reminder goes to the new subscription, readable with its keys only.
        make_due(reminder_server)
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not push_service.deliveries and datetime.now(UTC) < deadline:
            page.wait_for_timeout(100)
        (delivery,) = push_service.deliveries
        assert renewed.endpoint == push_service.origin + delivery.path
        assert renewed.decrypt(delivery.body) == REMINDER

    @pytest.mark.parametrize("given", ["none", "made for another key"])
    def test_without_a_usable_subscription_the_worker_subscribes_with_the_server_key(
        self, page: Page, context: BrowserContext, reminder_server: LiveServer,
        push_service: PushService, phone: Browser, given: str
    ) -> None:
        self.turn_on(page, reminder_server)
        service_worker = worker(context, page)
        made = new_browser(push_service)
        subscribe_to(service_worker, made.subscription())
        offered = new_browser(push_service)

        fire_subscription_change(service_worker, phone.endpoint,
                                 None if given == "none" else offered.subscription(),
                                 for_server_key=False)

        assert service_worker.evaluate("self.subscribedWith") == server_key(page)
        if given != "none":
            assert service_worker.evaluate("self.unsubscribed") == offered.endpoint
        assert [row[:3] for row in stored(reminder_server)] == [
            (made.endpoint, 6 * 60 + 45, 0b0111111)]
        assert endpoint_saved_on_device(page) == made.endpoint

    def test_a_refused_save_changes_nothing_and_fails_the_event(
        self, page: Page, context: BrowserContext, reminder_server: LiveServer,
        push_service: PushService, phone: Browser
    ) -> None:
        # Say the push service moved to an address this server does not send to: refused.
        self.turn_on(page, reminder_server)
        before = stored(reminder_server)
        elsewhere = new_browser(PushService(origin="http://127.0.0.1:9"))
        with pytest.raises(PlaywrightError, match="422"):
            fire_subscription_change(worker(context, page), phone.endpoint,
                                     elsewhere.subscription())
        assert stored(reminder_server) == before
        assert endpoint_saved_on_device(page) == phone.endpoint

    def test_with_no_reminder_on_the_device_nothing_is_saved_or_subscribed(
        self, page: Page, context: BrowserContext, reminder_server: LiveServer,
        push_service: PushService, phone: Browser
    ) -> None:
        page.goto(reminder_server.url + "/settings")
        service_worker = worker(context, page)
        subscribe_to(service_worker, new_browser(push_service).subscription())
        fire_subscription_change(service_worker, None, None)
        assert stored(reminder_server) == []
        assert service_worker.evaluate("self.subscribedWith") is None
