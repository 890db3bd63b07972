"""Level arithmetic shared by the voice, the bell and the mixer."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


def dbfs_to_amplitude(dbfs: float) -> float:
    return float(10.0 ** (dbfs / 20.0))


def amplitude_to_dbfs(amplitude: float) -> float:
    return float(20.0 * np.log10(max(amplitude, 1e-12)))


def soft_limit(
    samples: FloatArray, knee_dbfs: float, ceiling_dbfs: float, *, in_place: bool = False
) -> FloatArray:
    """Bend magnitudes above the knee smoothly towards the ceiling, never past it.

    Below the knee samples pass unchanged (bit for bit), so a signal that never reaches
    the knee is left alone; above it a tanh curve with slope 1 at the knee keeps the
    waveform continuous.
    """
    knee = dbfs_to_amplitude(knee_dbfs)
    room = dbfs_to_amplitude(ceiling_dbfs) - knee
    if room <= 0:
        raise ValueError("the ceiling must be above the knee")
    out = samples if in_place else np.array(samples, dtype=np.float32, copy=True)
    # Two comparisons instead of abs(): no signal-sized float temporary for long tracks.
    hot = np.flatnonzero((out > knee) | (out < -knee))
    if hot.size:
        v = out[hot].astype(np.float64)
        bent = knee + room * np.tanh((np.abs(v) - knee) / room)
        out[hot] = (np.sign(v) * bent).astype(np.float32)
    return out


def fade(samples: FloatArray, fade_in: int = 0, fade_out: int = 0) -> FloatArray:
    """Raised-cosine fades over the first `fade_in` and last `fade_out` samples (in place)."""
    n = len(samples)
    if fade_in > 0:
        k = min(fade_in, n)
        samples[:k] *= _half_cosine(fade_in)[:k]
    if fade_out > 0:
        k = min(fade_out, n)
        samples[n - k :] *= _half_cosine(fade_out)[::-1][fade_out - k :]
    return samples


def _half_cosine(n: int) -> FloatArray:
    # Ramp 0 -> 1 that starts at exactly 0 and ends just below 1.
    t = np.arange(n, dtype=np.float64) / n
    return (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)
