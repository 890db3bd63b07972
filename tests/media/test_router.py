import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from prometheus_client import REGISTRY
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app.main import create_app
from app.routines.service import RENDER_LOCKS
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def track(shared_client: TestClient) -> dict:
    body = shared_client.get(
        "/api/routines/quick-reset/session", params={"minutes": 3, "cues": "bells", "prep": 0}
    ).json()
    return body["audio"][0]


class TestRangeRequests:
    def test_a_range_is_answered_with_206_and_those_bytes(self, shared_client, track):
        whole = shared_client.get(track["url"]).content
        response = shared_client.get(track["url"], headers={"Range": "bytes=100-199"})
        assert response.status_code == 206
        assert response.headers["content-range"] == f"bytes 100-199/{track['bytes']}"
        assert response.content == whole[100:200]

    def test_an_open_ended_range_runs_to_the_end(self, shared_client, track):
        response = shared_client.get(track["url"], headers={"Range": "bytes=1000-"})
        assert response.status_code == 206
        assert int(response.headers["content-length"]) == track["bytes"] - 1000

    def test_full_response_advertises_ranges_and_is_immutable(self, shared_client, track):
        response = shared_client.get(track["url"])
        assert response.status_code == 200
        assert response.headers["accept-ranges"] == "bytes"
        assert "immutable" in response.headers["cache-control"]
        assert response.headers["content-type"] == 'audio/mp4; codecs="mp4a.40.2"'

    def test_a_range_past_the_end_is_416(self, shared_client, track):
        response = shared_client.get(
            track["url"], headers={"Range": f"bytes={track['bytes'] + 10}-"}
        )
        assert response.status_code == 416
        assert response.headers["content-range"] == f"bytes */{track['bytes']}"
        assert response.json()["error"] == "RANGE_NOT_SATISFIABLE"

    def test_a_range_past_the_end_of_the_same_file_is_416_with_if_range(self, shared_client,
                                                                         track):
        whole = shared_client.get(track["url"])
        past_end = {"Range": f"bytes={track['bytes'] + 10}-"}
        for validator in (whole.headers["etag"], whole.headers["last-modified"]):
            response = shared_client.get(track["url"], headers={**past_end, "If-Range": validator})
            assert response.status_code == 416
            assert response.headers["content-range"] == f"bytes */{track['bytes']}"
            assert response.json()["error"] == "RANGE_NOT_SATISFIABLE"

    def test_if_range_naming_another_version_gets_the_whole_file(self, shared_client, track):
        response = shared_client.get(track["url"], headers={
            "Range": f"bytes={track['bytes'] + 10}-", "If-Range": '"another-version"'})
        assert response.status_code == 200
        assert len(response.content) == track["bytes"]

    @pytest.mark.parametrize("asked", ["items=0-1", "bytes=abc", "bytes=5-3", "bytes="])
    def test_a_range_this_server_does_not_understand_gets_the_whole_file(
        self, shared_client, track, asked
    ):
        response = shared_client.get(track["url"], headers={"Range": asked})
        assert response.status_code == 200
        assert response.content == shared_client.get(track["url"]).content


class TestUnknownMedia:
    @pytest.mark.parametrize(
        "name", ["0" * 64 + ".m4a", "../rest.db", "track.m4a", "a" * 64 + ".exe"]
    )
    def test_unknown_or_malformed_names_are_404(self, shared_client, name):
        response = shared_client.get(f"/media/{name}")
        assert response.status_code == 404
        assert response.json()["error"] == "NOT_FOUND"


class TestAnyInstance:
    def test_another_instance_answers_a_url_it_did_not_render(
        self, tmp_path: Path, speech_cache: Path
    ):
        shared_db = f"sqlite:///{tmp_path / 'shared.db'}"
        first = make_settings(tmp_path / "one", speech_cache, database_url=shared_db)
        second = make_settings(tmp_path / "two", speech_cache, database_url=shared_db)
        with TestClient(create_app(first)) as one, TestClient(create_app(second)) as two:
            body = one.get(
                "/api/routines/quick-reset/session", params={"minutes": 3, "cues": "bells"}
            ).json()
            for url in [body["audio"][0]["url"], body["captions_url"]]:
                assert not (tmp_path / "two" / "audio" / url.rsplit("/", 1)[1]).exists()
                assert two.get(url).content == one.get(url).content
            # The other instance also hands out the very same script without rendering again.
            again = two.get(
                "/api/routines/quick-reset/session", params={"minutes": 3, "cues": "bells"}
            ).json()
            assert again == body

    def test_workers_on_one_sqlite_file_asking_for_the_same_new_session_render_it_once(
        self, tmp_path: Path, speech_cache: Path
    ):
        # Workers of one host: one data directory, one SQLite file.
        settings = make_settings(tmp_path / "data", speech_cache, voice_enabled=False)
        params: dict[str, str | int] = {"minutes": 4, "cues": "sparse", "prep": 0}
        renders = {"routine": "quick-reset", "cue_density": "sparse", "outcome": "ok"}
        before = REGISTRY.get_sample_value("crg_session_renders_total", renders) or 0
        with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
            start = threading.Barrier(2)

            def ask(client: TestClient) -> Response:
                start.wait()  # both find it unrendered
                return client.get("/api/routines/quick-reset/session", params=params)

            with ThreadPoolExecutor(2) as pool:
                first, second = pool.map(ask, [one, two])
            assert (first.status_code, second.status_code) == (200, 200)
            assert first.json() == second.json()
            # The second waited for the first's render instead of repeating it (a render
            # costs seconds of CPU, and is charged to the address that asked).
            assert REGISTRY.get_sample_value("crg_session_renders_total", renders) == before + 1
            for url in [first.json()["audio"][0]["url"], first.json()["captions_url"]]:
                assert one.get(url).status_code == two.get(url).status_code == 200

    def test_where_no_render_lock_can_be_made_sessions_are_still_served(
        self, tmp_path: Path, speech_cache: Path, caplog: pytest.LogCaptureFixture
    ):
        settings = make_settings(tmp_path / "data", speech_cache, voice_enabled=False)
        params: dict[str, str | int] = {"minutes": 3, "cues": "bells"}
        with TestClient(create_app(settings)) as one:
            (settings.audio_dir / RENDER_LOCKS).write_bytes(b"")  # a file, not a directory
            rendered = one.get("/api/routines/quick-reset/session", params=params)
            assert rendered.status_code == 200
            assert "No render lock" in caplog.text
        with TestClient(create_app(settings)) as two:  # a new process: from the database
            assert two.get("/api/routines/quick-reset/session",
                           params=params).json() == rendered.json()

    def test_a_render_whose_commit_failed_is_not_handed_out_from_memory(
        self, tmp_path: Path, speech_cache: Path, monkeypatch: pytest.MonkeyPatch
    ):
        shared_db = f"sqlite:///{tmp_path / 'shared.db'}"
        first = make_settings(tmp_path / "one", speech_cache, database_url=shared_db,
                              voice_enabled=False)
        second = make_settings(tmp_path / "two", speech_cache, database_url=shared_db,
                               voice_enabled=False)
        params: dict[str, str | int] = {"minutes": 3, "cues": "bells", "prep": 0}
        lost = {"commits": 1}

        def database_lost_at_commit(session: Session) -> None:
            if lost["commits"]:
                lost["commits"] -= 1
                raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

        with TestClient(create_app(first)) as one, TestClient(create_app(second)) as two:
            event.listen(Session, "before_commit", database_lost_at_commit)
            try:
                refused = one.get("/api/routines/quick-reset/session", params=params)
            finally:
                event.remove(Session, "before_commit", database_lost_at_commit)
            assert refused.status_code == 503
            body = one.get("/api/routines/quick-reset/session", params=params).json()
            # What the first instance hands out, every instance can serve.
            for url in [body["audio"][0]["url"], body["captions_url"]]:
                assert two.get(url).status_code == 200

