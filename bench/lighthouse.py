"""Lighthouse scores of the app page, next to a blank page of the same server.

    python bench/lighthouse.py [--quick] [--runs 3] [--json out.json]

Runs npm `lighthouse` (installed on first use into .bench-cache/lighthouse, never
committed) against Debian's Chromium (/usr/bin/chromium, or CHROME_PATH), with its default
mobile emulation and simulated throttling, on `/` of a real server process
(`bench.server:app`, production settings; the default session rendered beforehand), and on
`/bench/blank`, a minimal valid page of the same server: the baseline of the same run.
Reports the median of `runs` for performance, accessibility and best-practices.
Goal: each at least 95 on the app page. Needs node/npm; the first install needs the npm
registry (about 15 s).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE_DIR, Figure, median, print_table, running_server, write_json  # noqa: E402, I001

LIGHTHOUSE_VERSION = "12"
INSTALL_DIR = CACHE_DIR / "lighthouse"
CHROME = os.environ.get("CHROME_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROME_FLAGS = ("--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage "
                "--disable-background-networking --disable-component-update --disable-sync "
                "--no-first-run --disable-quic")
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


def scores(url: str) -> dict[str, float]:
    """One Lighthouse run: category scores 0-100."""
    with tempfile.TemporaryDirectory(prefix="crg-lh-") as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [str(ensure_lighthouse()), url, "--quiet", "--output=json",
             f"--output-path={report}", f"--only-categories={','.join(CATEGORIES)}",
             f"--chrome-flags={CHROME_FLAGS}"],
            env={**os.environ, "CHROME_PATH": CHROME}, check=True, capture_output=True,
            timeout=300,
        )
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
