import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient


def session(client: TestClient, routine: str = "quick-reset", **params: Any) -> dict:
    response = client.get(f"/api/routines/{routine}/session", params=params)
    assert response.status_code == 200, response.text
    return response.json()


class TestListRoutines:
    def test_lists_the_builtins_with_lengths_and_defaults(self, shared_client):
        body = shared_client.get("/api/routines").json()
        assert [r["id"] for r in body] == ["classic", "leg-slide", "quick-reset"]
        classic = body[0]
        assert classic["minutes"]["default"] == 15
        assert classic["defaults"] == {"minutes": 15, "cues": "guided", "prep_s": 30}
        assert classic["cue_densities"] == ["guided", "sparse", "bells"]
        assert [p["id"] for p in classic["phases"]][0] == "setup"


class TestSessionScript:
    def test_script_has_cues_audio_and_captions(self, shared_client):
        body = session(shared_client, minutes=3, cues="guided", prep=10)
        assert body["routine_id"] == "quick-reset"
        assert body["duration_s"] == 190
        assert body["cues"] and all(0 <= c["at_s"] < 190 for c in body["cues"])
        # AAC first: the rendition every phone plays; Opus is the smaller extra.
        assert [a["mime"].split(";")[0] for a in body["audio"]] == ["audio/mp4", "audio/webm"]
        assert body["captions_url"].endswith(".vtt")
        assert body["voice"] is not None

    def test_defaults_come_from_the_routine(self, shared_client):
        body = session(shared_client, "quick-reset")
        assert (body["minutes"], body["cue_density"], body["prep_s"]) == (5, "guided", 20)

    def test_audio_entries_match_the_served_bytes(self, shared_client):
        body = session(shared_client, minutes=3, cues="bells", prep=0)
        for audio in body["audio"]:
            data = shared_client.get(audio["url"]).content
            assert len(data) == audio["bytes"]
            assert hashlib.sha256(data).hexdigest() == audio["sha256"]

    def test_same_options_same_version_and_bytes(self, shared_client):
        first = session(shared_client, minutes=4, cues="sparse", prep=0)
        second = session(shared_client, minutes=4, cues="sparse", prep=0)
        assert first == second

    def test_other_options_other_version(self, shared_client):
        versions = {
            session(shared_client, minutes=m, cues=c, prep=0)["version"]
            for m, c in [(3, "bells"), (4, "bells"), (3, "sparse")]
        }
        assert len(versions) == 3


class TestSessionErrors:
    def test_unknown_routine_is_404(self, shared_client):
        response = shared_client.get("/api/routines/yoga/session")
        assert response.status_code == 404
        assert response.json()["error"] == "NOT_FOUND"

    @pytest.mark.parametrize(
        ("params", "mentions"),
        [
            ({"minutes": 2}, "between 3 and 10"),
            ({"minutes": 11}, "between 3 and 10"),
            ({"minutes": 500}, "minutes"),
            ({"minutes": "ten"}, "minutes"),
            ({"cues": "loud"}, "cues"),
            ({"prep": -1}, "prep"),
        ],
    )
    def test_bad_options_are_422_with_the_reason(self, shared_client, params, mentions):
        response = shared_client.get("/api/routines/quick-reset/session", params=params)
        assert response.status_code == 422
        body = response.json()
        assert body["error"] == "VALIDATION_ERROR"
        assert mentions in body["detail"]


class TestRenderOnce:
    def test_concurrent_requests_for_a_new_session_render_it_once(self, shared_client):
        from concurrent.futures import ThreadPoolExecutor

        from prometheus_client import REGISTRY

        labels = {"routine": "quick-reset", "cue_density": "sparse", "outcome": "ok"}

        def renders() -> float:
            return REGISTRY.get_sample_value("crg_session_renders_total", labels) or 0.0

        before = renders()
        params: dict[str, Any] = {"minutes": 7, "cues": "sparse", "prep": 17}
        with ThreadPoolExecutor(6) as pool:
            bodies = list(pool.map(lambda _: session(shared_client, **params), range(6)))
        assert renders() == before + 1
        assert all(body == bodies[0] for body in bodies)


class TestDeterminism:
    def test_two_instances_with_nothing_shared_render_identical_bytes(
        self, tmp_path, speech_cache
    ):
        from app.main import create_app
        from tests.conftest import make_settings

        tracks = []
        for name in ("one", "two"):
            # Separate databases, media and speech caches: the voice speaks every line anew.
            settings = make_settings(tmp_path / name, tmp_path / name / "speech")
            with TestClient(create_app(settings)) as client:
                body = session(client, minutes=3, cues="sparse", prep=0)
                tracks.append([(a["sha256"], a["bytes"]) for a in body["audio"]])
                tracks[-1].append(body["captions_url"])
        assert tracks[0] == tracks[1]


class TestLinesMadeFirst:
    def test_a_new_session_has_its_lines_made_before_they_are_laid_out(
        self, tmp_path, monkeypatch
    ):
        from app.main import create_app
        from tests.conftest import make_settings

        # A speech cache of its own: every line of the session is new to the voice.
        app = create_app(make_settings(tmp_path / "data", tmp_path / "speech"))
        with TestClient(app) as client:
            voice = app.state.voice
            prepared: list[str] = []
            made_before: list[int] = []
            prepare = voice.prepare

            def recording_prepare(texts):
                texts = list(texts)
                prepared.extend(texts)
                made_before.append(voice.synthesis_count)
                prepare(texts)

            monkeypatch.setattr(voice, "prepare", recording_prepare)
            body = session(client, minutes=3, cues="sparse", prep=0)
        spoken = {cue["text"] for cue in body["cues"] if cue["kind"] == "voice"}
        assert spoken and spoken <= set(prepared)
        # Each line was made there, side by side: none before it, none left to be made
        # one by one after it.
        assert made_before == [0]
        assert voice.synthesis_count == len(set(prepared))
