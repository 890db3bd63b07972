
import numpy as np
import pytest

from app.audio.onsets import detect_onsets
from tests.audio.conftest import SAMPLE_RATE, tone


def place(duration_s: float, *clips: tuple[float, np.ndarray]) -> np.ndarray:
    x = np.zeros(round(duration_s * SAMPLE_RATE), np.float32)
    for at_s, clip in clips:
        start = round(at_s * SAMPLE_RATE)
        x[start : start + len(clip)] += clip
    return x


class TestDetectOnsets:
    def test_silence_has_no_onsets(self) -> None:
        assert detect_onsets(np.zeros(SAMPLE_RATE * 3, np.float32), SAMPLE_RATE) == []

    def test_burst_is_found_at_its_first_sample(self) -> None:
        x = place(4.0, (1.5, tone(0.5)))
        [onset] = detect_onsets(x, SAMPLE_RATE)
        assert abs(onset - 1.5) < 0.001

    def test_sound_at_sample_zero_is_an_onset(self) -> None:
        [onset] = detect_onsets(tone(0.5), SAMPLE_RATE)
        assert onset < 0.001

    def test_gap_shorter_than_min_quiet_does_not_start_a_new_onset(self) -> None:
        x = place(4.0, (0.5, tone(0.3)), (1.3, tone(0.3)))  # 0.5 s gap
        assert len(detect_onsets(x, SAMPLE_RATE)) == 1

    def test_gap_longer_than_min_quiet_starts_a_new_onset(self) -> None:
        x = place(4.0, (0.5, tone(0.3)), (1.8, tone(0.3)))  # 1.0 s gap
        onsets = detect_onsets(x, SAMPLE_RATE)
        assert np.allclose(onsets, [0.5, 1.8], atol=0.001)

    def test_sound_below_the_threshold_is_ignored(self) -> None:
        x = place(3.0, (1.0, tone(0.5, dbfs=-50.0)))
        assert detect_onsets(x, SAMPLE_RATE) == []

    def test_finds_every_cue_in_twenty_minutes(self) -> None:
        x = place(1200.0, *[(10.0 + 80.0 * i, tone(2.0)) for i in range(15)])
        onsets = detect_onsets(x, SAMPLE_RATE)
        assert onsets == pytest.approx([10.0 + 80.0 * i for i in range(15)], abs=0.005)
