from fastapi.testclient import TestClient

from app.main import create_app
from tests.auth.helpers import sign_up
from tests.observability.conftest import metric_value
from tests.sync.factories import make_rest, new_client_id, put

SESSION_ROUTE = "/api/routines/{routine_id}/session"


class TestMetricsEndpoint:
    def test_counts_requests_by_route_template(self, obs_client):
        labels = {"method": "GET", "route": SESSION_ROUTE, "status": "404"}
        before = metric_value(obs_client, "crg_http_requests_total", **labels)
        obs_client.get("/api/routines/not-a-routine/session")
        obs_client.get("/api/routines/another-one/session")
        text = obs_client.get("/metrics").text
        assert metric_value(obs_client, "crg_http_requests_total", **labels) == before + 2
        assert "not-a-routine" not in text  # raw paths never become labels
        assert metric_value(obs_client, "crg_http_request_duration_seconds_count", **labels) > 0

    def test_unmatched_paths_share_one_label(self, obs_client):
        # Counters live for the whole test process: name the exact sample these requests count.
        sample = {"route": "<unmatched>", "method": "GET", "status": "404"}
        before = metric_value(obs_client, "crg_http_requests_total", **sample)
        obs_client.get("/wp-login.php")
        obs_client.get("/.env")
        after = metric_value(obs_client, "crg_http_requests_total", **sample)
        assert after == before + 2

    def test_is_prometheus_text(self, obs_client):
        response = obs_client.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain")
        assert "# TYPE crg_http_requests_total counter" in response.text

    def test_can_be_switched_off(self, make_app_settings):
        with TestClient(create_app(make_app_settings(metrics_enabled=False))) as client:
            response = client.get("/metrics")
        assert response.status_code == 404
        assert response.json()["error"] == "NOT_FOUND"

    def test_a_token_guards_it(self, make_app_settings):
        settings = make_app_settings(metrics_token="s3cret-metrics")
        with TestClient(create_app(settings)) as client:
            missing = client.get("/metrics")
            wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
            right = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
        assert missing.status_code == wrong.status_code == 401
        assert missing.json()["error"] == "UNAUTHENTICATED"
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert right.status_code == 200


class TestDomainMetrics:
    def test_a_render_is_counted_once_and_timed(self, obs_client):
        labels = {"routine": "quick-reset", "cue_density": "bells", "outcome": "ok"}
        before = metric_value(obs_client, "crg_session_renders_total", **labels)
        timed_before = metric_value(obs_client, "crg_session_render_duration_seconds_count",
                                    routine="quick-reset")
        params = {"minutes": 4, "cues": "bells", "prep": 20}
        for _ in range(2):  # the second answer is warm: no new render
            assert obs_client.get("/api/routines/quick-reset/session",
                                  params=params).status_code == 200
        assert metric_value(obs_client, "crg_session_renders_total", **labels) == before + 1
        assert metric_value(obs_client, "crg_session_render_duration_seconds_count",
                            routine="quick-reset") == timed_before + 1

    def test_a_sync_batch_and_its_results_are_counted(self, obs_client):
        account = sign_up(obs_client)
        device = new_client_id()
        rest = make_rest()
        batches = metric_value(obs_client, "crg_sync_batches_total")
        applied = metric_value(obs_client, "crg_sync_mutations_total", result="applied")
        duplicate = metric_value(obs_client, "crg_sync_mutations_total", result="duplicate")
        body = {"client_id": device, "mutations": [put(1, rest)]}
        assert account.post("/api/sync/push", json=body).status_code == 200
        assert account.post("/api/sync/push", json=body).status_code == 200  # a replay
        assert metric_value(obs_client, "crg_sync_batches_total") == batches + 2
        assert metric_value(obs_client, "crg_sync_mutations_total",
                            result="applied") == applied + 1
        assert metric_value(obs_client, "crg_sync_mutations_total",
                            result="duplicate") == duplicate + 1

    def test_push_sends_are_declared(self, obs_client):
        assert "# TYPE crg_push_sends_total counter" in obs_client.get("/metrics").text
