"""A push service the tests play themselves, browsers' subscriptions to it, and apps."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import make_settings
from tests.push_service import Browser, PushService, new_browser
from tests.sync.conftest import database_url, postgres_url  # noqa: F401  (fixtures)


@pytest.fixture
def subscribe(push_service: PushService) -> Callable[..., Browser]:
    def make(path: str = "/push/") -> Browser:
        return new_browser(push_service, path)
    return make


@pytest.fixture
def make_app_settings(tmp_path: Path, speech_cache: Path,
                      push_service: PushService) -> Callable[..., Settings]:
    def build(url: str | None = None, **overrides: object) -> Settings:
        options: dict[str, object] = {
            "voice_enabled": False, "push_services": [push_service.origin],
            "reminders_enabled": False,  # tests call send_due themselves, at chosen times
            "migrate_on_start": True, **overrides}
        return make_settings(tmp_path / "data", speech_cache, database_url=url, **options)
    return build


@pytest.fixture
def reminders_client(make_app_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_app_settings())) as client:
        yield client
