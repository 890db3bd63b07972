"""Shared steps of the PWA browser tests: register the worker, save a session, read caches."""

from typing import Any

from playwright.sync_api import Page

# The shortest session the API renders: 3 minutes, guided, no preparation time.
QUICK_SESSION = "/api/routines/quick-reset/session?minutes=3&cues=guided&prep=0"
RENDER_TIMEOUT_MS = 120_000  # a first render of a session takes a few seconds, more on a busy CI
# A page of the app's origin where the app does not start, for tests that import its modules
# themselves: a static file, under the page policy (an API answer's lets a page load nothing).
BARE_PAGE = "/css/app.css"


def activate_worker(page: Page) -> None:
    """Register the worker the way the app does and wait until it controls the page."""
    page.evaluate(
        """async () => {
          const { registerServiceWorker } = await import('/js/sw-client.js');
          await registerServiceWorker().ready;
        }"""
    )
    wait_until(page, "() => navigator.serviceWorker.controller !== null")


def save_session(page: Page, query: str = QUICK_SESSION) -> dict[str, Any]:
    """Fetch a session script and save it for offline through offline.js; return the record."""
    record: dict[str, Any] = page.evaluate(
        """async (query) => {
          const response = await fetch(query);
          if (!response.ok) throw new Error(`session: ${response.status} ${await response.text()}`);
          const script = await response.json();
          const { saveForOffline } = await import('/js/offline.js');
          const record = await saveForOffline(script);
          return { ...record, script: undefined };
        }""",
        query,
    )
    return record


def cache_names(page: Page) -> list[str]:
    names: list[str] = page.evaluate("caches.keys()")
    return sorted(names)


def shown_version(page: Page) -> str:
    version: str = page.locator('meta[name="app-version"]').get_attribute("content") or ""
    return version


def wait_until(page: Page, predicate: str, timeout_ms: int = 30_000) -> None:
    """Poll an async JS predicate in the page (wait_for_function neither
    awaits promises nor may evaluate strings under the app's CSP)."""
    met = page.evaluate(
        """async ([source, timeoutMs]) => {
          const predicate = (0, eval)(source);
          const deadline = Date.now() + timeoutMs;
          while (Date.now() < deadline) {
            if (await predicate()) return true;
            await new Promise((resolve) => setTimeout(resolve, 250));
          }
          return false;
        }""",
        [predicate, timeout_ms],
    )
    assert met, f"not met within {timeout_ms} ms: {predicate}"


def wait_ready_offline(page: Page) -> None:
    """What the app calls ready offline: the worker controls the page and the default
    session (saved by the app itself on a first visit) is in the downloads store."""
    activate_worker(page)
    wait_until(
        page,
        """async () => {
          const { listSaved } = await import('/js/offline.js');
          return (await listSaved()).length > 0;
        }""",
        RENDER_TIMEOUT_MS,
    )


def worker_version(page: Page) -> str:
    """The version of the worker that controls the page, asked of the worker itself."""
    version: str = page.evaluate(
        """() => new Promise((resolve) => {
          const channel = navigator.serviceWorker;
          const onMessage = (event) => {
            if (event.data?.type !== 'VERSION') return;
            channel.removeEventListener('message', onMessage);
            resolve(event.data.version);
          };
          channel.addEventListener('message', onMessage);
          channel.controller.postMessage({ type: 'VERSION' });
        })"""
    )
    return version
