"""Real-browser tests: Playwright driving Debian's Chromium against a real server process."""

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if Path(CHROMIUM).exists():
        return
    if IN_CI:
        raise pytest.UsageError("Chromium is required in CI (apt-get install chromium)")
    skip = pytest.mark.skip(reason="Debian's chromium is not installed")
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {
        **browser_context_args,
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
        "service_workers": "allow",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A uvicorn process serving the app; can be stopped and started again (same data)."""

    data_dir: Path
    speech_cache: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
        env.update(
            DATA_DIR=str(self.data_dir),
            SPEECH_CACHE_DIR=str(self.speech_cache),
            ENVIRONMENT="test",
            **(extra_env or {}),
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the app server exited during start-up")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the app server did not become healthy in 30 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def _start_server(data_dir: Path, speech_cache: Path) -> LiveServer:
    server = LiveServer(data_dir, speech_cache, free_port())
    server.start()
    return server


@pytest.fixture(scope="session")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, speech_cache: Path
) -> Iterator[LiveServer]:
    """One server for the browser tests that only read; tests that restart use fresh_server."""
    server = _start_server(tmp_path_factory.mktemp("live-data"), speech_cache)
    yield server
    server.stop()


@pytest.fixture
def fresh_server(tmp_path: Path, speech_cache: Path) -> Iterator[LiveServer]:
    server = _start_server(tmp_path / "data", speech_cache)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Screenshots land here for a reviewer to look at (ignored by git)."""
    path = ARTIFACTS / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
