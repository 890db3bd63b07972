"""Every benchmark in one command: one table, one JSON file.

    python bench/run_all.py [--quick] [--json bench-results.json]
                            [--only api sync ...] [--skip lighthouse ...]
                            [--db sqlite postgres]

Install first: `pip install -e '.[bench,test]'`, `apt-get install -y wrk chromium`, node/npm
(Lighthouse installs itself into .bench-cache/ on first use), PostgreSQL at
127.0.0.1:5432 for the PostgreSQL rows (BENCH_PG_ADMIN_URL to point elsewhere).

Sections (each also runs alone: python bench/<name>.py --help):
  api         wrk: routines, warm session script, sync pull and push vs the raw ASGI ceiling
  sync        500-mutation push and 5,000-record full pull vs Core insert/select (the floor)
  audio       cold/warm render, bytes per minute, cue-onset error
  pwa         app shell bytes, default offline download, offline Home at 4x CPU throttling
  lighthouse  performance, accessibility, best-practices of / vs a blank page
  load        70/25/5 pull/push/page mix over many devices, then the 0-lost/0-duplicated check
Every figure sits next to its baseline measured in the same run (the "baseline" column);
values are medians over repeats. Full mode takes about 30 minutes; --quick a few minutes
(figures from --quick are a smoke check, not results). A section whose tool is missing is
reported as skipped; a section that fails is reported and the others still run (exit 1).
"""

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, Figure, can_pin, print_table, write_json  # noqa: E402

SECTIONS = ("api", "sync", "audio", "pwa", "lighthouse", "load")


def _section(name: str) -> Any:
    # Imported when run: a section's heavy or optional imports (Playwright, PyAV) stay
    # out of the others' way.
    return importlib.import_module(f"bench.{name}")


def _load_all(quick: bool, databases: list[str]) -> dict:
    """The load test on each database (SQLite only in --quick)."""
    merged: dict = {"figures": [], "skipped": {}, "runs": {}}
    for database in (databases[:1] if quick else databases):
        result = _section("load").run(quick=quick, database=database)
        merged["figures"] += result["figures"]
        merged["skipped"].update(result["skipped"])
        merged["runs"][database] = {k: v for k, v in result.items() if k != "figures"}
    return merged


def runners(quick: bool, databases: list[str]) -> dict[str, Callable[[], dict]]:
    return {
        "api": lambda: _section("api").run(quick=quick, databases=databases),
        "sync": lambda: _section("sync").run(quick=quick, databases=databases),
        "audio": lambda: _section("audio").run(quick=quick),
        "pwa": lambda: _section("pwa").run(quick=quick),
        "lighthouse": lambda: _section("lighthouse").run(quick=quick),
        "load": lambda: _load_all(quick, databases),
    }


def machine() -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = ""
    return {"at": datetime.now(UTC).isoformat(timespec="seconds"), "commit": commit,
            "python": platform.python_version(), "cpus": os.cpu_count(),
            "pinned": can_pin(), "platform": platform.platform()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--only", nargs="+", choices=SECTIONS)
    parser.add_argument("--skip", nargs="+", choices=SECTIONS, default=[])
    parser.add_argument("--db", nargs="+", choices=["sqlite", "postgres"],
                        default=["sqlite", "postgres"])
    args = parser.parse_args()

    chosen = [s for s in (args.only or SECTIONS) if s not in args.skip]
    figures: list[Figure] = []
    sections: dict[str, dict] = {}
    failed: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name, measure in runners(args.quick, args.db).items():
        if name not in chosen:
            continue
        print(f"... {name}", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            result = measure()
        except Exception as exc:  # one broken section must not lose the others' figures
            failed[name] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
            continue
        figures += result["figures"]
        skipped.update(result.get("skipped", {}))
        sections[name] = {**{k: v for k, v in result.items() if k != "figures"},
                          "seconds": round(time.monotonic() - started, 1)}

    print()
    print_table(figures)
    print()
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    for name, why in failed.items():
        print(f"FAILED {name}: {why}")
    missed = [f"{f.section}: {f.name}" for f in figures if f.met is False]
    print(f"goals met: {sum(1 for f in figures if f.met)} of "
          f"{sum(1 for f in figures if f.met is not None)}"
          + (f"; missed: {len(missed)} (the NO rows)" if missed else ""))
    if args.quick:
        print("--quick: short runs on a possibly busy machine; do not quote these figures.")
    write_json(args.json, {"mode": "quick" if args.quick else "full", "machine": machine(),
                           "figures": figures, "sections": sections, "skipped": skipped,
                           "failed": failed})
    print(f"wrote {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
