"""The rendered track, decoded and heard by an onset detector: cues sound where the script says."""

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.audio.encode import decode
from app.audio.onsets import detect_onsets

TOLERANCE_S = 0.050
QUIET_AFTER_BELL_S = 1.0  # the bell's tail stays audible a little past its nominal end


def rendered(client: TestClient, tmp_path: Path, rendition: int, **params: Any):
    body = client.get("/api/routines/quick-reset/session", params=params).json()
    audio = body["audio"][rendition]
    path = tmp_path / audio["url"].rsplit("/", 1)[1]
    path.write_bytes(client.get(audio["url"]).content)
    samples, rate = decode(path)
    return body, samples, rate


def audible_cues(body: dict) -> list[dict]:
    """Cues with quiet before them; a voice that starts over a ringing bell has none."""
    bells = [c for c in body["cues"] if c["kind"] == "bell"]
    return [
        c
        for c in body["cues"]
        if c["kind"] == "bell"
        or not any(b["at_s"] < c["at_s"] < b["end_s"] + QUIET_AFTER_BELL_S for b in bells)
    ]


@pytest.mark.parametrize("rendition", [0, 1], ids=["aac", "opus"])
class TestRenderedTrack:
    def test_duration_matches_the_script(self, shared_client, tmp_path, rendition):
        body, samples, rate = rendered(shared_client, tmp_path, rendition, minutes=3, prep=20)
        assert abs(len(samples) / rate - body["duration_s"]) <= TOLERANCE_S

    def test_each_cue_is_heard_when_the_script_says(self, shared_client, tmp_path, rendition):
        body, samples, rate = rendered(shared_client, tmp_path, rendition, minutes=3, prep=20)
        onsets = detect_onsets(samples, rate)
        expected = audible_cues(body)
        assert len(expected) >= 5
        for cue in expected:
            nearest = min(onsets, key=lambda t: abs(t - cue["at_s"]))
            assert abs(nearest - cue["at_s"]) <= TOLERANCE_S, (cue, nearest)
        # And nothing is heard that the script does not announce.
        starts = [c["at_s"] for c in body["cues"]]
        for onset in onsets:
            assert any(
                start - TOLERANCE_S <= onset <= c_end
                for start, c_end in zip(starts, [c["end_s"] for c in body["cues"]], strict=True)
            ), onset


class TestBellsOnly:
    def test_bells_only_track_has_just_the_bells(self, shared_client, tmp_path):
        body, samples, rate = rendered(shared_client, tmp_path, 0, minutes=3, prep=0, cues="bells")
        onsets = detect_onsets(samples, rate)
        bells = [c["at_s"] for c in body["cues"]]
        assert len(onsets) == len(bells)
        assert all(abs(a - b) <= TOLERANCE_S for a, b in zip(onsets, bells, strict=True))
