"""Sync in bulk: a 500-mutation push and a full pull of 5,000 records, next to the floor.

    python bench/sync.py [--quick] [--records 5000] [--batch 500] [--repeats 5]
                         [--db sqlite postgres] [--json out.json]

Against a real server process (`bench.server:app`, production settings) on each database:
- push: one batch of `batch` new rests (one POST /api/sync/push, timed end to end over
  HTTP), repeated until the account holds `records` rests; median per batch;
- pull: a new device pulls everything from scratch (since=0, following `has_more` pages
  at the server's page size), repeated `repeats` times; median. Timed from request to
  the last byte of each answer, not the client's parsing of it.
The floor, measured in the same run on the same database and table: a SQLAlchemy Core
executemany INSERT of the same number of rows in one transaction (for another account),
and a SELECT of the same rows. Goal: each within 3x of its floor.
"""

import argparse
import json
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlmodel import col

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings  # noqa: E402
from app.db import make_engine  # noqa: E402
from app.models import Rest, User  # noqa: E402
from bench.common import (  # noqa: E402
    CSRF_HEADERS,
    BenchServer,
    Figure,
    database_kinds,
    fresh_database,
    make_rest,
    median,
    print_table,
    put,
    register,
    running_server,
    sqlite_url_of,
    write_json,
)

GOAL_RATIO = 3.0
REST_TABLE = Rest.__table__  # type: ignore[attr-defined]
DATETIME_FIELDS = ("started_at", "ended_at", "updated_at")


def _engine_for(server: BenchServer, database_url: str | None) -> Engine:
    """An engine configured exactly as the app's (SQLite pragmas included)."""
    url = database_url or sqlite_url_of(server)
    return make_engine(Settings(database_url=url, data_dir=server.data_dir))


def _user_id(engine: Engine, email: str) -> int:
    with engine.connect() as conn:
        user_id = conn.scalar(select(col(User.id)).where(col(User.email) == email))
    assert user_id is not None, f"{email} has no account"
    return int(user_id)


def _row(user_id: int, rest: dict, version: int) -> dict:
    row = {k: (datetime.fromisoformat(v) if k in DATETIME_FIELDS else v)
           for k, v in rest.items()}
    return {**row, "user_id": user_id, "deleted": False, "sync_version": version,
            "created_at": datetime.now().astimezone()}


def floor_insert(engine: Engine, user_id: int, rests: list[dict], first_version: int) -> float:
    """One transaction, one executemany INSERT of the rows: the least a push can cost."""
    rows = [_row(user_id, rest, first_version + i) for i, rest in enumerate(rests)]
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(REST_TABLE), rows)
    return time.perf_counter() - started


def floor_select(engine: Engine, user_id: int) -> tuple[float, int]:
    """Every row of the account in version order: the least a full pull can cost."""
    started = time.perf_counter()
    with engine.connect() as conn:
        rows = conn.execute(select(REST_TABLE).where(REST_TABLE.c.user_id == user_id)
                            .order_by(REST_TABLE.c.sync_version)).all()
    return time.perf_counter() - started, len(rows)


def push_batch(client: httpx.Client, cookie: str, rests: list[dict]) -> float:
    body = {"client_id": str(uuid.uuid4()),
            "mutations": [put(i + 1, rest) for i, rest in enumerate(rests)]}
    # Encoded before the clock starts, as the floor's rows are built before it starts.
    content = json.dumps(body).encode()
    started = time.perf_counter()
    response = client.post("/api/sync/push", content=content,
                           headers={**CSRF_HEADERS, "Cookie": cookie,
                                    "Content-Type": "application/json"})
    took = time.perf_counter() - started
    response.raise_for_status()
    applied = sum(1 for r in response.json()["results"] if r["status"] == "applied")
    if applied != len(rests):
        raise RuntimeError(f"push applied {applied} of {len(rests)} mutations")
    return took


def full_pull(client: httpx.Client, cookie: str) -> tuple[float, int, int]:
    """A new device's first pull, page after page; returns (seconds, records, pages)."""
    device = str(uuid.uuid4())
    since, records, pages, took = 0, 0, 0, 0.0
    while True:
        started = time.perf_counter()
        response = client.get("/api/sync/pull", params={"since": since, "client_id": device},
                              headers={"Cookie": cookie})
        # Timed to the last byte received; the client's own parsing of the answer is not
        # the server's cost (the floor does not include using the rows either).
        took += time.perf_counter() - started
        response.raise_for_status()
        page = response.json()
        records += len(page["changes"])
        pages += 1
        since = page["cookie"]
        if not page["has_more"]:
            break
    return took, records, pages


def measure(kind: str, records: int, batch: int, repeats: int, voice: bool) -> list[Figure]:
    section = f"sync {kind}"
    with fresh_database(kind) as url, running_server(url, voice=voice) as server:
        engine = _engine_for(server, url)
        try:
            email, cookie = register(server.url)
            floor_email, _ = register(server.url)
            floor_user = _user_id(engine, floor_email)
            pushes, inserts = [], []
            with httpx.Client(base_url=server.url, timeout=300) as client:
                for round_no in range(max(1, records // batch)):
                    rests = [make_rest() for _ in range(batch)]
                    pushes.append(push_batch(client, cookie, rests))
                    # Same rows (new ids: the key is per account) for the floor's account.
                    copies = [{**rest, "id": str(uuid.uuid4())} for rest in rests]
                    inserts.append(floor_insert(engine, floor_user, copies,
                                                round_no * batch + 1))
                user_id = _user_id(engine, email)
                pulls, selects = [], []
                for _ in range(repeats):
                    took, got, pages = full_pull(client, cookie)
                    pulls.append(took)
                    took_floor, got_floor = floor_select(engine, user_id)
                    selects.append(took_floor)
                    if got != got_floor:
                        raise RuntimeError(f"pull returned {got} records, the table {got_floor}")
        finally:
            engine.dispose()
    push_ms, insert_ms = median(pushes) * 1000, median(inserts) * 1000
    pull_ms, select_ms = median(pulls) * 1000, median(selects) * 1000
    return [
        Figure(section, f"push {batch} mutations, one batch", push_ms, "ms", insert_ms,
               "executemany insert", goal=f"<= {GOAL_RATIO:.0f}x",
               met=push_ms <= GOAL_RATIO * insert_ms, extra={"samples": len(pushes)}),
        Figure(section, f"full pull of {got} records ({pages} pages)", pull_ms, "ms",
               select_ms, "select", goal=f"<= {GOAL_RATIO:.0f}x",
               met=pull_ms <= GOAL_RATIO * select_ms, extra={"samples": len(pulls)}),
    ]


def run(quick: bool = False, records: int | None = None, batch: int = 500,
        repeats: int | None = None, databases: list[str] | None = None,
        voice: bool = False) -> dict:
    records = records or (1000 if quick else 5000)
    repeats = repeats or (3 if quick else 7)
    kinds, skipped = database_kinds(databases or ["sqlite", "postgres"])
    figures: list[Figure] = []
    for kind in kinds:
        figures += measure(kind, records, batch, repeats, voice)
    return {"figures": figures, "skipped": skipped,
            "settings": {"records": records, "batch": batch, "repeats": repeats}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--records", type=int)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--db", nargs="+", choices=["sqlite", "postgres"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.quick, args.records, args.batch, args.repeats, args.db)
    print_table(result["figures"])
    for name, why in result["skipped"].items():
        print(f"skipped {name}: {why}")
    print(f"goal: push and full pull within {GOAL_RATIO:.0f}x of the floor")
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
