from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.pwa.precache import WEB_DIR
from app.pwa.router import mount_pwa
from app.security import add_security_headers


def pwa_app(web_dir: Path = WEB_DIR, build: str = "") -> FastAPI:
    """Only the web-app half: shell, worker, manifest and static files, with the headers."""
    app = FastAPI()
    mount_pwa(app, web_dir=web_dir, build=build)
    add_security_headers(app)
    return app


@pytest.fixture
def web_client() -> Iterator[TestClient]:
    with TestClient(pwa_app()) as client:
        yield client
