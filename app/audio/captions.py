"""WebVTT captions for the voice cues (https://www.w3.org/TR/webvtt1/)."""

from __future__ import annotations

from collections.abc import Sequence


def webvtt(cues: Sequence[tuple[float, float, str]]) -> str:
    """A WebVTT file with one cue per (start_s, end_s, text), in start order.

    Text is escaped (&, <, >) and folded onto one line: a blank line would end the cue
    early, and "-->" inside text would read as a timing line.
    """
    blocks = ["WEBVTT\n"]
    for start_s, end_s, text in sorted(cues, key=lambda cue: cue[0]):
        start_ms, end_ms = round(start_s * 1000), round(end_s * 1000)
        # Checked after rounding: the file itself must show the end after the start.
        if start_ms < 0 or end_ms <= start_ms:
            raise ValueError(f"bad cue timing {start_s} -> {end_s}")
        line = " ".join(_escape(text).split())
        blocks.append(f"{_timestamp(start_ms)} --> {_timestamp(end_ms)}\n{line}\n")
    return "\n".join(blocks)


def _timestamp(ms: int) -> str:
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
