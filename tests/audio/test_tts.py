import threading
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from app.audio import tts
from app.audio.levels import amplitude_to_dbfs, dbfs_to_amplitude
from app.audio.onsets import detect_onsets, window_rms
from app.audio.tts import PiperSpeech, finish_clip, load_voice, voice_available
from tests.audio.conftest import SAMPLE_RATE, needs_voice, tone

SENTENCES = [
    "Rest.",
    "Let your head be heavy.",
    "Breathe out slowly. Let the floor hold you.",
    "Notice the weight of your shoulders.",
    "Good. Now, gently roll to one side, and take your time getting up.",
]


def voiced_dbfs(clip: np.ndarray, sample_rate: int) -> float:
    """RMS over the 10 ms windows above -45 dBFS: the loudness a listener hears."""
    rms, _, _ = window_rms(clip, sample_rate)
    voiced = rms[rms >= dbfs_to_amplitude(-45.0)]
    return amplitude_to_dbfs(float(np.sqrt(np.mean(voiced**2))))


@needs_voice
class TestSpeak:
    def test_onset_is_within_5_ms_of_sample_zero(self, voice: PiperSpeech) -> None:
        for text in SENTENCES:
            onsets = detect_onsets(voice.speak(text), voice.sample_rate)
            assert onsets and onsets[0] < 0.005, text

    def test_clip_ends_shortly_after_the_last_sound(self, voice: PiperSpeech) -> None:
        clip = voice.speak("Let your head be heavy.")
        rms, hop, _ = window_rms(clip, voice.sample_rate)
        last_sound = (np.flatnonzero(rms >= dbfs_to_amplitude(-45.0))[-1] + 1) * hop
        assert (len(clip) - last_sound) / voice.sample_rate < 0.05
        assert clip[-1] == 0.0

    def test_sentences_are_equally_loud_within_1_db(self, voice: PiperSpeech) -> None:
        levels = [voiced_dbfs(voice.speak(text), voice.sample_rate) for text in SENTENCES]
        assert max(levels) - min(levels) < 1.0
        assert levels[0] == pytest.approx(-20.0, abs=1.0)

    def test_peaks_stay_below_minus_1_dbfs(self, voice: PiperSpeech) -> None:
        for text in SENTENCES:
            assert np.abs(voice.speak(text)).max() < dbfs_to_amplitude(-1.0)

    def test_clip_is_mono_float32(self, voice: PiperSpeech) -> None:
        clip = voice.speak("Rest.")
        assert clip.dtype == np.float32 and clip.ndim == 1
        assert voice.sample_rate == 22_050


@needs_voice
class TestCache:
    def test_same_text_gives_identical_samples_and_is_synthesised_once(
        self, tmp_path: Path
    ) -> None:
        voice = PiperSpeech(tmp_path)
        first = voice.speak("Let your jaw soften.")
        second = voice.speak("Let your jaw soften.")
        assert np.array_equal(first, second)
        assert voice.synthesis_count == 1
        assert voice.cache_path("Let your jaw soften.").is_file()

    def test_fresh_instance_reads_the_disk_cache_without_synthesising(
        self, voice: PiperSpeech
    ) -> None:
        spoken = voice.speak("Feel your back widen.")
        reopened = PiperSpeech(voice.cache_dir)
        assert np.array_equal(reopened.speak("Feel your back widen."), spoken)
        assert reopened.synthesis_count == 0

    def test_synthesis_is_deterministic_across_empty_caches(
        self, voice: PiperSpeech, tmp_path: Path
    ) -> None:
        fresh = PiperSpeech(tmp_path)
        assert np.array_equal(fresh.speak("Rest here."), voice.speak("Rest here."))
        assert fresh.synthesis_count == 1

    def test_damaged_cache_file_is_synthesised_again(self, tmp_path: Path) -> None:
        voice = PiperSpeech(tmp_path)
        voice.cache_path("Rest.").parent.mkdir(parents=True, exist_ok=True)
        voice.cache_path("Rest.").write_bytes(b"not a numpy file")
        assert len(voice.speak("Rest.")) > 0
        assert voice.synthesis_count == 1
        assert np.load(voice.cache_path("Rest.")).dtype == np.float32

    def test_cache_holds_only_finished_clips(self, tmp_path: Path) -> None:
        voice = PiperSpeech(tmp_path)
        voice.speak("Rest.")
        assert [p.name for p in tmp_path.iterdir()] == [voice.cache_path("Rest.").name]

    def test_memory_cache_forgets_the_oldest_clip_first(self, voice: PiperSpeech) -> None:
        voice.speak("Rest.")
        voice.speak("Let your head be heavy.")  # both on disk now
        small = PiperSpeech(voice.cache_dir, memory_items=1)
        small.speak("Rest.")
        voice.cache_path("Rest.").unlink()
        small.speak("Let your head be heavy.")  # pushes "Rest." out of memory
        small.speak("Rest.")
        assert small.synthesis_count == 1  # only the forgotten, deleted "Rest."

    def test_concurrent_requests_for_one_new_text_synthesise_once(self, tmp_path: Path) -> None:
        voice = PiperSpeech(tmp_path)
        results: list[np.ndarray] = []
        threads = [
            threading.Thread(target=lambda: results.append(voice.speak("Soften your eyes.")))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert voice.synthesis_count == 1
        assert all(np.array_equal(r, results[0]) for r in results)

    def test_prepared_clips_are_those_speak_makes_and_are_not_made_again(
        self, voice: PiperSpeech, tmp_path: Path
    ) -> None:
        fresh = PiperSpeech(tmp_path)
        weight = "Let the floor take your weight."
        texts = [weight, "Knees easy.", weight]
        fresh.prepare(texts)
        assert fresh.synthesis_count == 2
        for text in texts:
            assert np.array_equal(fresh.speak(text), voice.speak(text))
        assert fresh.synthesis_count == 2
        reopened = PiperSpeech(tmp_path)
        reopened.prepare(texts)  # all on disk already
        assert reopened.synthesis_count == 0 and not reopened.is_loaded

    def test_voice_id_names_the_model_and_synthesis_settings(self, voice: PiperSpeech) -> None:
        assert "en_US-joe-medium" in voice.id
        assert "ls1.15" in voice.id and "ns0.0" in voice.id


@needs_voice
class TestLoadVoice:
    def test_installed_voice_loads_lazily(self, tmp_path: Path) -> None:
        assert voice_available()
        voice = load_voice(tmp_path)
        assert isinstance(voice, PiperSpeech)
        assert not voice.is_loaded and not any(tmp_path.iterdir())
        voice.speak("Rest.")
        assert voice.is_loaded


class Run(NamedTuple):
    """One stood-in model run: its text, the thread it ran on, and when."""

    text: str
    thread: str
    started: float
    ended: float


class TestPrepare:
    """How prepare shares out the work, with the model's run stood in for (no Piper)."""

    def _timed_voice(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                     cores: int) -> tuple[PiperSpeech, list[Run]]:
        monkeypatch.setattr(tts, "_usable_cores", lambda: cores)
        voice = PiperSpeech(tmp_path / "speech", model_path=tmp_path / "model.onnx",
                            config_path=tmp_path / "model.json")
        runs: list[Run] = []

        def synthesise(text: str) -> np.ndarray:
            started = time.monotonic()
            time.sleep(0.05)
            runs.append(Run(text, threading.current_thread().name, started, time.monotonic()))
            return tone(0.2)

        monkeypatch.setattr(voice, "_synthesise", synthesise)
        return voice, runs

    @pytest.fixture(autouse=True)
    def _config(self, tmp_path: Path) -> None:
        (tmp_path / "model.json").write_text('{"audio": {"sample_rate": 22050}}')

    def test_new_texts_are_made_side_by_side_one_per_core(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        voice, runs = self._timed_voice(tmp_path, monkeypatch, cores=2)
        texts = [f"Line {n}." for n in range(6)]
        voice.prepare([*texts, *texts])
        assert sorted(run.text for run in runs) == texts  # each once
        # At every moment, at most two at once, and two at once at some moment.
        moments = sorted(t for run in runs for t in (run.started, run.ended))
        at_once = [sum(run.started <= m < run.ended for run in runs) for m in moments]
        assert max(at_once) == 2
        assert all(voice.cache_path(text).is_file() for text in texts)

    def test_one_core_makes_them_one_after_another(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        voice, runs = self._timed_voice(tmp_path, monkeypatch, cores=1)
        voice.prepare(["One.", "Two.", "Three."])
        assert [run.text for run in runs] == ["One.", "Two.", "Three."]
        for before, after in zip(runs, runs[1:], strict=False):
            assert after.started >= before.ended

    def test_texts_already_kept_are_not_made_again(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        voice, runs = self._timed_voice(tmp_path, monkeypatch, cores=2)
        voice.speak("On disk.")
        voice._memory.clear()  # now only on disk
        voice.speak("In memory.")
        voice.cache_path("In memory.").unlink()  # now only in memory
        voice.prepare(["In memory.", "On disk.", "New."])
        assert [run.text for run in runs] == ["On disk.", "In memory.", "New."]
        # One line left to make: made here, not handed to a pool.
        assert runs[-1].thread == threading.current_thread().name


class TestFinishClip:
    """The clip processing on its own, with a synthetic 'voice' (no Piper needed)."""

    def test_leading_silence_is_trimmed_to_the_onset_and_loudness_set(self) -> None:
        raw = np.zeros(SAMPLE_RATE * 2, np.float32)
        raw[3000:20000] = tone(17_000 / SAMPLE_RATE, dbfs=-35.0)
        clip = finish_clip(raw, SAMPLE_RATE)
        [onset] = detect_onsets(clip, SAMPLE_RATE)
        assert onset < 0.005
        assert len(clip) / SAMPLE_RATE < 17_000 / SAMPLE_RATE + 0.05
        assert voiced_dbfs(clip, SAMPLE_RATE) == pytest.approx(-20.0, abs=0.2)

    def test_silence_gives_an_empty_clip(self) -> None:
        assert len(finish_clip(np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE)) == 0
