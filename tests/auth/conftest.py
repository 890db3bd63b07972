from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import make_settings
from tests.sync.conftest import database_url, postgres_url  # noqa: F401  (fixtures)


@pytest.fixture
def make_app_settings(tmp_path: Path, speech_cache: Path) -> Callable[..., Settings]:
    def build(**overrides: object) -> Settings:
        return make_settings(tmp_path / "data", speech_cache, voice_enabled=False, **overrides)
    return build


@pytest.fixture
def auth_client(make_app_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_app_settings())) as client:
        yield client


@pytest.fixture
def auth_client_on_any_db(make_app_settings: Callable[..., Settings],
                          database_url: str | None) -> Iterator[TestClient]:  # noqa: F811
    """The app on SQLite and on PostgreSQL. A failure a test injects on the server is
    answered 500, as a client would see it."""
    settings = make_app_settings(database_url=database_url, migrate_on_start=True)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client
