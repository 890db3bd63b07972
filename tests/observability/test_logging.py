import io
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.observability.batched_handler import BatchedStreamHandler, sole_batched_handler
from app.observability.logging import AccessLine, JsonFormatter, log_access, request_id_var
from app.server_protocol import SERVER_PROTOCOL
from tests.auth.helpers import CSRF, PASSWORD, sign_up
from tests.server_process import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
LOG_CONFIG = ROOT / "app" / "observability" / "uvicorn_logging.json"


def lines(stream) -> list[dict]:
    """The server's lines; the test's own HTTP client (httpx or httpx2) logs the URLs it calls."""
    entries = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [entry for entry in entries if not entry["logger"].startswith("httpx")]


def server_text(stream) -> str:
    return "\n".join(json.dumps(entry) for entry in lines(stream))


def access_lines(stream) -> list[dict]:
    return [line for line in lines(stream) if line["logger"] == "app.access"]


class TestAccessLog:
    def test_one_json_line_per_request_with_its_facts(self, obs_client, json_log):
        obs_client.get("/api/routines/no-such-routine/session?minutes=5",
                       headers={"X-Request-ID": "req-one"})
        (line,) = access_lines(json_log)
        assert line["request_id"] == "req-one"
        assert line["method"] == "GET"
        assert line["route"] == "/api/routines/{routine_id}/session"
        assert line["path"] == "/api/routines/no-such-routine/session"
        assert line["status"] == 404
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
        assert line["level"] == "INFO"

    def test_the_query_string_is_not_logged(self, obs_client, json_log):
        obs_client.get("/api/routines?token=abc123secret")
        assert "abc123secret" not in server_text(json_log)

    def test_a_denial_is_a_warning(self, obs_client, json_log):
        obs_client.get("/api/auth/me")
        (line,) = access_lines(json_log)
        assert (line["status"], line["level"]) == (401, "WARNING")

    def test_successful_probes_stay_out_of_the_info_log(self, obs_client, json_log):
        obs_client.get("/api/health")
        obs_client.get("/api/routines")
        assert [line["route"] for line in access_lines(json_log)] == ["/api/routines"]


class TestAuthLogs:
    def test_sign_in_lines_carry_the_request_id_and_no_secrets(self, obs_client, json_log):
        account = sign_up(obs_client)
        obs_client.cookies.clear()
        obs_client.post("/api/auth/login", headers={**CSRF, "X-Request-ID": "login-bad"},
                        json={"email": account.email, "password": "wrong " + PASSWORD})
        good = obs_client.post("/api/auth/login", headers={**CSRF, "X-Request-ID": "login-ok"},
                               json={"email": account.email, "password": PASSWORD})
        assert good.status_code == 200
        new_cookie = next(iter(good.cookies.values()))
        obs_client.get("/api/auth/me", headers={"Cookie": f"crg_session={new_cookie}"})

        text = server_text(json_log)
        for secret in (PASSWORD, account.token, new_cookie, account.email):
            assert secret not in text
        by_id = {(line.get("request_id"), line["logger"]) for line in lines(json_log)}
        assert ("login-bad", "app.auth.router") in by_id
        assert ("login-ok", "app.auth.router") in by_id

    def test_secret_named_extra_fields_are_redacted(self, obs_client, json_log):
        logging.getLogger("app.test").warning("oops", extra={"password": "hunter2",
                                                             "session_token": "t0k3n"})
        (line,) = [entry for entry in lines(json_log) if entry["logger"] == "app.test"]
        assert line["password"] == line["session_token"] == "[redacted]"
        assert "hunter2" not in server_text(json_log)


@pytest.fixture
def batched_access_log():
    """The access log as production writes it: to a batched handler alone, JSON lines."""
    stream = io.StringIO()
    handler = BatchedStreamHandler(stream, flush_interval_s=60)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("app.access")
    access.addHandler(handler)
    access.propagate = False  # pytest's own handlers sit on the root logger
    try:
        yield stream, handler
    finally:
        access.propagate = True
        access.removeHandler(handler)
        handler.close()


class TestDeferredAccessLines:
    def test_each_request_gets_its_own_facts_when_its_line_is_made_later(
            self, obs_client, batched_access_log: tuple[io.StringIO, BatchedStreamHandler]):
        stream, handler = batched_access_log
        found = sole_batched_handler(logging.getLogger("app.access"), logging.INFO)
        assert found is handler
        obs_client.get("/api/routines", headers={"X-Request-ID": "req-first"})
        obs_client.get("/api/routines/no-such-routine/session?minutes=5",
                       headers={"X-Request-ID": "req-second"})
        assert stream.getvalue() == ""  # waiting for their batch
        handler.flush()
        first, second = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert (first["request_id"], first["route"], first["status"]) == (
            "req-first", "/api/routines", 200)
        assert (second["request_id"], second["path"], second["status"]) == (
            "req-second", "/api/routines/no-such-routine/session", 404)
        assert second["route"] == "/api/routines/{routine_id}/session"
        assert second["message"].startswith("GET /api/routines/no-such-routine/session 404 ")
        assert second["level"] == "INFO" and second["logger"] == "app.access"

    def test_a_denial_still_goes_out_at_once(self, obs_client, batched_access_log):
        stream, _ = batched_access_log
        obs_client.get("/api/auth/me")
        (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
        assert (line["status"], line["level"]) == (401, "WARNING")

    @pytest.mark.parametrize(("path", "request_id", "client"), [
        ("/api/ünïcode", "req-same", None),
        ('/api/"quoted"\\back\nline', None, "10.0.0.7"),
    ])
    def test_a_deferred_line_is_the_line_the_record_would_give(self, path, request_id,
                                                                 client):
        line = AccessLine(logging.WARNING, 1_796_000_000.9996, request_id, "GET", "/api/x",
                          path, 404, 0.001254, client)
        formatter = JsonFormatter()
        text = formatter.format_deferred(line)
        assert text == formatter.format(line.make())
        entry = json.loads(text)
        assert entry["time"] == "2026-11-30T00:53:20.999+00:00"
        assert (entry["level"], entry["logger"]) == ("WARNING", "app.access")
        assert entry["message"] == f"GET {path} 404 1.3 ms"
        assert (entry["path"], entry["status"], entry["duration_ms"]) == (path, 404, 1.25)
        assert entry.get("request_id") == request_id and entry["client"] == client

    def test_with_another_handler_the_line_is_handled_at_once(self, caplog):
        with caplog.at_level(logging.INFO, logger="app.access"):
            token = request_id_var.set("req-now")
            try:
                log_access(logging.INFO, "GET", "/api/x", "/api/x/1", 200, 0.002, None)
            finally:
                request_id_var.reset(token)
        (record,) = caplog.records
        assert (record.getMessage(), record.route, record.request_id) == (
            "GET /api/x/1 200 2.0 ms", "/api/x", "req-now")


class TestSeveralWorkers:
    def test_with_the_shipped_log_config_every_line_of_every_process_is_json(
        self, tmp_path: Path
    ) -> None:
        # The parent process that starts the workers never imports the app: without the
        # config, its start and stop lines are uvicorn's plain text.
        port = free_port()
        env = {**os.environ, "ENVIRONMENT": "production", "DATA_DIR": str(tmp_path / "data"),
               "VOICE_ENABLED": "false", "REMINDERS_ENABLED": "false"}
        env.pop("DATABASE_URL", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port),
             "--workers", "2", "--log-config", str(LOG_CONFIG), "--http", SERVER_PROTOCOL],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_healthy(f"http://127.0.0.1:{port}", 60, server)
        finally:
            server.send_signal(signal.SIGTERM)
            _, err = server.communicate(timeout=60)
        text = err.decode().splitlines()
        entries = [json.loads(line) for line in text]  # each one parses, or this fails
        messages = [entry["message"] for entry in entries]
        assert any(m.startswith("Started parent process") for m in messages)
        assert any(m.startswith("Stopping parent process") for m in messages)
        assert all("color_message" not in entry for entry in entries)
