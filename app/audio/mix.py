"""Track assembly: clips placed on a silent timeline at exact sample positions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.audio.levels import FloatArray, fade, soft_limit

# Overlapping clips may sum past full scale: bend the sum above -1 dBFS so it never
# reaches 1.0. A mix that stays below the knee passes through unchanged.
LIMIT_KNEE_DBFS = -1.0
LIMIT_CEILING_DBFS = -0.1
# A clip cut at the end of the track gets this fade-out instead of a click.
CUT_FADE_S = 0.020


def mix_track(
    duration_s: float,
    placements: Sequence[tuple[float, FloatArray]],
    sample_rate: int,
) -> FloatArray:
    """Silence of round(duration_s * sample_rate) samples with each clip added at
    round(at_s * sample_rate).

    A clip that runs past the end is cut there (with a short fade-out), so a ringing
    bell never lengthens the track. A clip starting before 0 or at/after the end is
    a caller error and raises ValueError.
    """
    n = round(duration_s * sample_rate)
    if n < 0:
        raise ValueError("duration_s must not be negative")
    track = np.zeros(n, dtype=np.float32)
    cut_fade = round(CUT_FADE_S * sample_rate)
    for at_s, clip in placements:
        start = round(at_s * sample_rate)
        if not 0 <= start < n:
            raise ValueError(f"clip at {at_s} s is outside the {duration_s} s track")
        part = np.asarray(clip, dtype=np.float32)[: n - start]
        if len(part) < len(clip):
            part = fade(part.copy(), fade_out=cut_fade)
        track[start : start + len(part)] += part
    return soft_limit(track, LIMIT_KNEE_DBFS, LIMIT_CEILING_DBFS, in_place=True)
