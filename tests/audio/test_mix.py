import numpy as np
import pytest

from app.audio.mix import mix_track
from tests.audio.conftest import SAMPLE_RATE, tone


class TestMixTrack:
    def test_length_is_exactly_the_duration_in_samples(self) -> None:
        assert len(mix_track(12.3456, [], SAMPLE_RATE)) == round(12.3456 * SAMPLE_RATE)

    def test_clip_lands_on_its_sample(self) -> None:
        click = np.array([0.5], np.float32)
        track = mix_track(3.0, [(1.2345, click)], SAMPLE_RATE)
        assert np.flatnonzero(track).tolist() == [round(1.2345 * SAMPLE_RATE)]

    def test_quiet_mix_is_the_exact_sum(self) -> None:
        a, b = tone(1.0, dbfs=-12.0), tone(1.0, dbfs=-12.0, hz=330.0)
        track = mix_track(3.0, [(0.5, a), (1.0, b)], SAMPLE_RATE)
        expected = np.zeros(3 * SAMPLE_RATE, np.float32)
        expected[round(0.5 * SAMPLE_RATE) :][: len(a)] += a
        expected[SAMPLE_RATE : 2 * SAMPLE_RATE] += b
        assert np.array_equal(track, expected)

    def test_overlapping_loud_clips_never_reach_full_scale(self) -> None:
        loud = tone(1.0, dbfs=-1.0)
        track = mix_track(2.0, [(0.5, loud), (0.5, loud), (0.5, loud)], SAMPLE_RATE)
        assert np.abs(track).max() < 1.0

    def test_clip_past_the_end_is_cut_with_a_fade(self) -> None:
        track = mix_track(2.0, [(1.5, tone(1.0))], SAMPLE_RATE)
        assert len(track) == 2 * SAMPLE_RATE
        assert track[-1] == 0.0
        assert np.abs(track[-round(0.05 * SAMPLE_RATE) : -round(0.03 * SAMPLE_RATE)]).max() > 0.2

    @pytest.mark.parametrize("at_s", [-0.1, 2.0, 5.0])
    def test_clip_outside_the_track_is_refused(self, at_s: float) -> None:
        with pytest.raises(ValueError):
            mix_track(2.0, [(at_s, tone(0.1))], SAMPLE_RATE)
