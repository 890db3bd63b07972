import json
import logging

from tests.auth.helpers import CSRF, PASSWORD, sign_up


def lines(stream) -> list[dict]:
    """The server's lines; the test's own HTTP client (httpx) logs the URLs it calls."""
    entries = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [entry for entry in entries if entry["logger"] != "httpx"]


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
