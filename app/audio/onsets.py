"""Onset detection: where does sound start after a stretch of quiet.

An energy detector: RMS over a 10 ms window, 1 ms hop, threshold
-45 dBFS, and at least 0.8 s of quiet before a new onset counts. The window trails its
hop (it covers the 10 ms *before* the hop), and the onset is then refined to the first
sample in that window whose magnitude reaches the threshold, so a sharp attack at sample
k is reported at k rather than a window length early or late.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from app.audio.levels import dbfs_to_amplitude

WINDOW_S = 0.010
HOP_S = 0.001


def hop_energy(samples: npt.NDArray[np.floating], hop: int) -> npt.NDArray[np.float64]:
    """Sum of squares per block of `hop` samples; a trailing partial block is dropped."""
    blocks = np.asarray(samples, dtype=np.float32)[: len(samples) // hop * hop].reshape(-1, hop)
    # einsum sums the squares without a signal-sized temporary.
    return np.einsum("ij,ij->i", blocks, blocks).astype(np.float64)


def window_rms(
    samples: npt.NDArray[np.floating], sample_rate: int
) -> tuple[npt.NDArray[np.float64], int, int]:
    """RMS of the 10 ms window ending at each 1 ms hop; returns (rms, hop, window) in samples.

    Entry i covers samples [(i + 1) * hop - window, (i + 1) * hop), zeros before the start.
    """
    hop = max(1, round(sample_rate * HOP_S))
    hops_per_window = max(1, round(WINDOW_S / HOP_S))
    energy = hop_energy(samples, hop)
    csum = np.concatenate(([0.0], np.cumsum(energy)))
    ends = np.arange(1, len(energy) + 1)
    starts = np.maximum(ends - hops_per_window, 0)
    window = hop * hops_per_window
    mean_square = np.maximum(csum[ends] - csum[starts], 0.0) / window
    return np.sqrt(mean_square), hop, window


def detect_onsets(
    samples: npt.NDArray[np.floating],
    sample_rate: int,
    threshold_dbfs: float = -45.0,
    min_quiet_s: float = 0.8,
) -> list[float]:
    """Onset times in seconds: sound above the threshold after at least `min_quiet_s` of quiet.

    The start of the signal counts as quiet, so sound at sample 0 is an onset.
    """
    x = np.asarray(samples, dtype=np.float32)
    rms, hop, window = window_rms(x, sample_rate)
    threshold = dbfs_to_amplitude(threshold_dbfs)
    loud = np.flatnonzero(rms >= threshold)
    if loud.size == 0:
        return []
    min_quiet_hops = round(min_quiet_s / HOP_S)
    # A loud hop starts a new onset when the previous loud hop is far enough back.
    gaps = np.diff(loud, prepend=-min_quiet_hops - 1) - 1
    first_hops = loud[gaps >= min_quiet_hops]
    onsets = []
    for i in first_hops:
        end = (int(i) + 1) * hop
        start = max(0, end - window)
        above = np.flatnonzero(np.abs(x[start:end]) >= threshold)
        # The window's RMS reached the threshold, so some sample in it did too.
        offset = int(above[0]) if above.size else end - start
        onsets.append((start + offset) / sample_rate)
    return onsets
