"""The benchmark scripts still run and still produce figures (tiny sizes, no timing asserts).

The one hard contract checked here is the load test's reconcile: after a burst of mixed
traffic, the server holds exactly what the devices made, 0 lost and 0 duplicated.
"""

import io
import json
import math
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench import api, lighthouse, load, sync
from bench.common import Figure, make_rest, print_table, process_cpu_seconds, write_json
from tests.conftest import IN_CI


def _by_name(figures: list[Figure]) -> dict[str, Figure]:
    return {f"{f.section}: {f.name}": f for f in figures}


def test_load_mix_loses_and_duplicates_nothing() -> None:
    # In a thread of its own: the load test runs its own event loop, and after a browser
    # test Playwright keeps one running in this thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        result = pool.submit(load.run, duration_s=3, devices=4, accounts=2, baseline_s=1,
                             database="sqlite").result()

    checks = result["reconcile"]
    assert checks["expected"] > 0, "the devices made no records: the check would be empty"
    assert (checks["lost"], checks["duplicated"]) == (0, 0)
    assert (checks["unexpected"], checks["mismatched"]) == (0, 0)
    assert result["total"]["requests"] > 0
    assert {"pull", "push"} <= set(result["per_kind"])


def test_reconcile_counts_what_is_wrong() -> None:
    """A negative control: the checker sees a lost, a doubled, a stray and a changed record."""
    device = load.Device(account=0, cookie="c")
    kept, lost, edited = make_rest(), make_rest(), make_rest()
    device.ledger = {kept["id"]: kept, lost["id"]: lost, edited["id"]: edited}
    stray = make_rest()

    def change(rest: dict) -> dict:
        return {"id": rest["id"], "deleted": False, "sync_version": 1, "rest": rest}

    state = [change(kept), change(kept), change(stray), change({**edited, "note": "other"})]
    checks = load.reconcile([device], {0: state})

    assert checks["lost"] == 1
    assert checks["duplicated"] == 1
    assert checks["unexpected"] == 1
    assert checks["mismatched"] == 1


def test_sync_bench_measures_push_and_pull_against_the_floor() -> None:
    result = sync.run(records=100, batch=50, repeats=1, databases=["sqlite"])

    figures = result["figures"]
    assert [f.unit for f in figures] == ["ms", "ms"]
    assert all(f.value > 0 and f.baseline and f.baseline > 0 for f in figures)


@pytest.mark.skipif(shutil.which("wrk") is None and not IN_CI, reason="wrk is not installed")
def test_api_bench_measures_each_endpoint_against_the_ceiling() -> None:
    result = api.run(duration_s=1, repeats=1, databases=["sqlite"], connections=[1],
                     voice=False)

    figures = _by_name(result["figures"])
    ceiling = figures["api sqlite: ceiling (raw ASGI) c1"]
    routines = figures["api sqlite: GET /api/routines c1"]
    assert ceiling.value > 0
    assert routines.value > 0 and routines.baseline == ceiling.value
    assert figures["api sqlite: GET /api/routines c1 p99"].unit == "ms"
    assert figures["api sqlite: errors (non-2xx, socket)"].value == 0
    # The server's CPU per request: some, and under a second for a list of routines.
    cpu = figures["api sqlite: GET /api/routines c1 server CPU per request"]
    assert 0 < cpu.value < 1000 and cpu.baseline is not None and cpu.baseline > 0


def test_cpu_time_is_read_for_a_process_and_is_zero_once_it_has_gone() -> None:
    own = process_cpu_seconds(os.getpid())
    sum(range(10_000_000))  # some CPU of this very process (the clock ticks in 10 ms)
    assert process_cpu_seconds(os.getpid()) > own > 0
    exited = subprocess.Popen(["true"])
    exited.wait()  # reaped: its pid names no process now
    assert process_cpu_seconds(exited.pid) == 0.0


def test_postgres_cpu_counts_a_backend_that_closed_meanwhile() -> None:
    from bench.common import PG_ADMIN_URL, postgres_available, postgres_cpu_seconds

    if not postgres_available():
        if IN_CI:
            pytest.fail("PostgreSQL is required in CI")
        pytest.skip("PostgreSQL is not running")
    import psycopg

    with psycopg.connect(PG_ADMIN_URL) as before_the_window:  # used, then closed within it
        before_the_window.execute("SELECT count(*) FROM generate_series(1, 2000000)")
        start = postgres_cpu_seconds()
        assert start is not None
        before_the_window.execute("SELECT count(*) FROM generate_series(1, 2000000)")
    # Its CPU before the window is not taken off, and its CPU within it is counted.
    time.sleep(0.2)  # the postmaster reaps it
    used = postgres_cpu_seconds()
    assert used is not None and used - start > 0.05


LIGHTHOUSE_READY = lighthouse.missing_tools() is None and lighthouse.lighthouse_bin().exists()


@pytest.mark.skipif(
    not IN_CI and not LIGHTHOUSE_READY,
    reason="Lighthouse is not installed in .bench-cache (python bench/lighthouse.py installs it)",
)
def test_lighthouse_bench_reports_three_scores() -> None:
    result = lighthouse.run(runs=1, voice=False, pages=("app",))

    assert result["skipped"] == {}
    scores = {f.name: f.value for f in result["figures"]}
    assert len(scores) == 3
    assert all(0 <= value <= 100 for value in scores.values())


def test_table_and_json_take_missing_figures(tmp_path: Path) -> None:
    figures = [Figure("s", "stalled p99", math.inf, "ms", 2.0, "ceiling", goal="< 50 ms",
                      met=False),
               Figure("s", "empty", math.nan, "ms")]
    out = io.StringIO()
    print_table(figures, out)
    path = tmp_path / "results.json"
    write_json(path, {"figures": figures})

    assert "stalled p99" in out.getvalue() and "NO" in out.getvalue()
    written = json.loads(path.read_text())["figures"]
    assert written[0]["value"] is None and written[0]["ratio"] is None


def test_a_ratio_just_under_its_goal_is_not_rounded_up_to_it() -> None:
    out = io.StringIO()
    print_table([Figure("s", "reads", 499.0, "req/s", 1000.0, "ceiling", goal=">= 0.5x",
                        met=False)], out)
    assert "0.499x" in out.getvalue() and "0.50x" not in out.getvalue()


def test_lighthouse_runs_again_only_when_it_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes: list[object] = [
        lighthouse.LighthouseFailed("lighthouse exited with 1: Please run Lighthouse again."),
        {"performance": 97.0},
    ]

    def one_run(_url: str) -> object:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(lighthouse, "one_run", one_run)
    assert lighthouse.scores("http://app") == {"performance": 97.0}

    outcomes[:] = [lighthouse.LighthouseFailed("lighthouse exited with 1: Unable to connect")]
    with pytest.raises(lighthouse.LighthouseFailed, match="Unable to connect"):
        lighthouse.scores("http://app")


def test_without_autovacuum_the_benchmark_vacuums_as_it_would() -> None:
    from bench.common import (
        autovacuum_is_off,
        fresh_database,
        libpq_url,
        postgres_available,
        vacuumed_as_autovacuum_would,
    )

    if not postgres_available():
        if IN_CI:
            pytest.fail("PostgreSQL is required in CI")
        pytest.skip("PostgreSQL is not running")
    import psycopg

    def last_vacuums(plain_url: str) -> set[str]:
        with psycopg.connect(plain_url, autocommit=True) as conn:
            rows = conn.execute("SELECT relname FROM pg_stat_user_tables "
                                "WHERE last_vacuum IS NOT NULL").fetchall()
        return {name for name, in rows}

    with fresh_database("postgres") as url:
        assert url is not None
        plain_url = libpq_url(url)
        off = autovacuum_is_off(url)
        with vacuumed_as_autovacuum_would(url, every_s=0.2) as vacuumed:
            time.sleep(1.5)  # several turns of the vacuumer
        assert (len(vacuumed) >= 2) == off  # a server with autovacuum keeps its own
        assert ("rest" in last_vacuums(plain_url)) == off
