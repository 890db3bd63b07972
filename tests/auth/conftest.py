from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import make_settings


@pytest.fixture
def make_app_settings(tmp_path: Path, speech_cache: Path) -> Callable[..., Settings]:
    def build(**overrides: object) -> Settings:
        return make_settings(tmp_path / "data", speech_cache, voice_enabled=False, **overrides)
    return build


@pytest.fixture
def auth_client(make_app_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_app_settings())) as client:
        yield client
