"""Compact, reproducible web renditions of a mono track, and a decoder for checking them.

Both encoders stamp every frame with pts and time_base: without them the MP4 edit list
does not hide the AAC encoder's 1024-sample priming and every cue plays ~46 ms late.
`+bitexact` keeps version strings and random ids (Ogg serial numbers, Matroska UIDs)
out of the files, so the same samples always give the same bytes, and the files
are written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from app.audio.levels import FloatArray
from app.audio.resample import resample

AAC_FRAME = 1024
# libopus takes 8/12/16/24/48 kHz input; 24 kHz keeps the 11 kHz band of a 22.05 kHz
# voice at half the resampling and encoding work of 48 kHz.
OPUS_RATE = 24_000
# CELT-only ("lowdelay") codes digital silence in ~3 bytes a frame; the default mode
# picks SILK at low bitrates, which spends ~16 bytes on every silent 20 ms, and
# this FFmpeg build has no DTX option. 120 ms packets (the Opus maximum) cut per-packet
# container overhead over long silences.
OPUS_OPTIONS = {"application": "lowdelay", "frame_duration": "120"}
OPUS_CONTAINERS = {".webm": "webm", ".ogg": "ogg", ".opus": "ogg"}


# 24 kbps keeps a calm voice clear (the encoder low-passes near 8 kHz) and a 20-minute
# guided track under 600 KB; 32 kbps costs a quarter more for little audible gain.
AAC_BITRATE = 24_000


def encode_m4a(
    samples: FloatArray, sample_rate: int, path: Path, bitrate: int = AAC_BITRATE
) -> None:
    """AAC-LC in an .m4a (moov first, so playback starts before the download ends)."""
    # A movie timescale of one tick per sample makes the edit list end sample-exact
    # (the default, 1000, rounds the playable duration to milliseconds).
    options = {"movflags": "+faststart", "movie_timescale": str(sample_rate)}
    with _atomic_container(path, "ipod", options) as container:
        stream: Any = container.add_stream("aac", rate=sample_rate, layout="mono")
        stream.bit_rate = bitrate
        _encode(container, stream, _as_mono(samples), sample_rate, "fltp", AAC_FRAME)


def encode_opus(samples: FloatArray, sample_rate: int, path: Path, bitrate: int = 16_000) -> None:
    """Opus at OPUS_RATE; the container follows the suffix (.webm, or .ogg/.opus)."""
    container_format = OPUS_CONTAINERS.get(path.suffix.lower())
    if container_format is None:
        raise ValueError(f"no Opus container for {path.suffix!r}; use one of {OPUS_CONTAINERS}")
    x = resample(_as_mono(samples), sample_rate, OPUS_RATE)
    with _atomic_container(path, container_format, {}) as container:
        stream: Any = container.add_stream(
            "libopus", rate=OPUS_RATE, layout="mono", options=OPUS_OPTIONS
        )
        stream.bit_rate = bitrate
        stream.codec_context.open()  # frame_size is known only once the encoder is open
        _encode(container, stream, x, OPUS_RATE, "flt", stream.codec_context.frame_size)


def decode(path: Path) -> tuple[FloatArray, int]:
    """Any of our renditions back to mono float32 and its sample rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [_to_mono(frame) for frame in container.decode(stream)]
        sample_rate = int(stream.codec_context.sample_rate)
        # FFmpeg applies the start of an MP4 edit list (the priming) but not its end, so
        # the encoder's padding of the last frame (up to 1023 samples) would come out too;
        # players honour the edit list's duration, and so do we.
        played_us = container.duration if "mp4" in container.format.name else None
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if played_us:
        samples = samples[: round(played_us * sample_rate / 1_000_000)]
    return samples, sample_rate


def _encode(
    container: Any, stream: Any, x: FloatArray, rate: int, sample_format: str, frame_size: int
) -> None:
    stream.codec_context.flags |= av.codec.context.Flags.bitexact
    time_base = Fraction(1, rate)
    for start in range(0, len(x), frame_size):
        frame = av.AudioFrame.from_ndarray(
            x[None, start : start + frame_size], format=sample_format, layout="mono"
        )
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = time_base
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


@contextmanager
def _atomic_container(path: Path, container_format: str, options: dict[str, str]) -> Iterator[Any]:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with av.open(
            tmp, "w", format=container_format, options={"fflags": "+bitexact", **options}
        ) as container:
            yield container
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _as_mono(samples: FloatArray) -> FloatArray:
    x = np.ascontiguousarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError("expected mono samples (a 1-D array)")
    return np.clip(x, -1.0, 1.0)


def _to_mono(frame: av.AudioFrame) -> FloatArray:
    data = frame.to_ndarray()
    channels = frame.layout.nb_channels
    # Planar frames come as (channels, n), packed ones as (1, n * channels).
    per_channel = data if frame.format.is_planar else data.reshape(-1, channels).T
    if per_channel.dtype.kind == "i":
        # Signed integer samples (s16, s32): full scale is 2 ** (bits - 1).
        per_channel = per_channel / float(2 ** (8 * per_channel.dtype.itemsize - 1))
    return per_channel.mean(axis=0).astype(np.float32)
