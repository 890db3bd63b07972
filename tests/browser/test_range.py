"""Offline, the worker answers ranged requests for saved audio with correct 206 slices."""

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser.helpers_pwa import activate_worker, save_session
from tests.server_process import LiveServer

RANGED_FETCH = """async ([url, range]) => {
  const response = await fetch(url, { headers: { Range: range } });
  const body = new Uint8Array(await response.arrayBuffer());
  return {
    status: response.status,
    contentRange: response.headers.get('Content-Range'),
    contentLength: response.headers.get('Content-Length'),
    body: Array.from(body),
  };
}"""


@pytest.fixture
def saved_offline(page: Page, context: BrowserContext, live_server: LiveServer):
    page.goto(live_server.url + "/")
    activate_worker(page)
    record = save_session(page)
    audio = httpx.get(live_server.url + record["audio_url"], timeout=30).content
    context.set_offline(True)
    yield page, record["audio_url"], audio
    context.set_offline(False)


class TestRangeFromCache:
    def test_closed_range_is_206_with_exactly_those_bytes(self, saved_offline):
        page, url, audio = saved_offline
        got = page.evaluate(RANGED_FETCH, [url, "bytes=100-199"])
        assert got["status"] == 206
        assert got["contentRange"] == f"bytes 100-199/{len(audio)}"
        assert got["contentLength"] == "100"
        assert bytes(got["body"]) == audio[100:200]

    def test_open_ended_range_runs_to_the_last_byte(self, saved_offline):
        page, url, audio = saved_offline
        got = page.evaluate(RANGED_FETCH, [url, "bytes=500-"])
        assert got["status"] == 206
        assert got["contentRange"] == f"bytes 500-{len(audio) - 1}/{len(audio)}"
        assert got["contentLength"] == str(len(audio) - 500)
        assert bytes(got["body"]) == audio[500:]

    def test_suffix_range_gives_the_last_bytes(self, saved_offline):
        page, url, audio = saved_offline
        got = page.evaluate(RANGED_FETCH, [url, "bytes=-64"])
        assert got["status"] == 206
        assert got["contentRange"] == f"bytes {len(audio) - 64}-{len(audio) - 1}/{len(audio)}"
        assert bytes(got["body"]) == audio[-64:]

    def test_range_past_the_end_is_416(self, saved_offline):
        page, url, audio = saved_offline
        got = page.evaluate(RANGED_FETCH, [url, f"bytes={len(audio) + 10}-"])
        assert got["status"] == 416
        assert got["contentRange"] == f"bytes */{len(audio)}"

    def test_whole_file_without_range_is_200(self, saved_offline):
        page, url, audio = saved_offline
        got = page.evaluate(
            """async (url) => {
              const response = await fetch(url);
              return [response.status, (await response.arrayBuffer()).byteLength];
            }""",
            url,
        )
        assert got == [200, len(audio)]
