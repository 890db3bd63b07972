"""API throughput and latency on loopback, each next to the ceiling of the same server.

    python bench/api.py [--quick] [--duration 10] [--repeats 3] [--db sqlite postgres]
                        [--connections 1 50] [--json out.json]

Needs `wrk` (apt-get install -y wrk) and, for the PostgreSQL half, a server at
127.0.0.1:5432 (user postgres; a fresh database is created, migrated and dropped).

One real uvicorn process (one worker, `bench.server:app`, production settings, the
app's HTTP protocol: app/server_protocol.py) per database, pinned to core 0; wrk (one
thread) pinned to core 1. Endpoints:
- ceiling: a raw ASGI callable returning a fixed JSON body under the same server;
- GET /api/routines;
- GET /api/routines/classic/session (warm: rendered once before measuring);
- GET /api/sync/pull of a device that is up to date (the common poll), signed in;
- POST /api/sync/push of 5 new rests, each request from a fresh device id with fresh rest
  ids (seq 1..5), so every push is applied, not skipped as a duplicate. The pushes take
  turns over PUSH_ACCOUNTS_PER_CONNECTION times as many accounts as the most connections
  measured: 50 connections are 50 phones of different accounts, not one account's 50
  devices (whose pushes a per-user lock puts in a queue). wrk hands each request the next
  account in turn, whatever connection sends it: with only as many accounts as
  connections, an account's next push set out about as long after its last one as a
  push takes, and the two often met at the account's lock (PostgreSQL, 50 connections:
  1,690 pushes/s and p99 46-66 ms over 50 accounts; 1,850-1,900/s and 34-47 ms over 200);
- the same pull, while PUSHING_ALONGSIDE more connections push to those other accounts
  (as most of a server's polls come from phones whose account nobody is writing to):
  informational, with no goal and no CPU figure (the CPU is the pushes' too).
Every account starts with a history of SEEDED_RESTS rests. Before measuring, each endpoint
is run for WARM_UP_S at the highest concurrency measured, unrecorded, as a live server has
long been: the process opens its pushes' PostgreSQL connections as pushes need them, and
a new connection's first statements are slow (its backend's caches and its prepared
statements are cold). Then PostgreSQL's statistics are gathered, as autovacuum keeps them
on a live database.
Each endpoint runs at 1 and 50 connections, interleaved with the ceiling `repeats` times;
medians are reported. Goals: reads >= 0.5x the ceiling; p99 < 50 ms at 50 connections.
Each endpoint's CPU time per request is reported too: the server process's (against the
ceiling's), and on PostgreSQL the database server's. On a shared machine whose speed
moves from minute to minute, rates and latencies move with it, and CPU time much less:
it compares two versions of the code where the rates cannot.
"""

import argparse
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    CLIENT_CORE,
    CSRF_HEADERS,
    Figure,
    analyze,
    database_kinds,
    fresh_database,
    make_rest,
    median,
    pinned,
    postgres_cpu_seconds,
    print_table,
    put,
    register,
    running_server,
    write_json,
)

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "bench.lua"
PUSH_BATCH = 5
PUSH_ACCOUNTS_PER_CONNECTION = 4
WARM_UP_S = 2.0
SEEDED_RESTS = 20
READS = ("routines", "session", "pull")
ENDPOINTS = ("ceiling", "routines", "session", "pull", "push", "pull_among_pushes")
# Connections pushing to other accounts while "pull_among_pushes" is measured.
PUSHING_ALONGSIDE = 5
LABELS = {
    "ceiling": "ceiling (raw ASGI)",
    "routines": "GET /api/routines",
    "session": "GET session script (warm)",
    "pull": "GET sync pull (up to date)",
    "push": f"POST sync push ({PUSH_BATCH} new, many accounts)",
    "pull_among_pushes": f"GET sync pull (up to date), {PUSHING_ALONGSIDE} others pushing",
}
SESSION_PATH = "/api/routines/classic/session?minutes=15&cues=guided&prep=30"
READ_RATIO_GOAL = 0.5
P99_GOAL_MS = 50.0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _wrk_command(url: str, connections: int, duration_s: float) -> list[str]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s",
               "--timeout", "10s", "-s", str(WRK_SCRIPT), url]
    return pinned(command, CLIENT_CORE)


def run_wrk(url: str, connections: int, duration_s: float, env: dict[str, str]) -> dict:
    done = subprocess.run(_wrk_command(url, connections, duration_s), env={**os.environ, **env},
                          capture_output=True, text=True, timeout=duration_s + 60, check=True)
    line = next(ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("{"))
    figures = json.loads(line)
    seconds = figures["duration_us"] / 1e6
    figures["rps"] = figures["requests"] / seconds if seconds else 0.0
    # No request finished: latencies are unknown (longer than the run), not zero.
    nothing = figures["requests"] == 0
    figures["p50_ms"] = float("inf") if nothing else figures["p50_us"] / 1000
    figures["p99_ms"] = float("inf") if nothing else figures["p99_us"] / 1000
    return figures


def _prepare(base: str, push_accounts: int) -> dict[str, dict[str, str]]:
    """Accounts with a history and warm caches; returns the wrk settings of each endpoint."""
    with httpx.Client(base_url=base, timeout=300) as client:
        client.get(SESSION_PATH).raise_for_status()  # render once: the benchmark is warm
        _, reader = register(base)
        device = _seed_history(client, reader)
        pulled = client.get("/api/sync/pull", params={"client_id": device},
                            headers={"Cookie": reader}).json()
        pushers = [register(base)[1] for _ in range(push_accounts)]
        for pusher in pushers:
            _seed_history(client, pusher)
    rest_fields = json.dumps({k: v for k, v in make_rest().items() if k != "id"})[1:-1]
    return {
        "ceiling": {"path": "/bench/ceiling"},
        "routines": {"path": "/api/routines"},
        "session": {"path": SESSION_PATH},
        "pull": {"path": f"/api/sync/pull?since={pulled['cookie']}&client_id={device}",
                 "WRK_COOKIE": reader},
        "push": {"path": "/api/sync/push", "WRK_MODE": "push", "WRK_COOKIES": " ".join(pushers),
                 "WRK_BATCH": str(PUSH_BATCH), "WRK_REST": rest_fields},
        "pull_among_pushes": {"path": f"/api/sync/pull?since={pulled['cookie']}"
                                      f"&client_id={device}", "WRK_COOKIE": reader},
    }


def _seed_history(client: httpx.Client, cookie: str) -> str:
    """SEEDED_RESTS rests of an account, pushed from one device; returns the device's id."""
    device = str(uuid.uuid4())
    mutations = [put(i + 1, make_rest()) for i in range(SEEDED_RESTS)]
    client.post("/api/sync/push", headers={**CSRF_HEADERS, "Cookie": cookie},
                json={"client_id": device, "mutations": mutations}).raise_for_status()
    return device


def measure_database(kind: str, connections: list[int], duration_s: float, repeats: int,
                     voice: bool) -> tuple[dict[str, dict[int, list[dict]]], int]:
    runs: dict[str, dict[int, list[dict]]] = {ep: {c: [] for c in connections}
                                               for ep in ENDPOINTS}
    # On SQLite the database's work is the server process's own; a PostgreSQL server on
    # another machine is not measured.
    database_cpu = postgres_cpu_seconds if kind == "postgres" else lambda: None
    with fresh_database(kind) as url, running_server(url, voice=voice) as server:
        settings = _prepare(server.url, PUSH_ACCOUNTS_PER_CONNECTION * max(connections))
        for endpoint in ENDPOINTS:  # warm, unrecorded (see the module's doc)
            run_wrk(server.url + settings[endpoint]["path"], max(connections),
                    min(WARM_UP_S, duration_s), _wrk_env(settings[endpoint]))
        analyze(url)  # as on a live database (see analyze)
        for conns in connections:
            for _ in range(repeats):
                for endpoint in ENDPOINTS:  # interleaved, so drift hits all alike
                    server_before, database_before = server.cpu_seconds(), database_cpu()
                    with _pushing_alongside(server.url, settings["push"], duration_s,
                                            endpoint == "pull_among_pushes"):
                        figures = run_wrk(server.url + settings[endpoint]["path"], conns,
                                          duration_s, _wrk_env(settings[endpoint]))
                    figures["server_cpu_s"] = server.cpu_seconds() - server_before
                    database_after = database_cpu()
                    figures["database_cpu_s"] = (
                        None if database_before is None or database_after is None
                        else database_after - database_before)
                    runs[endpoint][conns].append(figures)
        server_errors = server.server_errors()
    return runs, server_errors


@contextlib.contextmanager
def _pushing_alongside(base: str, push: dict[str, str], duration_s: float,
                       wanted: bool) -> Iterator[None]:
    """Other accounts' devices pushing meanwhile (when `wanted`): a poll with nothing new
    is answered from memory only while no write touches its own account."""
    if not wanted:
        yield
        return
    pushing = subprocess.Popen(_wrk_command(base + push["path"], PUSHING_ALONGSIDE, duration_s),
                               env={**os.environ, **_wrk_env(push)}, stdout=subprocess.DEVNULL)
    try:
        yield
    finally:
        pushing.wait(duration_s + 60)


def _wrk_env(settings: dict[str, str]) -> dict[str, str]:
    """wrk's settings of an endpoint, with a nonce of its own: every push run makes new
    devices and rests."""
    return {**{k: v for k, v in settings.items() if k != "path"},
            "WRK_NONCE": uuid.uuid4().hex[:8]}


def _summary(samples: list[dict]) -> dict[str, float]:
    requests = sum(s["requests"] for s in samples)

    def cpu_ms_per_request(key: str) -> float:
        """Per request, in ms: steady where a busy machine moves the rates and latencies;
        NaN where it was not measured."""
        if any(s[key] is None for s in samples):
            return float("nan")
        return 1000 * sum(s[key] for s in samples) / requests if requests else float("inf")

    return {
        "server_cpu_ms": cpu_ms_per_request("server_cpu_s"),
        "database_cpu_ms": cpu_ms_per_request("database_cpu_s"),
        "rps": median([s["rps"] for s in samples]),
        "p50_ms": median([s["p50_ms"] for s in samples]),
        "p99_ms": median([s["p99_ms"] for s in samples]),
        "requests": sum(s["requests"] for s in samples),
        "errors": sum(sum(s["errors"].values()) for s in samples),
        "stalled_runs": sum(1 for s in samples if s["requests"] == 0),
    }


def figures_for(kind: str, runs: dict[str, dict[int, list[dict]]]) -> list[Figure]:
    section = f"api {kind}"
    figures: list[Figure] = []
    for conns in next(iter(runs.values())):
        ceiling = _summary(runs["ceiling"][conns])
        figures.append(Figure(section, f"{LABELS['ceiling']} c{conns}", ceiling["rps"], "req/s"))
        for endpoint in ENDPOINTS[1:]:
            s = _summary(runs[endpoint][conns])
            label = f"{LABELS[endpoint]} c{conns}"
            ratio = s["rps"] / ceiling["rps"] if ceiling["rps"] else 0.0
            read = endpoint in READS
            figures.append(Figure(
                section, label, s["rps"], "req/s", ceiling["rps"], "ceiling",
                goal=f">= {READ_RATIO_GOAL}x" if read else "",
                met=ratio >= READ_RATIO_GOAL if read else None,
                extra={"errors": s["errors"], "requests": s["requests"]},
            ))
            figures.append(Figure(section, f"{label} p50", s["p50_ms"], "ms",
                                  ceiling["p50_ms"], "ceiling"))
            p99_goal = conns >= 50 and endpoint != "pull_among_pushes"  # the goal's own
            figures.append(Figure(
                section, f"{label} p99", s["p99_ms"], "ms", ceiling["p99_ms"], "ceiling",
                goal=f"< {P99_GOAL_MS:.0f} ms" if p99_goal else "",
                met=s["p99_ms"] < P99_GOAL_MS if p99_goal else None,
            ))
            if endpoint == "pull_among_pushes":
                continue  # its CPU is the pushes' too: per pull, it would mean nothing
            figures.append(Figure(section, f"{label} server CPU per request",
                                  s["server_cpu_ms"], "ms", ceiling["server_cpu_ms"],
                                  "ceiling"))
            if not math.isnan(s["database_cpu_ms"]):
                figures.append(Figure(section, f"{label} PostgreSQL CPU per request",
                                      s["database_cpu_ms"], "ms"))
    errors = sum(_summary(runs[ep][c])["errors"] for ep in ENDPOINTS for c in runs[ep])
    figures.append(Figure(section, "errors (non-2xx, socket)", errors, "count",
                          goal="0", met=errors == 0))
    stalled = sum(_summary(runs[ep][c])["stalled_runs"] for ep in ENDPOINTS for c in runs[ep])
    figures.append(Figure(section, "runs where no request finished", stalled, "count",
                          goal="0", met=stalled == 0))
    return figures


def run(quick: bool = False, duration_s: float | None = None, repeats: int | None = None,
        databases: list[str] | None = None, connections: list[int] | None = None,
        voice: bool = True) -> dict:
    """Measure every endpoint on every database; returns figures and the raw wrk runs."""
    if not wrk_available():
        return {"figures": [], "skipped": {"api": "wrk is not installed"}, "runs": {}}
    duration_s = duration_s or (2.0 if quick else 10.0)
    repeats = repeats or (1 if quick else 3)
    kinds, skipped = database_kinds(databases or ["sqlite", "postgres"])
    figures: list[Figure] = []
    raw: dict[str, dict] = {}
    for kind in kinds:
        runs, server_errors = measure_database(kind, connections or [1, 50], duration_s,
                                               repeats, voice)
        raw[kind] = runs
        figures += figures_for(kind, runs)
        figures.append(Figure(f"api {kind}", "server tracebacks (500s)", server_errors,
                              "count", goal="0", met=server_errors == 0))
    return {"figures": figures, "skipped": skipped, "runs": raw,
            "settings": {"duration_s": duration_s, "repeats": repeats}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--db", nargs="+", choices=["sqlite", "postgres"])
    parser.add_argument("--connections", nargs="+", type=int)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.quick, args.duration, args.repeats, args.db, args.connections)
    print_table(result["figures"])
    for name, why in result["skipped"].items():
        print(f"skipped {name}: {why}")
    print(f"goals: reads >= {READ_RATIO_GOAL}x of the ceiling; p99 < {P99_GOAL_MS:.0f} ms "
          "at 50 connections")
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
