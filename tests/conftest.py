import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.push_service import PushService, running_push_service

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def speech_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthesised lines are shared by the whole run: each line is spoken once."""
    return tmp_path_factory.mktemp("speech")


def make_settings(data_dir: Path, speech_cache: Path, **overrides: object) -> Settings:
    # The machine's own DATABASE_URL or REDIS_URL must not leak into isolated tests.
    isolated: dict[str, object] = {"database_url": None, "redis_url": None}
    return Settings(
        environment="test",
        data_dir=data_dir,
        SPEECH_CACHE_DIR=speech_cache,
        **(isolated | overrides),  # type: ignore[arg-type]
    )


@pytest.fixture
def settings(tmp_path: Path, speech_cache: Path) -> Settings:
    return make_settings(tmp_path / "data", speech_cache)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def shared_client(
    tmp_path_factory: pytest.TempPathFactory, speech_cache: Path
) -> Iterator[TestClient]:
    """One app for a whole module, so rendered sessions are reused between its tests."""
    settings = make_settings(tmp_path_factory.mktemp("data"), speech_cache)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def push_service() -> Iterator[PushService]:
    """A Web Push service the test plays (tests/push_service.py)."""
    with running_push_service() as service:
        yield service
