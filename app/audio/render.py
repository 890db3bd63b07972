"""Turn a compiled session into its media: one continuous track per rendition, and captions."""

import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from app.audio.bell import bell
from app.audio.captions import webvtt
from app.audio.encode import encode_m4a, encode_opus
from app.audio.mix import mix_track
from app.audio.store import MediaFile, media_file
from app.audio.tts import SpeechVoice
from app.routines.compiler import CompiledSession

Encoder = Callable[[np.ndarray, int, Path], None]
# AAC first: every phone plays it. Opus is smaller where the browser supports it.
RENDITIONS: tuple[tuple[str, Encoder], ...] = (("m4a", encode_m4a), ("webm", encode_opus))

# Bump when the mix or the encoders change what bytes a session renders to.
RENDERER_VERSION = "2"
SAMPLE_RATE = 22_050


def render_track(compiled: CompiledSession, voice: SpeechVoice | None) -> np.ndarray:
    placements: list[tuple[float, np.ndarray]] = []
    for cue in compiled.cues:
        if cue.kind == "bell":
            placements.append((cue.at_s, bell(SAMPLE_RATE, cue.strikes)))
        elif voice is not None:
            placements.append((cue.at_s, voice.speak(cue.text)))
    return mix_track(compiled.duration_s, placements, SAMPLE_RATE)


def render_media(
    compiled: CompiledSession, voice: SpeechVoice | None
) -> tuple[list[tuple[MediaFile, bytes]], tuple[MediaFile, bytes]]:
    """The audio renditions (AAC first: every phone plays it) and the WebVTT captions."""
    samples = render_track(compiled, voice)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(len(RENDITIONS)) as pool:

        def encoded(extension: str, encode: Encoder) -> tuple[MediaFile, bytes]:
            path = Path(tmp) / f"track.{extension}"
            encode(samples, SAMPLE_RATE, path)
            return media_file(path.read_bytes(), extension)

        # The encoders release the GIL, so the renditions encode side by side.
        audio = list(pool.map(lambda rendition: encoded(*rendition), RENDITIONS))
    captions = webvtt(
        [(cue.at_s, cue.end_s, cue.text) for cue in compiled.cues if cue.kind == "voice"]
    )
    return audio, media_file(captions.encode("utf-8"), "vtt")
