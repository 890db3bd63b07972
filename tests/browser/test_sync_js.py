"""web/js/sync.js in Chromium against a real server: two browser contexts are two phones."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.helpers_pwa import BARE_PAGE
from tests.sync.factories import make_rest
from tests.sync.faults import ServerProcess

pytestmark = pytest.mark.browser

LOAD = "async () => { window.sync = await import('/js/sync.js'); }"
AUTH = """async ([path, email]) => (await fetch(path, {method: 'POST',
  headers: {'Content-Type': 'application/json', 'X-Requested-With': 'rest-guide'},
  body: JSON.stringify({email, password: 'correct horse battery'})})).status"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = ServerProcess({"DATA_DIR": str(tmp_path / "data"), "ENVIRONMENT": "test",
                             "VOICE_ENABLED": "false", "SPEECH_CACHE_DIR": str(tmp_path)})
    running.start()
    yield running
    running.stop()


@pytest.fixture
def phones(server: ServerProcess, browser: Any) -> Iterator[list[Any]]:
    pages = []
    for _ in range(2):
        context = browser.new_context()
        page = context.new_page()
        page.goto(server.url + BARE_PAGE)
        page.evaluate(LOAD)
        pages.append(page)
    yield pages
    for page in pages:
        page.context.close()


def visible_rests(page: Any) -> dict[str, dict]:
    rests = page.evaluate("""async () => new Promise((resolve) => {
      const req = indexedDB.open('crg');
      req.onsuccess = () => {
        const all = req.result.transaction('rests').objectStore('rests').getAll();
        all.onsuccess = () => resolve(all.result);
      };
    })""")
    return {r["id"]: r for r in rests if not r.get("deleted")}


def test_two_phones_share_history_without_duplicates(phones: list[Any]) -> None:
    phone_a, phone_b = phones
    email = "two-phones@example.org"
    assert phone_a.evaluate(AUTH, ["/api/auth/register", email]) == 201
    # Phone A rests offline: three rests queued, nothing sent.
    phone_a.context.set_offline(True)
    offline_rests = [make_rest(note=f"offline {i}") for i in range(3)]
    for rest in offline_rests:
        phone_a.evaluate("rest => window.sync.recordChange('upsert', rest)", rest)
    assert phone_a.evaluate("() => window.sync.pendingCount()") == 3
    assert phone_a.evaluate("() => window.sync.syncNow()") == {"skipped": "offline"}
    phone_a.context.set_offline(False)
    summary = phone_a.evaluate("() => window.sync.syncNow()")
    assert summary["pushed"] == 3
    assert phone_a.evaluate("() => window.sync.pendingCount()") == 0
    assert phone_a.evaluate("() => window.sync.lastSyncedAt()") == summary["lastSyncedAt"]

    # Phone B had a rest of its own before signing in: the union, nothing overwritten.
    own = make_rest(note="phone b, before signing in")
    phone_b.evaluate("rest => window.sync.recordChange('upsert', rest)", own)
    assert phone_b.evaluate(AUTH, ["/api/auth/login", email]) == 200
    phone_b.evaluate("() => window.sync.mergeAfterSignIn()")
    expected = {r["id"] for r in offline_rests} | {own["id"]}
    assert set(visible_rests(phone_b)) == expected

    # A delete on B reaches A; the same sync run twice changes nothing.
    phone_b.evaluate("id => window.sync.recordChange('delete', {id})", offline_rests[0]["id"])
    phone_b.evaluate("() => window.sync.syncNow()")
    for _ in range(2):
        phone_a.evaluate("() => window.sync.syncNow()")
    assert visible_rests(phone_a) == visible_rests(phone_b)
    assert set(visible_rests(phone_a)) == expected - {offline_rests[0]["id"]}
    exported = phone_a.evaluate(
        "async () => (await (await fetch('/api/history/export.json')).json()).rests")
    assert sorted(r["id"] for r in exported) == sorted(expected - {offline_rests[0]["id"]})


def test_a_refused_rest_changed_again_is_no_longer_shown_as_refused(phones: list[Any]) -> None:
    phone = phones[0]
    assert phone.evaluate(AUTH, ["/api/auth/register", "refused@example.org"]) == 201
    rest = make_rest(note="x" * 2001)  # over the server's limit: refused for good
    phone.evaluate("rest => window.sync.recordChange('upsert', rest)", rest)
    phone.evaluate("() => window.sync.syncNow()")
    refused = visible_rests(phone)[rest["id"]]
    assert refused["sync_error"].startswith("note")

    # Edited as History edits it: the stored rest with its fields changed, queued again.
    phone.evaluate("rest => window.sync.recordChange('upsert', rest)",
                   {**refused, "note": "Shorter now."})
    assert "sync_error" not in visible_rests(phone)[rest["id"]]
    phone.evaluate("() => window.sync.syncNow()")
    assert "sync_error" not in visible_rests(phone)[rest["id"]]
    on_server = phone.evaluate("async () => (await (await fetch('/api/history/rests')).json())")
    assert [r["note"] for r in on_server if r["id"] == rest["id"]] == ["Shorter now."]
