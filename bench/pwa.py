"""Figures for the installable offline app: shell size, download size, offline start time.

    python bench/pwa.py [--runs 7]

Prints (no asserts; targets: shell < 80 KB compressed, offline Home < 500 ms at 4x CPU):
- the app shell: every precached file, raw, gzip -9 and brotli q11 (what a first visit costs);
- the default offline download: the audio rendition the app picks plus its captions;
- navigation to an interactive Home offline (served by the worker), CPU throttled 4x,
  median of several runs, next to a baseline measured in the same run: an online
  navigation to a small static file of the same server under the same throttling.
"""

import argparse
import gzip
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

import brotli
import httpx
from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.browser.helpers_pwa import wait_until  # noqa: E402
from tests.server_process import LiveServer, free_port  # noqa: E402

CPU_SLOWDOWN = 4
SHELL_TARGET_KB = 80
HOME_TARGET_MS = 500
# Home is interactive when its one-tap start button is there and enabled.
HOME_INTERACTIVE = """() => {
  const button = [...document.querySelectorAll('button')].find((b) =>
    (b.getAttribute('aria-label') || b.textContent).trim().startsWith('Start rest') && !b.disabled);
  return button ? performance.now() : false;
}"""


def shell_sizes(base: str) -> list[tuple[str, int, int, int]]:
    sw = httpx.get(f"{base}/sw.js").text
    found = re.search(r"self\.PRECACHE = (\{.*?\});\n", sw, re.S)
    assert found is not None, "sw.js does not start with its precache manifest"
    manifest = json.loads(found.group(1))
    rows = [("/sw.js", len(sw.encode()), len(gzip.compress(sw.encode(), 9)),
             len(brotli.compress(sw.encode(), quality=11)))]
    for entry in manifest["entries"]:
        body = httpx.get(base + entry["url"]).content
        rows.append((entry["url"], len(body), len(gzip.compress(body, 9)),
                     len(brotli.compress(body, quality=11))))
    return rows


def default_download(base: str) -> tuple[str, int, int]:
    routines = httpx.get(f"{base}/api/routines").json()
    routine = next((r for r in routines if r["id"] == "classic"), routines[0])
    d = routine["defaults"]
    script = httpx.get(
        f"{base}/api/routines/{routine['id']}/session",
        params={"minutes": d["minutes"], "cues": d["cues"], "prep": d["prep_s"]},
        timeout=300,
    ).json()
    audio = script["audio"][0]  # AAC: what Chromium and every phone plays
    captions = len(httpx.get(base + script["captions_url"]).content)
    label = f"{routine['id']} {d['minutes']} min {d['cues']}, {audio['mime']}"
    return label, audio["bytes"], captions


def timed(page: Page, url: str, ready: str) -> float:
    page.goto(url, wait_until="commit")
    # Polled each frame inside the page; returns the page's own clock (ms since navigation).
    return float(page.evaluate(
        """(source) => new Promise((resolve) => {
          const ready = (0, eval)(source);
          const poll = () => {
            const at = ready();
            if (at) resolve(at);
            else requestAnimationFrame(poll);
          };
          poll();
        })""",
        ready,
    ))


def offline_start(base: str, runs: int) -> tuple[list[float], list[float]]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844},
                                      is_mobile=True, has_touch=True, service_workers="allow")
        page = context.new_page()
        page.goto(base + "/")
        wait_until(page, "() => navigator.serviceWorker.controller !== null", 60_000)
        wait_until(page, """() => import('/js/offline.js')  // the app saves it on a first visit
            .then(async (m) => (await m.listSaved()).length > 0)""", 300_000)
        cdp = context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
        baseline = [timed(page, f"{base}/manifest.webmanifest",
                          "() => document.readyState === 'complete' && performance.now()")
                    for _ in range(runs)]
        context.set_offline(True)
        home = [timed(page, base + "/", HOME_INTERACTIVE) for _ in range(runs)]
        browser.close()
    return baseline, home


def measure(runs: int) -> dict:
    """Shell sizes, the default download and offline start times from one server run."""
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(Path(tmp) / "data", Path(tmp) / "speech", free_port())
        server.start()
        try:
            rows = shell_sizes(server.url)
            label, audio_bytes, captions_bytes = default_download(server.url)
            baseline, home = offline_start(server.url, runs)
        finally:
            server.stop()
    return {"rows": rows, "label": label, "audio_bytes": audio_bytes,
            "captions_bytes": captions_bytes, "baseline_ms": baseline, "home_ms": home}


def run(quick: bool = False, runs: int | None = None) -> dict:
    """The figures for bench/run_all.py, each with its same-run baseline where there is one."""
    from bench.common import Figure

    m = measure(runs or (3 if quick else 7))
    raw, gz, br = (sum(row[i] for row in m["rows"]) for i in (1, 2, 3))
    home, baseline = statistics.median(m["home_ms"]), statistics.median(m["baseline_ms"])
    figures = [
        Figure("pwa", f"app shell, {len(m['rows'])} files, brotli", br / 1000, "KB",
               raw / 1000, "raw", goal=f"< {SHELL_TARGET_KB} KB", met=br / 1000 < SHELL_TARGET_KB,
               extra={"gzip_kb": gz / 1000}),
        Figure("pwa", f"default offline download ({m['label']})",
               (m["audio_bytes"] + m["captions_bytes"]) / 1000, "KB"),
        Figure("pwa", f"offline Home interactive, CPU {CPU_SLOWDOWN}x", home, "ms", baseline,
               "online static file", goal=f"< {HOME_TARGET_MS} ms", met=home < HOME_TARGET_MS),
    ]
    return {"figures": figures, "skipped": {},
            "details": {**m, "rows": [list(row) for row in m["rows"]]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    m = measure(args.runs)
    rows, home, baseline = m["rows"], m["home_ms"], m["baseline_ms"]

    print(f"App shell: {len(rows)} files")
    for url, raw, gz, br in sorted(rows, key=lambda row: -row[1]):
        print(f"  {url:<34} {raw:>8} B  gzip {gz:>7} B  brotli {br:>7} B")
    raw, gz, br = (sum(row[i] for row in rows) for i in (1, 2, 3))
    print(f"  total {raw / 1024:.1f} KiB raw, {gz / 1024:.1f} KiB gzip, "
          f"{br / 1024:.1f} KiB brotli (target < {SHELL_TARGET_KB} KB compressed)")
    print(f"Default offline download ({m['label']}): audio {m['audio_bytes'] / 1024:.1f} KiB "
          f"+ captions {m['captions_bytes'] / 1024:.1f} KiB = "
          f"{(m['audio_bytes'] + m['captions_bytes']) / 1024:.1f} KiB")
    print(f"Offline Home interactive, CPU {CPU_SLOWDOWN}x slower, {args.runs} runs: "
          f"median {statistics.median(home):.0f} ms (min {min(home):.0f}, max {max(home):.0f}); "
          f"target < {HOME_TARGET_MS} ms")
    base_ms = statistics.median(baseline)
    print(f"Baseline, online static file, same throttling: median {base_ms:.0f} ms "
          f"-> ratio {statistics.median(home) / base_ms:.1f}x")
    print("Lighthouse scores: python bench/lighthouse.py")


if __name__ == "__main__":
    main()
