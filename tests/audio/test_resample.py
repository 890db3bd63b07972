import numpy as np

from app.audio.resample import _swr, resample
from tests.audio.conftest import SAMPLE_RATE, tone


def sparse_signal() -> np.ndarray:
    x = np.zeros(20 * SAMPLE_RATE, np.float32)
    for at_s in (0.0, 3.3, 9.87, 19.5):
        start = round(at_s * SAMPLE_RATE)
        x[start : start + 10_000] = tone(1.0)[: len(x) - start][:10_000]
    return x


class TestResample:
    def test_skipping_silence_matches_resampling_everything(self) -> None:
        x = sparse_signal()
        whole = _swr(x, SAMPLE_RATE, 24_000)
        assert np.array_equal(
            resample(x, SAMPLE_RATE, 24_000), whole[: len(x) * 24_000 // SAMPLE_RATE]
        )

    def test_length_follows_the_rate_ratio(self) -> None:
        x = sparse_signal()
        assert len(resample(x, SAMPLE_RATE, 48_000)) == len(x) * 48_000 // SAMPLE_RATE

    def test_tone_keeps_its_pitch(self) -> None:
        y = resample(tone(1.0, hz=1000.0), SAMPLE_RATE, 24_000)
        spectrum = np.abs(np.fft.rfft(y[:24_000] * np.hanning(24_000)))
        assert int(np.argmax(spectrum)) == 1000  # 1 Hz bins over one second
