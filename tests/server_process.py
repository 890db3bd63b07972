"""The app in a real uvicorn process, for tests that need one: browsers, faults, outages."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.server_protocol import SERVER_PROTOCOL

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 30
# A stop waits this long before it kills. A page's first visit starts rendering the
# default session; a process cannot exit until its encoder threads finish, which takes
# longer than any test wants to wait, and no test reads what a render leaves behind.
STOP_GRACE_S = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(
    base_url: str, within_s: float = 15, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Until /api/health answers 200; fails early if the server process has exited."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError("the app server exited during start-up")
        try:
            if httpx.get(f"{base_url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"/api/health did not answer 200 within {within_s} s")


@dataclass
class AppServer:
    """A uvicorn process serving the app; it can be stopped, killed and started again on
    the same data. The machine's DATABASE_URL and REDIS_URL never leak in: `env` says all."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    quiet: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        if extra_env:
            self.env = {**self.env, **extra_env}
        # Another process may take the port while this one is down: then take a new one
        # (callers read `url` after every start).
        for _ in range(3):
            try:
                self._start_once()
                return
            except RuntimeError:
                self.kill()
                self.port = free_port()
        self._start_once()

    def _start_once(self) -> None:
        inherited = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        output = subprocess.DEVNULL if self.quiet else None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", "--http", SERVER_PROTOCOL],
            cwd=ROOT, env={**inherited, "ENVIRONMENT": "test", **self.env},
            stdout=output, stderr=output,
        )
        wait_healthy(self.url, START_TIMEOUT_S, self.process)

    def stop(self) -> None:
        """A graceful stop; a kill if it does not come."""
        if self.alive:
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as when a worker is lost mid-request."""
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        """A crash and a new start: in-flight requests are cut."""
        self.kill()
        self.start()


class LiveServer(AppServer):
    """The app on its own data directory, sharing the run's synthesised speech."""

    def __init__(self, data_dir: Path, speech_cache: Path, port: int | None = None) -> None:
        super().__init__(
            {"DATA_DIR": str(data_dir), "SPEECH_CACHE_DIR": str(speech_cache)},
            port if port is not None else free_port(),
        )
        self.data_dir = data_dir
        self.speech_cache = speech_cache
