"""Fast apps (no voice) and a reader of the /metrics text."""

import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.main import create_app
from app.observability.logging import configure_logging
from tests.conftest import make_settings


@pytest.fixture
def make_app_settings(tmp_path: Path, speech_cache: Path) -> Callable[..., Settings]:
    def build(**overrides: object) -> Settings:
        overrides.setdefault("voice_enabled", False)
        return make_settings(tmp_path / "data", speech_cache, **overrides)

    return build


@pytest.fixture
def obs_client(make_app_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_app_settings())) as client:
        yield client


@pytest.fixture
def json_log(make_app_settings: Callable[..., Settings],
             obs_client: TestClient) -> Iterator[io.StringIO]:
    """What the app's own log handler writes, as JSON lines, while `obs_client` is used.

    Installed after the app exists, because create_app() installs the handler afresh."""
    stream = io.StringIO()
    settings = make_app_settings(log_json=True)
    configure_logging(settings, stream)
    try:
        yield stream
    finally:
        configure_logging(settings)
        logging.getLogger().setLevel(logging.WARNING)


def metric_value(client: TestClient, name: str, **labels: str) -> float:
    """The value of one sample of GET /metrics (0 when it is not there yet)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0
