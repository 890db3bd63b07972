"""The operator hears at start-up when PostgreSQL runs without autovacuum."""

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator

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


class _ComingUp:
    """An engine whose database is out of reach for its first `down_for` connections."""

    def __init__(self, down_for: int, then: "_Server") -> None:
        self.down_for, self.then, self.tries = down_for, then, 0

    def connect(self) -> contextlib.AbstractContextManager["_Server"]:
        self.tries += 1
        if self.tries <= self.down_for:
            raise ConnectionRefusedError("not up yet")
        return self.then.connect()


def test_a_database_that_comes_up_after_the_app_is_asked_again(
        caplog: pytest.LogCaptureFixture) -> None:
    coming_up = _ComingUp(2, _Server("off"))
    with caplog.at_level(logging.WARNING, logger="app.db"):
        warn_if_autovacuum_is_off(coming_up, retry_every_s=0.01)  # type: ignore[arg-type]
    assert coming_up.tries == 3 and warned(caplog)


class _Server:
    """An engine whose server answers `SHOW autovacuum` with `setting`."""

    def __init__(self, setting: str) -> None:
        self.setting = setting

    @contextlib.contextmanager
    def connect(self) -> Iterator["_Server"]:
        yield self

    def exec_driver_sql(self, sql: str) -> "_Server":
        assert sql == "SHOW autovacuum"
        return self

    def scalar(self) -> str:
        return self.setting


@pytest.mark.parametrize(("setting", "warns"), [("off", True), ("on", False)])
def test_only_a_server_without_autovacuum_is_warned_of(
        setting: str, warns: bool, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="app.db"):
        warn_if_autovacuum_is_off(_Server(setting))  # type: ignore[arg-type]
    assert warned(caplog) == warns


def test_the_app_checks_as_it_starts(postgres_url: str,  # noqa: F811
                                     make_app_settings: Callable[..., Settings],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    checked = threading.Event()
    monkeypatch.setattr("app.main.warn_if_autovacuum_is_off",
                        lambda _engine, retry_every_s: checked.set())
    with TestClient(create_app(make_app_settings(database_url=postgres_url))) as client:
        assert client.get("/api/health").status_code == 200
        assert checked.wait(5)  # on a thread of its own
