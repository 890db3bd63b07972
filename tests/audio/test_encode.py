from pathlib import Path

import numpy as np
import pytest

from app.audio.bell import bell
from app.audio.encode import decode, encode_m4a, encode_opus
from app.audio.mix import mix_track
from app.audio.onsets import detect_onsets
from app.audio.tts import PiperSpeech
from tests.audio.conftest import SAMPLE_RATE, needs_voice, tone

BELL_TIMES = [0.0, 33.3]
SPEECH_TIMES = [7.0, 18.25]


@pytest.fixture(scope="module")
def bell_track() -> np.ndarray:
    return mix_track(40.0, [(at_s, bell(SAMPLE_RATE)) for at_s in BELL_TIMES], SAMPLE_RATE)


@pytest.fixture(scope="module")
def cue_track(voice: PiperSpeech) -> np.ndarray:
    """Bells and speech on one timeline, as a rendered session has them."""
    placements = [(at_s, bell(SAMPLE_RATE)) for at_s in BELL_TIMES]
    placements += [(at_s, voice.speak("Let your head be heavy.")) for at_s in SPEECH_TIMES]
    return mix_track(40.0, placements, SAMPLE_RATE)


def onset_errors_ms(path: Path, expected: list[float]) -> list[float]:
    samples, rate = decode(path)
    onsets = detect_onsets(samples, rate)
    assert len(onsets) == len(expected)
    return [abs(got - want) * 1000 for got, want in zip(onsets, sorted(expected), strict=True)]


class TestEncodeM4a:
    def test_decodes_to_exactly_the_input_length(
        self, bell_track: np.ndarray, tmp_path: Path
    ) -> None:
        # The edit list hides both the priming and the padding of the last frame.
        encode_m4a(bell_track[:-123], SAMPLE_RATE, tmp_path / "t.m4a")
        samples, rate = decode(tmp_path / "t.m4a")
        assert rate == SAMPLE_RATE
        assert len(samples) == len(bell_track) - 123

    @needs_voice
    def test_speech_and_bell_onsets_land_within_20_ms_of_placement(
        self, cue_track: np.ndarray, tmp_path: Path
    ) -> None:
        encode_m4a(cue_track, SAMPLE_RATE, tmp_path / "t.m4a")
        errors = onset_errors_ms(tmp_path / "t.m4a", BELL_TIMES + SPEECH_TIMES)
        assert max(errors) < 20.0

    def test_same_samples_give_identical_bytes(
        self, bell_track: np.ndarray, tmp_path: Path
    ) -> None:
        encode_m4a(bell_track, SAMPLE_RATE, tmp_path / "a.m4a")
        encode_m4a(bell_track, SAMPLE_RATE, tmp_path / "b.m4a")
        assert (tmp_path / "a.m4a").read_bytes() == (tmp_path / "b.m4a").read_bytes()

    def test_index_comes_first_and_no_tool_version_is_written(
        self, bell_track: np.ndarray, tmp_path: Path
    ) -> None:
        encode_m4a(bell_track, SAMPLE_RATE, tmp_path / "t.m4a")
        data = (tmp_path / "t.m4a").read_bytes()
        assert data[4:8] == b"ftyp"
        assert data.index(b"moov") < data.index(b"mdat")  # +faststart
        assert b"Lavf" not in data and b"Lavc" not in data

    def test_only_the_finished_file_is_left(self, bell_track: np.ndarray, tmp_path: Path) -> None:
        encode_m4a(bell_track, SAMPLE_RATE, tmp_path / "t.m4a")
        encode_m4a(bell_track, SAMPLE_RATE, tmp_path / "t.m4a")  # replaces in place
        assert [p.name for p in tmp_path.iterdir()] == ["t.m4a"]


class TestEncodeOpus:
    @pytest.mark.parametrize("suffix", [".webm", ".ogg"])
    def test_decodes_with_bell_onsets_within_20_ms_and_same_duration(
        self, bell_track: np.ndarray, tmp_path: Path, suffix: str
    ) -> None:
        path = tmp_path / f"t{suffix}"
        encode_opus(bell_track, SAMPLE_RATE, path)
        samples, rate = decode(path)
        assert abs(len(samples) / rate - 40.0) < 0.05
        assert max(onset_errors_ms(path, BELL_TIMES)) < 20.0

    @needs_voice
    def test_speech_onsets_land_within_20_ms_of_placement(
        self, cue_track: np.ndarray, tmp_path: Path
    ) -> None:
        encode_opus(cue_track, SAMPLE_RATE, tmp_path / "t.webm")
        assert max(onset_errors_ms(tmp_path / "t.webm", BELL_TIMES + SPEECH_TIMES)) < 20.0

    @pytest.mark.parametrize("suffix", [".webm", ".ogg"])
    def test_same_samples_give_identical_bytes(
        self, bell_track: np.ndarray, tmp_path: Path, suffix: str
    ) -> None:
        encode_opus(bell_track, SAMPLE_RATE, tmp_path / f"a{suffix}")
        encode_opus(bell_track, SAMPLE_RATE, tmp_path / f"b{suffix}")
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()

    def test_mostly_silent_track_is_smaller_than_the_aac_one(self, tmp_path: Path) -> None:
        placements = [(10.0 + 40.0 * i, tone(2.5, dbfs=-20.0)) for i in range(5)]
        track = mix_track(200.0, placements, SAMPLE_RATE)
        encode_m4a(track, SAMPLE_RATE, tmp_path / "t.m4a")
        encode_opus(track, SAMPLE_RATE, tmp_path / "t.webm")
        assert (tmp_path / "t.webm").stat().st_size < (tmp_path / "t.m4a").stat().st_size

    def test_unknown_container_suffix_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError):
            encode_opus(tone(1.0), SAMPLE_RATE, tmp_path / "t.mp3")
        assert not any(tmp_path.iterdir())


class TestDecode:
    def test_missing_file_raises(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            decode(tmp_path / "missing.m4a")
