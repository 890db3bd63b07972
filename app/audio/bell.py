"""A soft synthesised singing bowl for the opening and closing of a rest."""

from __future__ import annotations

import numpy as np

from app.audio.levels import FloatArray, dbfs_to_amplitude, fade

PEAK_DBFS = -6.0
STRIKE_INTERVAL_S = 2.5
RING_S = 6.0
ATTACK_S = 0.008
RELEASE_S = 0.5
FUNDAMENTAL_HZ = 220.0

# (frequency ratio, relative amplitude, decay time constant in s). Bowl partials are
# inharmonic (roughly 1 : 2.7 : 5.2 : 8.4); each comes as a pair a fraction of a hertz
# apart, whose slow beating gives the bowl its shimmer. Higher partials fade sooner,
# which keeps the tail warm.
PARTIALS: tuple[tuple[float, float, float], ...] = (
    (1.000, 1.00, 1.60),
    (1.004, 0.60, 1.40),
    (2.710, 0.45, 1.10),
    (2.716, 0.30, 0.90),
    (5.180, 0.16, 0.60),
    (8.420, 0.07, 0.35),
)


def bell(sample_rate: int, strikes: int = 1) -> FloatArray:
    """One bowl strike (onset at sample 0, peak PEAK_DBFS), or `strikes` of them
    STRIKE_INTERVAL_S apart with overlapping decays. Deterministic."""
    if strikes < 1:
        raise ValueError("strikes must be at least 1")
    one = _strike(sample_rate)
    step = round(STRIKE_INTERVAL_S * sample_rate)
    out = np.zeros(step * (strikes - 1) + len(one), dtype=np.float64)
    for i in range(strikes):
        out[i * step : i * step + len(one)] += one
    out *= dbfs_to_amplitude(PEAK_DBFS) / np.abs(out).max()
    return out.astype(np.float32)


def _strike(sample_rate: int) -> FloatArray:
    n = round(RING_S * sample_rate)
    t = np.arange(n) / sample_rate
    x = np.zeros(n)
    for ratio, amplitude, tau in PARTIALS:
        freq = FUNDAMENTAL_HZ * ratio
        if freq < 0.45 * sample_rate:  # skip partials that would alias
            x += amplitude * np.exp(-t / tau) * np.sin(2 * np.pi * freq * t)
    # A raised-cosine attack from exact zero is soft, yet the onset stays at sample 0;
    # the release takes what is left of the ring to zero, so the clip ends without a click.
    return fade(
        x.astype(np.float32),
        fade_in=round(ATTACK_S * sample_rate),
        fade_out=round(RELEASE_S * sample_rate),
    )
