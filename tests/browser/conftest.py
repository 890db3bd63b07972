"""Real-browser tests: Playwright driving Debian's Chromium against a real server process."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.server_process import ROOT, LiveServer, free_port

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

