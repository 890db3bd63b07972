"""Sample-rate conversion that only does work where there is sound.

A guided rest is mostly digital silence, and silence resamples to silence. The signal
is cut into blocks that map to a whole number of output samples (147 in -> 160 out for
22,050 -> 24,000 Hz); only runs of non-silent blocks, padded with silent blocks wider
than the filter, go through libswresample. Because swresample is time-aligned and the
padding is silent, the result equals resampling the whole signal in one go.
"""

from __future__ import annotations

from fractions import Fraction
from math import gcd

import av
import numpy as np

from app.audio.levels import FloatArray

# Silent input kept on each side of a sounding run; swresample's default filter reaches
# 16 input samples each way, so 256 leaves a wide margin.
MARGIN_SAMPLES = 256


def resample(samples: FloatArray, in_rate: int, out_rate: int) -> FloatArray:
    """Mono float32 at `out_rate`, floor(len * out_rate / in_rate) samples long."""
    x = np.ascontiguousarray(samples, dtype=np.float32)
    out_len = len(x) * out_rate // in_rate
    if in_rate == out_rate:
        return x.copy()
    g = gcd(in_rate, out_rate)
    block_in, block_out = in_rate // g, out_rate // g
    n_blocks = -(-len(x) // block_in)
    padded = np.zeros(n_blocks * block_in, np.float32)
    padded[: len(x)] = x
    sounding = np.any(padded.reshape(n_blocks, block_in) != 0, axis=1)
    margin = -(-MARGIN_SAMPLES // block_in)
    # Widen each sounding block by the margin on both sides (a 1-D dilation).
    counts = np.convolve(sounding.astype(np.int32), np.ones(2 * margin + 1, np.int32), "same")
    keep = np.concatenate(([False], counts > 0, [False]))
    edges = np.flatnonzero(np.diff(keep.astype(np.int8)))
    out = np.zeros(n_blocks * block_out + block_out, np.float32)
    for first, stop in zip(edges[::2], edges[1::2], strict=True):
        part = _swr(padded[first * block_in : stop * block_in], in_rate, out_rate)
        start = first * block_out
        out[start : start + len(part)] = part[: len(out) - start]
    return out[:out_len]


def _swr(x: FloatArray, in_rate: int, out_rate: int) -> FloatArray:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=out_rate)
    frame = av.AudioFrame.from_ndarray(x[None, :], format="flt", layout="mono")
    frame.sample_rate = in_rate
    frame.pts = 0
    frame.time_base = Fraction(1, in_rate)
    frames = resampler.resample(frame) + resampler.resample(None)
    return np.concatenate([f.to_ndarray()[0] for f in frames]).astype(np.float32)
