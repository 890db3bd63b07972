import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient

from app.config import APP_VERSION
from app.main import create_app
from tests.conftest import IN_CI
from tests.sync.conftest import postgres_url  # noqa: F401  (fixture)

DEAD_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/x"
DEAD_REDIS = "redis://127.0.0.1:1/0"
LIVE_REDIS = "redis://127.0.0.1:6379/0"


def redis_running() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


class TestReady:
    def test_ready_with_the_database(self, obs_client):
        response = obs_client.get("/api/ready")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok" and body["version"] == APP_VERSION
        assert body["checks"]["database"]["ok"] is True
        assert body["checks"]["database"]["latency_ms"] >= 0
        assert "redis" not in body["checks"]  # not configured, not checked

    def test_an_unreachable_database_is_named(self, make_app_settings):
        settings = make_app_settings(database_url=DEAD_POSTGRES, migrate_on_start=False)
        with TestClient(create_app(settings)) as client:
            ready = client.get("/api/ready")
            health = client.get("/api/health")
        assert ready.status_code == 503
        body = ready.json()
        assert body["error"] == "NOT_READY"
        assert "database" in body["detail"]
        assert body["checks"]["database"]["ok"] is False
        assert "127.0.0.1" not in ready.text  # driver messages stay in the log
        assert health.status_code == 503
        assert health.json()["error"] == "DATABASE_UNAVAILABLE"

    def test_a_database_without_migrations_is_not_ready(self, make_app_settings):
        with TestClient(create_app(make_app_settings(migrate_on_start=False))) as client:
            response = client.get("/api/ready")
        assert response.status_code == 503
        assert "alembic upgrade head" in response.json()["checks"]["database"]["error"]

    def test_an_unreachable_redis_is_named(self, make_app_settings):
        with TestClient(create_app(make_app_settings(redis_url=DEAD_REDIS))) as client:
            response = client.get("/api/ready")
        assert response.status_code == 503
        body = response.json()
        assert "redis" in body["detail"] and "database" not in body["detail"]
        assert body["checks"]["redis"]["ok"] is False
        assert body["checks"]["database"]["ok"] is True

    def test_a_hanging_redis_holds_up_no_other_request(self, make_app_settings):
        # A "Redis" that takes connections and never answers: the ping waits out its timeout.
        with socket.create_server(("127.0.0.1", 0)) as mute:
            mute_url = f"redis://127.0.0.1:{mute.getsockname()[1]}/0"
            finished: list[str] = []
            with TestClient(create_app(make_app_settings(redis_url=mute_url))) as client:

                def ask(path: str) -> None:
                    client.get(path)
                    finished.append(path)

                probe = threading.Thread(target=ask, args=("/api/ready",))
                probe.start()
                time.sleep(0.3)  # the readiness probe is waiting on the mute Redis by now
                ask("/api/health")
                probe.join()
        assert finished == ["/api/health", "/api/ready"]

    def test_ready_with_a_live_redis(self, make_app_settings):
        if not redis_running():
            if IN_CI:
                pytest.fail("Redis is required in CI at 127.0.0.1:6379")
            pytest.skip("Redis is not running")
        with TestClient(create_app(make_app_settings(redis_url=LIVE_REDIS))) as client:
            response = client.get("/api/ready")
        assert response.status_code == 200
        assert response.json()["checks"]["redis"]["ok"] is True


class TestReadyUnderLoad:
    @pytest.mark.parametrize("database", ["sqlite", "postgres"])
    def test_ready_while_requests_hold_every_connection(self, make_app_settings, database,
                                                        request) -> None:
        # A busy instance must still answer its load balancer: the probe has a connection
        # of its own, where it would otherwise wait for a request to give one back.
        url = request.getfixturevalue("postgres_url") if database == "postgres" else None
        settings = make_app_settings(database_url=url, migrate_on_start=True)
        with TestClient(create_app(settings)) as client:
            engine = client.app.state.engine  # type: ignore[attr-defined]
            held = [engine.connect() for _ in range(settings.db_connections)]
            try:
                response = client.get("/api/ready")
            finally:
                for connection in held:
                    connection.close()
        assert response.status_code == 200, response.text
        assert response.json()["checks"]["database"]["ok"] is True
