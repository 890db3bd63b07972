"""Shared pieces of the benchmarks: server processes, databases, accounts, records, figures.

Not a script. The servers run `bench.server:app` (the real app plus the ceiling endpoint)
in a separate uvicorn process with one worker, pinned to core 0 when the machine allows,
while the load generator runs on core 1, so the two do not fight over one core.
"""

import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from app.server_protocol import SERVER_PROTOCOL

ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = ROOT / ".bench-cache"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
CSRF_HEADERS = {"X-Requested-With": "rest-guide"}
SERVER_CORE, CLIENT_CORE = 0, 1


# -- figures -----------------------------------------------------------------------------

@dataclass
class Figure:
    """One measured figure next to its same-run baseline (the ceiling or the floor)."""

    section: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    goal: str = ""
    met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0) or self.value is None:
            return None
        return self.value / self.baseline  # type: ignore[operator]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def _plain(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, Figure):
        return _plain(value.as_dict())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def write_json(path: Path, result: dict) -> None:
    path.write_text(json.dumps(_plain(result), indent=2, allow_nan=False) + "\n")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); no interpolation, so it is a value seen."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def print_table(figures: list[Figure], out: Any = None) -> None:
    """One table: figure, value, baseline, ratio, goal and whether it is met."""
    out = out or sys.stdout
    headers = ("section", "figure", "value", "unit", "baseline", "ratio", "goal", "met")
    rows = [(
        f.section, f.name, _fmt(f.value), f.unit,
        f"{_fmt(f.baseline)} {f.baseline_name}".strip() if f.baseline is not None else "",
        # Three significant digits: 0.499x of a 0.5x goal must not read as 0.50x.
        f"{f.ratio:.3g}x" if f.ratio is not None else "",
        f.goal, {True: "yes", False: "NO", None: ""}[f.met],
    ) for f in figures]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    right = {2, 4, 5}
    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()
    print(line(headers), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print(line(row), file=out)


# -- cores -------------------------------------------------------------------------------

def can_pin() -> bool:
    """True when this process may use cores 0 and 1 (and taskset exists)."""
    try:
        allowed = os.sched_getaffinity(0)
    except AttributeError:
        return False
    return {SERVER_CORE, CLIENT_CORE} <= allowed and shutil.which("taskset") is not None


def pinned(command: list[str], core: int) -> list[str]:
    return ["taskset", "-c", str(core), *command] if can_pin() else command


@contextlib.contextmanager
def on_client_core() -> Iterator[None]:
    """Run this process (the load generator) on the client core, then restore."""
    if not can_pin():
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {CLIENT_CORE})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# -- servers -----------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # the unit of /proc's CPU times


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command's name (which may hold spaces),
    or None once the process has gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far, from /proc (every thread's); 0 once it
    has gone. CPU time holds still where throughput moves with a busy, shared machine."""
    fields = _proc_stat(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def postgres_cpu_seconds() -> float | None:
    """CPU time of the PostgreSQL servers on this machine so far (None: none runs here):
    the processes alive, and those gone (backends closed, autovacuum workers done), which
    their postmaster counts once it has reaped them. Machine-wide: on a machine whose
    server also serves others, their work counts too."""
    processes: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    fields = _proc_stat(int(entry.name))
                    if fields is not None:
                        processes[int(entry.name)] = fields
    if not processes:
        return None
    ticks = 0
    for fields in processes.values():
        ticks += int(fields[11]) + int(fields[12])
        if int(fields[1]) not in processes:  # a postmaster: its children's, reaped
            ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BenchServer:
    """A real uvicorn process (one worker) serving `bench.server:app`."""

    data_dir: Path
    database_url: str | None = None
    voice: bool = True
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        CACHE_DIR.mkdir(exist_ok=True)
        env = {
            **os.environ,
            # Production settings: what operators run (secure cookies, no test shortcuts).
            "ENVIRONMENT": "production",
            "DATA_DIR": str(self.data_dir),
            "SPEECH_CACHE_DIR": str(CACHE_DIR / "speech"),
            "VOICE_ENABLED": "true" if self.voice else "false",
            **self.env,
        }
        env.pop("DATABASE_URL", None)
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        command = [sys.executable, "-m", "uvicorn", "bench.server:app", "--host", "127.0.0.1",
                   "--port", str(self.port), "--workers", "1", "--log-level", "warning",
                   "--no-access-log", "--http", SERVER_PROTOCOL]
        # The server's own output goes to a file: tracebacks under load would drown the table.
        (CACHE_DIR / "logs").mkdir(exist_ok=True)
        self.log_path = CACHE_DIR / "logs" / f"server-{self.port}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(pinned(command, SERVER_CORE), cwd=ROOT, env=env,
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the benchmark server exited during start-up")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the benchmark server did not become healthy in 60 s")

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far, every thread's (Linux)."""
        assert self.process is not None
        return process_cpu_seconds(self.process.pid)

    def server_errors(self) -> int:
        """5xx answers and unhandled exceptions the server logged so far.

        Counted both ways (the app's JSON access log, uvicorn's traceback line) and the
        larger taken, since one failure may show up in either or both."""
        if self.log_path is None or not self.log_path.exists():
            return 0
        text = self.log_path.read_text(errors="replace")
        answered = len(re.findall(r'"status": ?5\d\d\b', text))  # orjson writes no space
        return max(answered, text.count("Exception in ASGI application"))

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.log_path and self.log_path.exists() and not self.server_errors():
            self.log_path.unlink()  # kept only when it holds errors worth reading


@contextlib.contextmanager
def running_server(database_url: str | None, voice: bool = True,
                   env: dict[str, str] | None = None) -> Iterator[BenchServer]:
    """A started server on a temp data dir (SQLite there when `database_url` is None)."""
    with tempfile.TemporaryDirectory(prefix="crg-bench-") as tmp:
        server = BenchServer(Path(tmp) / "data", database_url, voice, env=env or {})
        server.start()
        try:
            yield server
        finally:
            server.stop()


# -- databases ---------------------------------------------------------------------------

def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3):
            return True
    except Exception:
        return False


@contextlib.contextmanager
def fresh_database(kind: str) -> Iterator[str | None]:
    """None for SQLite (the server makes its own file); a migrated, throw-away PostgreSQL
    database otherwise, dropped afterwards."""
    if kind == "sqlite":
        yield None
        return
    import psycopg

    from app.migrate import upgrade_to_head

    name = f"crg_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{base}/{name}"
    try:
        upgrade_to_head(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def libpq_url(database_url: str) -> str:
    """The app's SQLAlchemy URL as psycopg connects to it directly."""
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


AUTOVACUUM_EVERY_S = 30.0  # as often as autovacuum, with its default 1 min naptime, at most


def autovacuum_is_off(database_url: str | None) -> bool:
    """Whether the PostgreSQL server runs without autovacuum (some test servers do)."""
    if database_url is None:
        return False
    import psycopg

    plain_url = libpq_url(database_url)
    with psycopg.connect(plain_url, autocommit=True, connect_timeout=3) as conn:
        row = conn.execute("SHOW autovacuum").fetchone()
    return row is not None and row[0] == "off"


@contextlib.contextmanager
def vacuumed_as_autovacuum_would(database_url: str | None,
                                 every_s: float = AUTOVACUUM_EVERY_S) -> Iterator[list[float]]:
    """On a PostgreSQL server without autovacuum, VACUUM (ANALYZE) the database every
    `every_s` while the block runs, as autovacuum keeps a live database. Yields the list
    of when each vacuum ended (empty where none ran); a vacuum's failure is raised once
    the block ends. Without them, edits and deletes leave dead rows that every later pull
    wades through: the load test's mix lost a third of its rate within 150 s."""
    done: list[float] = []
    if not autovacuum_is_off(database_url):
        yield done
        return
    import threading

    import psycopg

    assert database_url is not None
    plain_url = libpq_url(database_url)
    stop = threading.Event()
    failures: list[BaseException] = []

    def vacuum_until_stopped() -> None:
        try:
            with psycopg.connect(plain_url, autocommit=True, connect_timeout=3) as conn:
                while not stop.wait(every_s):
                    conn.execute("VACUUM (ANALYZE)")
                    done.append(time.monotonic())
        except BaseException as error:  # noqa: BLE001  (raised in the caller's thread)
            failures.append(error)

    vacuumer = threading.Thread(target=vacuum_until_stopped, name="bench-vacuum", daemon=True)
    vacuumer.start()
    try:
        yield done
    finally:
        stop.set()
        vacuumer.join()
    if failures:
        raise failures[0]


def analyze(database_url: str | None) -> None:
    """Gather PostgreSQL's table statistics, as autovacuum does on a live database once a
    table has changed by a tenth. A throw-away database measured at once would still have
    none: the planner then guesses, and as an account's rows grow it may look up a push's
    rests through the index of versions (every row of the account) rather than by key."""
    if database_url is None:
        return  # SQLite plans without statistics: keys and indexes as declared
    import psycopg

    plain_url = libpq_url(database_url)
    with psycopg.connect(plain_url, autocommit=True, connect_timeout=3) as conn:
        conn.execute("ANALYZE")


def database_kinds(requested: list[str]) -> tuple[list[str], dict[str, str]]:
    """The kinds that can run here, and why the others were skipped."""
    kinds, skipped = [], {}
    for kind in requested:
        if kind == "postgres" and not postgres_available():
            skipped[kind] = f"PostgreSQL not reachable at {PG_ADMIN_URL}"
        else:
            kinds.append(kind)
    return kinds, skipped


def sqlite_url_of(server: BenchServer) -> str:
    return f"sqlite:///{(server.data_dir / 'rest.db').resolve()}"


# -- accounts and records ----------------------------------------------------------------

def session_cookie(response: httpx.Response) -> str:
    """`name=value` of the session cookie, read from Set-Cookie directly: the production
    cookie is `Secure`, which a client cookie jar would not send back over plain http."""
    for header in response.headers.get_list("set-cookie"):
        pair = header.split(";", 1)[0].strip()
        if "session" in pair.split("=", 1)[0]:
            return pair
    raise RuntimeError("no session cookie in the answer")


def register(base_url: str, email: str | None = None,
             password: str = "bench-password-1") -> tuple[str, str]:
    """A new account; returns (email, cookie)."""
    email = email or f"bench-{uuid.uuid4().hex[:12]}@example.com"
    response = httpx.post(f"{base_url}/api/auth/register", headers=CSRF_HEADERS,
                          json={"email": email, "password": password}, timeout=30)
    response.raise_for_status()
    return email, session_cookie(response)


def login(base_url: str, email: str, password: str = "bench-password-1") -> str:
    response = httpx.post(f"{base_url}/api/auth/login", headers=CSRF_HEADERS,
                          json={"email": email, "password": password}, timeout=30)
    response.raise_for_status()
    return session_cookie(response)


def iso(moment: datetime) -> str:
    """JavaScript's Date.toISOString() format, as devices send it."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def make_rest(rest_id: str | None = None, note: str = "", hours_ago: float = 2.0) -> dict:
    """A valid rest record as a device stores it."""
    started = (datetime.now(UTC) - timedelta(hours=hours_ago)).replace(microsecond=250_000)
    return {
        "id": rest_id or str(uuid.uuid4()),
        "routine_id": "classic",
        "title": "Classic constructive rest",
        "minutes": 15,
        "cue_density": "guided",
        "prep_s": 30,
        "version": "bench0000000000",
        "started_at": iso(started),
        "ended_at": iso(started + timedelta(minutes=15, seconds=30)),
        "time_zone": "Europe/Paris",
        "planned_s": 930,
        "actual_s": 930,
        "completed": True,
        "before_rating": 6,
        "after_rating": 3,
        "note": note,
        "updated_at": iso(started + timedelta(minutes=16)),
    }


def put(seq: int, rest: dict) -> dict:
    return {"seq": seq, "op": "put", "id": rest["id"], "rest": rest}


def delete(seq: int, rest_id: str) -> dict:
    return {"seq": seq, "op": "delete", "id": rest_id}
