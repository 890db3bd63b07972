"""The operator hears at start-up when PostgreSQL runs without autovacuum."""

import logging
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from app.config import Settings
from app.db import warn_if_autovacuum_is_off
from app.main import create_app
from tests.sync.conftest import postgres_url  # noqa: F401  (fixture)

WARNING = "autovacuum off"


def server_autovacuum_is_off(url: str) -> bool:
    with create_engine(url).connect() as connection:
        return bool(connection.exec_driver_sql("SHOW autovacuum").scalar() == "off")


def warned(caplog: pytest.LogCaptureFixture) -> bool:
    return any(WARNING in record.getMessage() and record.levelno == logging.WARNING
               for record in caplog.records)


def test_the_warning_follows_the_servers_setting(postgres_url: str,  # noqa: F811
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="app.db"):
        warn_if_autovacuum_is_off(create_engine(postgres_url))
    assert warned(caplog) == server_autovacuum_is_off(postgres_url)


def test_a_database_out_of_reach_at_start_up_is_left_to_the_readiness_check(
        caplog: pytest.LogCaptureFixture) -> None:
    unreachable = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/test")
    with caplog.at_level(logging.WARNING, logger="app.db"):
        warn_if_autovacuum_is_off(unreachable)  # no error: the app starts all the same
    assert not warned(caplog)


def test_the_app_checks_as_it_starts(postgres_url: str,  # noqa: F811
                                     make_app_settings: Callable[..., Settings],
                                     caplog: pytest.LogCaptureFixture) -> None:
    off = server_autovacuum_is_off(postgres_url)
    with caplog.at_level(logging.WARNING, logger="app.db"), \
            TestClient(create_app(make_app_settings(database_url=postgres_url))) as client:
        assert client.get("/api/health").status_code == 200
        deadline = time.monotonic() + 5
        while off and not warned(caplog) and time.monotonic() < deadline:
            time.sleep(0.05)  # the check runs on a thread of its own
        assert warned(caplog) == off
