"""Lighthouse scores of the app page, next to a blank page of the same server.

    python bench/lighthouse.py [--quick] [--runs 3] [--json out.json]

Runs npm `lighthouse` (installed on first use into .bench-cache/lighthouse, never
committed) against Debian's Chromium (/usr/bin/chromium, or CHROME_PATH; a fresh browser
and profile for every run), with its default mobile emulation and simulated throttling,
on `/` of a real server process (`bench.server:app`, production settings; the default
session rendered beforehand), and on `/bench/blank`, a minimal valid page of the same
server: the baseline of the same run.
Reports the median of `runs` for performance, accessibility and best-practices.
Goal: each at least 95 on the app page. Needs node/npm; the first install needs the npm
registry (about 15 s).
"""

import argparse
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE_DIR, Figure, median, print_table, running_server, write_json  # noqa: E402, I001

LIGHTHOUSE_VERSION = "12"
INSTALL_DIR = CACHE_DIR / "lighthouse"
CHROME = os.environ.get("CHROME_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic")
# How long a browser may take to open its DevTools port. Lighthouse's own launcher allows
# 25 s, which a busy CI machine once overran ("Unable to connect to Chrome").
CHROME_START_TIMEOUT_S = 120
CATEGORIES = ("performance", "accessibility", "best-practices")
GOAL = 95
PAGES = {"app": "/", "blank": "/bench/blank"}


def lighthouse_bin() -> Path:
    return INSTALL_DIR / "node_modules" / ".bin" / "lighthouse"


def missing_tools() -> str | None:
    """Why Lighthouse cannot run here, or None."""
    if not Path(CHROME).exists():
        return f"Chromium not found at {CHROME}"
    if lighthouse_bin().exists():
        return None
    if not shutil.which("npm"):
        return "npm is not installed"
    return None


def ensure_lighthouse() -> Path:
    """Install lighthouse into the bench cache on first use."""
    if not lighthouse_bin().exists():
        INSTALL_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix",
                        str(INSTALL_DIR), f"lighthouse@{LIGHTHOUSE_VERSION}"],
                       check=True, capture_output=True, timeout=600)
    return lighthouse_bin()


@functools.cache
def launcher_default_flags() -> tuple[str, ...]:
    """The flags Lighthouse's launcher gives a browser it starts, so ours runs the same
    (asked of node once per process)."""
    script = "console.log(JSON.stringify(require('chrome-launcher').Launcher.defaultFlags()))"
    out = subprocess.run(["node", "-e", script], cwd=INSTALL_DIR, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return tuple(json.loads(out))


def wait_until_gone(process_group: int, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(process_group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


@contextmanager
def debuggable_chromium() -> Iterator[int]:
    """A fresh headless Chromium with its DevTools port open; yields the port.

    Started here rather than by Lighthouse so that a slow start gets more time, and a
    failed one says what the browser printed."""
    with tempfile.TemporaryDirectory(prefix="crg-lh-profile-",
                                     ignore_cleanup_errors=True) as profile:
        errors = Path(profile) / "chromium.log"
        ready = Path(profile) / "DevToolsActivePort"  # written once the port listens
        with errors.open("wb") as log:
            browser = subprocess.Popen(
                [CHROME, *launcher_default_flags(), *CHROME_FLAGS, f"--user-data-dir={profile}",
                 "--remote-debugging-port=0", "about:blank"],
                stdout=subprocess.DEVNULL, stderr=log,
                start_new_session=True)  # its own process group: its helpers go with it
        try:
            deadline = time.monotonic() + CHROME_START_TIMEOUT_S
            while not (ready.exists() and ready.read_text().count("\n") >= 1):
                if browser.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("Chromium did not open its DevTools port: "
                                       + errors.read_text(errors="replace")[-2000:])
                time.sleep(0.1)
            yield int(ready.read_text().splitlines()[0])
        finally:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.wait(timeout=30)
            wait_until_gone(browser.pid)  # its helpers write to the profile until they go


class LighthouseFailed(RuntimeError):
    @property
    def worth_retrying(self) -> bool:
        # Lighthouse's own word for a trace it failed to record (NO_NAVSTART and kin).
        return "Please run Lighthouse again" in str(self)


def scores(url: str, attempts: int = 2) -> dict[str, float]:
    """Category scores 0-100 of one Lighthouse run. A run that Lighthouse itself says to
    run again is run again, once, in a new browser; any other failure is raised."""
    for attempt in range(1, attempts + 1):
        try:
            return one_run(url)
        except LighthouseFailed as failure:
            if attempt == attempts or not failure.worth_retrying:
                raise
            print(f"lighthouse: run again after: {str(failure)[:200]}", file=sys.stderr)
    raise AssertionError("unreachable")


def one_run(url: str) -> dict[str, float]:
    """One Lighthouse run, in a browser of its own: category scores 0-100."""
    with tempfile.TemporaryDirectory(prefix="crg-lh-") as tmp, debuggable_chromium() as port:
        report = Path(tmp) / "report.json"
        result = subprocess.run(
            [str(ensure_lighthouse()), url, f"--port={port}", "--quiet", "--output=json",
             f"--output-path={report}", f"--only-categories={','.join(CATEGORIES)}"],
            capture_output=True, text=True, timeout=300,
        )
        if result.returncode != 0:
            raise LighthouseFailed(f"lighthouse exited with {result.returncode}: "
                                   + (result.stderr or result.stdout)[-2000:])
        categories = json.loads(report.read_text())["categories"]
    return {name: (categories[name]["score"] or 0) * 100 for name in CATEGORIES}


def run(quick: bool = False, runs: int | None = None, voice: bool = True,
        pages: tuple[str, ...] = ("app", "blank")) -> dict:
    why = missing_tools()
    if why:
        return {"figures": [], "skipped": {"lighthouse": why}}
    ensure_lighthouse()
    runs = runs or (1 if quick else 3)
    samples: dict[str, list[dict[str, float]]] = {page: [] for page in pages}
    with running_server(None, voice=voice) as server:
        routines = httpx.get(f"{server.url}/api/routines", timeout=30).json()
        defaults = routines[0]["defaults"]
        # The app fetches the default session on a first visit: render it before measuring.
        httpx.get(f"{server.url}/api/routines/{routines[0]['id']}/session", timeout=300,
                  params={"minutes": defaults["minutes"], "cues": defaults["cues"],
                          "prep": defaults["prep_s"]}).raise_for_status()
        for _ in range(runs):
            for page in pages:  # interleaved, so drift hits both alike
                samples[page].append(scores(server.url + PAGES[page]))
    figures = []
    for category in CATEGORIES:
        value = median([s[category] for s in samples.get("app", [])])
        baseline = median([s[category] for s in samples["blank"]]) if "blank" in pages else None
        figures.append(Figure("lighthouse", f"{category} (/)", value, "score", baseline,
                              "blank page", goal=f">= {GOAL}", met=value >= GOAL))
    return {"figures": figures, "skipped": {}, "samples": samples, "settings": {"runs": runs}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.quick, args.runs)
    print_table(result["figures"])
    for name, why in result["skipped"].items():
        print(f"skipped {name}: {why}")
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
