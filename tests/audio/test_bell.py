import numpy as np
import pytest

from app.audio.bell import RING_S, STRIKE_INTERVAL_S, bell
from app.audio.levels import amplitude_to_dbfs
from app.audio.onsets import detect_onsets
from tests.audio.conftest import SAMPLE_RATE


def rms_dbfs(x: np.ndarray) -> float:
    return amplitude_to_dbfs(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))))


class TestBell:
    def test_onset_is_at_sample_zero(self) -> None:
        [onset] = detect_onsets(bell(SAMPLE_RATE), SAMPLE_RATE)
        assert onset < 0.002

    def test_peak_is_minus_6_dbfs(self) -> None:
        assert amplitude_to_dbfs(float(np.abs(bell(SAMPLE_RATE)).max())) == pytest.approx(-6.0)

    def test_same_call_gives_identical_samples(self) -> None:
        assert np.array_equal(bell(SAMPLE_RATE, 3), bell(SAMPLE_RATE, 3))

    def test_attack_is_soft_not_a_click(self) -> None:
        x = bell(SAMPLE_RATE)
        assert x[0] == 0.0
        assert np.abs(x[: round(0.002 * SAMPLE_RATE)]).max() < 0.5 * np.abs(x).max()

    def test_rings_for_seconds_and_dies_away_to_silence(self) -> None:
        x = bell(SAMPLE_RATE)
        second = SAMPLE_RATE
        assert len(x) == round(RING_S * SAMPLE_RATE)
        assert rms_dbfs(x[3 * second : 4 * second]) > -45.0  # still audible after 3 s
        assert rms_dbfs(x[:second]) - rms_dbfs(x[-second:]) > 25.0
        assert x[-1] == 0.0

    def test_strikes_repeat_at_the_interval(self) -> None:
        x = bell(SAMPLE_RATE, strikes=3)
        step = round(STRIKE_INTERVAL_S * SAMPLE_RATE)
        window = round(0.05 * SAMPLE_RATE)
        assert len(x) == 2 * step + round(RING_S * SAMPLE_RATE)
        for strike in (1, 2):
            before = rms_dbfs(x[strike * step - window : strike * step])
            after = rms_dbfs(x[strike * step : strike * step + window])
            assert after - before > 6.0

    def test_works_at_low_sample_rates(self) -> None:
        assert np.isfinite(bell(8_000)).all()

    def test_zero_strikes_is_refused(self) -> None:
        with pytest.raises(ValueError):
            bell(SAMPLE_RATE, strikes=0)
