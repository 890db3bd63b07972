"""A load test of a realistic mix, then a reconcile that proves nothing was lost or doubled.

    python bench/load.py [--quick] [--duration 300] [--devices 48] [--accounts 8]
                         [--think-ms 0] [--db sqlite|postgres] [--json out.json]

N simulated devices, spread over several accounts (each device signs in on its own and
has its own connection), run as asyncio tasks with httpx against a real server process
(`bench.server:app`, one uvicorn worker, production settings, pinned to core 0; this
generator on core 1).
Each device loops until the time is up, one request at a time (a closed loop; add
`--think-ms` for pauses), choosing:
- 70 %: pull the changes since its cookie (following `has_more`);
- 25 %: first make 1-3 local changes (create, edit or delete one of its own rests) into its
  numbered outbox, then push up to 10 from the head of the outbox, as the app does; a
  failed or lost push is simply sent again later (the server skips seqs it has applied);
- 5 %: load the app page or one of its shell assets.
Reported: requests/s, p50/p95/p99 (all and per kind), error rate (HTTP >= 400 or socket
error); baseline: the same generator and devices against the raw ASGI ceiling endpoint of
the same server, just before the mix. On a PostgreSQL server that runs without autovacuum,
the database is vacuumed and analyzed every 30 s meanwhile, as autovacuum keeps a live
one (the mix's first figure says how many times). Afterwards every device drains its outbox, and for
each account a fresh device pulls everything from scratch: the server's live records must
equal exactly what that account's devices created and did not delete, field for field.
Figures: lost (expected, missing), duplicated (an id twice in the pull), unexpected (live
on the server but deleted or never made), mismatched (content differs). All must be 0.
"""

import argparse
import asyncio
import json
import random
import re
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    AUTOVACUUM_EVERY_S,
    CSRF_HEADERS,
    Figure,
    database_kinds,
    delete,
    fresh_database,
    login,
    make_rest,
    median,
    on_client_core,
    percentile,
    print_table,
    put,
    register,
    running_server,
    vacuumed_as_autovacuum_would,
    write_json,
)

MIX = (("pull", 0.70), ("push", 0.25), ("page", 0.05))
PUSH_BATCH = 10
MAX_PULL_PAGES = 50
DRAIN_ATTEMPTS = 50
REQUEST_TIMEOUT_S = 30.0


@dataclass
class Device:
    account: int
    cookie: str
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    next_seq: int = 1
    outbox: list[dict] = field(default_factory=list)
    since: int = 0
    # What this device last did to each of its rests: the record, or None once deleted.
    ledger: dict[str, dict | None] = field(default_factory=dict)

    def live_ids(self) -> list[str]:
        return [rest_id for rest_id, rest in self.ledger.items() if rest is not None]

    def change_locally(self, rng: random.Random) -> None:
        """One local change into the outbox, as the app records a rest, an edit or a delete."""
        live = self.live_ids()
        roll = rng.random()
        if live and roll < 0.1:
            rest_id = rng.choice(live)
            self.outbox.append(delete(self.next_seq, rest_id))
            self.ledger[rest_id] = None
        elif live and roll < 0.3:
            rest_id = rng.choice(live)
            rest = {**self.ledger[rest_id], "note": f"edited {self.next_seq}"}  # type: ignore[dict-item]
            self.outbox.append(put(self.next_seq, rest))
            self.ledger[rest_id] = rest
        else:
            rest = make_rest(note=f"made by {self.client_id[:8]} #{self.next_seq}",
                             hours_ago=rng.uniform(1, 200))
            self.outbox.append(put(self.next_seq, rest))
            self.ledger[rest["id"]] = rest
        self.next_seq += 1


@dataclass
class Recorder:
    """Latencies (ms) and outcomes per kind of request."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    rejected_mutations: int = 0

    async def call(self, client: httpx.AsyncClient, kind: str, method: str, url: str,
                   **kwargs: Any) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.latencies[kind].append((time.perf_counter() - started) * 1000)
            self.errors[f"{kind}: {type(exc).__name__}"] += 1
            return None
        self.latencies[kind].append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            self.errors[f"{kind}: HTTP {response.status_code}"] += 1
            return None
        return response


async def push_once(client: httpx.AsyncClient, device: Device, rec: Recorder) -> bool:
    body = {"client_id": device.client_id, "mutations": device.outbox[:PUSH_BATCH]}
    response = await rec.call(client, "push", "POST", "/api/sync/push", json=body,
                              headers={**CSRF_HEADERS, "Cookie": device.cookie})
    if response is None:
        return False  # kept in the outbox: sent again next time
    answer = response.json()
    rec.rejected_mutations += sum(1 for r in answer["results"] if r["status"] == "rejected")
    device.outbox = [m for m in device.outbox if m["seq"] > answer["last_applied_seq"]]
    return True


async def pull_once(client: httpx.AsyncClient, device: Device, rec: Recorder) -> None:
    for _ in range(MAX_PULL_PAGES):
        response = await rec.call(client, "pull", "GET", "/api/sync/pull",
                                  params={"since": device.since, "client_id": device.client_id},
                                  headers={"Cookie": device.cookie})
        if response is None:
            return
        page = response.json()
        device.since = page["cookie"]
        if not page["has_more"]:
            return


async def device_loop(client: httpx.AsyncClient, device: Device, rec: Recorder,
                      pages: list[str], until: float, think_s: float, seed: int) -> None:
    rng = random.Random(seed)
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    while time.monotonic() < until:
        kind = rng.choices(kinds, weights)[0]
        if kind == "pull":
            await pull_once(client, device, rec)
        elif kind == "push":
            for _ in range(rng.randint(1, 3)):
                device.change_locally(rng)
            await push_once(client, device, rec)
        else:
            await rec.call(client, "page", "GET", rng.choice(pages))
        if think_s:
            await asyncio.sleep(rng.uniform(0, 2 * think_s))


async def ceiling_loop(client: httpx.AsyncClient, rec: Recorder, until: float) -> None:
    while time.monotonic() < until:
        await rec.call(client, "ceiling", "GET", "/bench/ceiling")


def shell_pages(base: str) -> list[str]:
    """The app page and every precached shell file, as a phone fetches them."""
    sw = httpx.get(f"{base}/sw.js", timeout=30).text
    found = re.search(r"self\.PRECACHE = (\{.*?\});\n", sw, re.S)
    entries = json.loads(found.group(1))["entries"] if found else []
    return ["/", "/sw.js", *(entry["url"] for entry in entries)]


async def full_state(client: httpx.AsyncClient, cookie: str) -> list[dict]:
    """Every change of the account from scratch, as a new device sees it."""
    device = str(uuid.uuid4())
    since, changes = 0, []
    for _ in range(10_000):
        response = await client.get("/api/sync/pull", params={"since": since, "client_id": device},
                                    headers={"Cookie": cookie})
        response.raise_for_status()
        page = response.json()
        changes += page["changes"]
        since = page["cookie"]
        if not page["has_more"]:
            return changes
    raise RuntimeError("the full pull did not end")


def reconcile(devices: list[Device], states: dict[int, list[dict]]) -> dict[str, int]:
    counts = Counter(lost=0, duplicated=0, unexpected=0, mismatched=0, expected=0, deleted=0)
    for account, changes in states.items():
        expected: dict[str, dict] = {}
        gone: set[str] = set()
        for device in devices:
            if device.account != account:
                continue
            for rest_id, rest in device.ledger.items():
                if rest is None:
                    gone.add(rest_id)
                else:
                    expected[rest_id] = rest
        seen = Counter(change["id"] for change in changes)
        counts["duplicated"] += sum(n - 1 for n in seen.values() if n > 1)
        live = {c["id"]: c["rest"] for c in changes if not c["deleted"]}
        counts["expected"] += len(expected)
        counts["deleted"] += len(gone)
        counts["lost"] += sum(1 for rest_id in expected if rest_id not in live)
        counts["unexpected"] += sum(1 for rest_id in live if rest_id not in expected)
        counts["mismatched"] += sum(1 for rest_id, rest in expected.items()
                                    if rest_id in live and live[rest_id] != rest)
    return dict(counts)


async def _drive(base: str, accounts: int, devices_n: int, duration_s: float,
                 baseline_s: float, think_s: float) -> dict[str, Any]:
    emails = [register(base)[0] for _ in range(accounts)]
    devices = [Device(account=i % accounts, cookie=login(base, emails[i % accounts]))
               for i in range(devices_n)]
    pages = shell_pages(base)
    # One client (one connection) per device, as real phones are: one shared client's
    # pool serialises on itself and would make the generator the bottleneck.
    clients = [httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S,
                                 limits=httpx.Limits(max_connections=1))
               for _ in devices]
    try:
        await asyncio.gather(*(c.get("/bench/ceiling") for c in clients))  # connect first

        ceiling = Recorder()
        until = time.monotonic() + baseline_s
        started = time.monotonic()
        await asyncio.gather(*(ceiling_loop(c, ceiling, until) for c in clients))
        ceiling_s = time.monotonic() - started

        mix = Recorder()
        until = time.monotonic() + duration_s
        started = time.monotonic()
        await asyncio.gather(*(device_loop(c, d, mix, pages, until, think_s, seed)
                               for seed, (c, d) in enumerate(zip(clients, devices,
                                                                 strict=True))))
        mix_s = time.monotonic() - started

        drain = Recorder()
        for _ in range(DRAIN_ATTEMPTS):
            pending = [(c, d) for c, d in zip(clients, devices, strict=True) if d.outbox]
            if not pending:
                break
            await asyncio.gather(*(push_once(c, d, drain) for c, d in pending))
        undelivered = sum(len(d.outbox) for d in devices)

        states = {}
        for account in range(accounts):
            cookie = next(d.cookie for d in devices if d.account == account)
            states[account] = await full_state(clients[0], cookie)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    return {"ceiling": ceiling, "ceiling_s": ceiling_s, "mix": mix, "mix_s": mix_s,
            "drain": drain, "undelivered": undelivered,
            "reconcile": reconcile(devices, states)}


def _stats(latencies: list[float], seconds: float) -> dict[str, float]:
    return {"requests": len(latencies), "rps": len(latencies) / seconds if seconds else 0.0,
            "p50_ms": median(latencies), "p95_ms": percentile(latencies, 0.95),
            "p99_ms": percentile(latencies, 0.99)}


def run(quick: bool = False, duration_s: float | None = None, devices: int | None = None,
        accounts: int | None = None, think_ms: float = 0.0, database: str = "sqlite",
        voice: bool = False, baseline_s: float | None = None) -> dict:
    duration_s = duration_s or (20.0 if quick else 300.0)
    devices = devices or (12 if quick else 48)
    accounts = accounts or (4 if quick else 8)
    baseline_s = baseline_s or max(5.0, min(30.0, duration_s * 0.1))
    kinds, skipped = database_kinds([database])
    if not kinds:
        return {"figures": [], "skipped": skipped}
    with fresh_database(database) as url, running_server(url, voice=voice) as server:
        with vacuumed_as_autovacuum_would(url) as vacuumed, on_client_core():
            outcome = asyncio.run(_drive(server.url, accounts, devices, duration_s,
                                         baseline_s, think_ms / 1000))
        server_errors = server.server_errors()
    mix: Recorder = outcome["mix"]
    everything = [ms for values in mix.latencies.values() for ms in values]
    total = _stats(everything, outcome["mix_s"])
    ceiling = _stats(outcome["ceiling"].latencies["ceiling"], outcome["ceiling_s"])
    per_kind = {kind: _stats(values, outcome["mix_s"]) for kind, values in mix.latencies.items()}
    error_count = sum(mix.errors.values())
    error_rate = error_count / total["requests"] if total["requests"] else 1.0
    checks = outcome["reconcile"]
    section = f"load {database}"
    figures = [
        Figure(section, f"mix, {devices} devices / {accounts} accounts"
               + (f", vacuumed {len(vacuumed)}x" if vacuumed else ""),
               total["rps"], "req/s", ceiling["rps"], "ceiling"),
        Figure(section, "mix p50", total["p50_ms"], "ms", ceiling["p50_ms"], "ceiling"),
        Figure(section, "mix p95", total["p95_ms"], "ms", ceiling["p95_ms"], "ceiling"),
        Figure(section, "mix p99", total["p99_ms"], "ms", ceiling["p99_ms"], "ceiling"),
        *(Figure(section, f"{kind} p99 ({stats['requests']} requests)", stats["p99_ms"], "ms",
                 ceiling["p99_ms"], "ceiling") for kind, stats in sorted(per_kind.items())),
        Figure(section, "error rate", error_rate * 100, "%", goal="0", met=error_count == 0,
               extra={"errors": dict(mix.errors)}),
        Figure(section, "server tracebacks (500s)", server_errors, "count", goal="0",
               met=server_errors == 0),
        Figure(section, "rejected mutations (valid records)", mix.rejected_mutations,
               "count", goal="0", met=mix.rejected_mutations == 0),
        Figure(section, "undelivered after drain", outcome["undelivered"], "mutations",
               goal="0", met=outcome["undelivered"] == 0),
        Figure(section, f"reconcile: lost of {checks['expected']}", checks["lost"], "records",
               goal="0", met=checks["lost"] == 0),
        Figure(section, "reconcile: duplicated", checks["duplicated"], "records", goal="0",
               met=checks["duplicated"] == 0),
        Figure(section, "reconcile: unexpected", checks["unexpected"], "records", goal="0",
               met=checks["unexpected"] == 0),
        Figure(section, "reconcile: mismatched", checks["mismatched"], "records", goal="0",
               met=checks["mismatched"] == 0),
    ]
    return {"figures": figures, "skipped": skipped, "reconcile": checks,
            "errors": dict(mix.errors), "per_kind": per_kind, "total": total,
            "ceiling": ceiling, "drain_errors": dict(outcome["drain"].errors),
            "settings": {"duration_s": duration_s, "devices": devices, "accounts": accounts,
                         "think_ms": think_ms, "baseline_s": baseline_s,
                         "database": database,
                         "vacuums": len(vacuumed), "vacuum_every_s": AUTOVACUUM_EVERY_S}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--devices", type=int)
    parser.add_argument("--accounts", type=int)
    parser.add_argument("--think-ms", type=float, default=0.0)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.quick, args.duration, args.devices, args.accounts, args.think_ms,
                 args.db)
    print_table(result["figures"])
    for name, why in result["skipped"].items():
        print(f"skipped {name}: {why}")
    if result.get("errors"):
        print("errors:", result["errors"])
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
