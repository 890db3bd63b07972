"""Compile a routine plus session options into a cue script: the timeline the audio follows.

Offsets are computed from the routine's phases and the spoken length of each line, never
hand-timed per length, so every length from the routine's minimum to its maximum works.
"""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from app.errors import AppError
from app.routines.definition import CueDensity, Line, Phase, Routine

SpeechSeconds = Callable[[str], float]

BELL_S = 5.0  # how long one bell rings out before a voice may start over its tail
BELL_LEAD_S = 2.5  # a voice may begin this long after a bell strike
STRIKE_SPACING_S = 2.5  # time between strikes of a multi-strike bell
GAP_S = {"guided": 3.0, "sparse": 4.0}  # pause between lines spoken one after another
REMINDER_EVERY_S = {"guided": 100.0, "sparse": 300.0}
CLOSING_MARGIN_S = 3.0  # quiet kept between the last closing line and the phase's end
MIN_GAP_S = 1.0  # no two cues may be closer than this


class CompileError(AppError):
    """The routine cannot fit the requested length (a data error, or a length out of range)."""

    code = "SESSION_DOES_NOT_FIT"
    status_code = 422


@dataclass(frozen=True)
class CueAt:
    at_s: float
    kind: Literal["voice", "bell"]
    text: str
    phase: str
    duration_s: float
    strikes: int = 0

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s


@dataclass(frozen=True)
class PhaseSpan:
    id: str
    title: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class CompiledSession:
    duration_s: float
    phases: list[PhaseSpan]
    cues: list[CueAt] = field(default_factory=list)


def estimated_speech_seconds(text: str) -> float:
    """A calm speaking pace; used when no voice is installed (captions still need an end)."""
    return round(0.4 + len(text.split()) / 2.4, 3)


def lines_asked_for(routine: Routine, minutes: int, cues: CueDensity, prep_s: int) -> list[str]:
    """The lines compile_session asks the length of, laid out at the estimated pace. With
    the voice's own lengths a phase may have room for another reminder: the layout asks
    for that one itself."""
    asked: dict[str, None] = {}

    def estimate(text: str) -> float:
        asked[text] = None
        return estimated_speech_seconds(text)

    # A layout that does not fit at this pace still names the lines it asked for so far;
    # the real one decides whether the session fits.
    with contextlib.suppress(CompileError):
        compile_session(routine, minutes, cues, prep_s, estimate)
    return list(asked)


def bell_seconds(strikes: int) -> float:
    return BELL_S + STRIKE_SPACING_S * (strikes - 1)


def phase_lengths(routine: Routine, total_s: float) -> list[float]:
    """Split the session into phases: fixed phases first, weighted ones share the rest."""
    fixed = sum(p.fixed_s or 0 for p in routine.phases)
    weighted_min = sum(p.min_s for p in routine.phases if p.weight)
    # A short session shrinks the fixed phases (never below their minimum) to leave
    # at least 40 % of the time for the rest itself.
    scale = min(1.0, 0.6 * total_s / fixed) if fixed else 1.0
    lengths = [max(p.min_s, p.fixed_s * scale) if p.fixed_s else 0.0 for p in routine.phases]
    left = total_s - sum(lengths)
    if left < weighted_min:
        raise CompileError(f"{routine.id}: {total_s / 60:g} minutes is too short for its phases")
    # Weighted phases share what is left by weight; one whose share falls below its
    # minimum is held at the minimum and the others share the remainder.
    free = {i for i, p in enumerate(routine.phases) if p.weight}
    while free:
        weight = sum(routine.phases[i].weight or 0 for i in free)
        short = {
            i
            for i in free
            if left * (routine.phases[i].weight or 0) / weight < routine.phases[i].min_s
        }
        if not short:
            for i in free:
                lengths[i] = left * (routine.phases[i].weight or 0) / weight
            break
        for i in short:
            lengths[i] = routine.phases[i].min_s
            left -= routine.phases[i].min_s
        free -= short
    # Whole seconds for phase boundaries; the last phase absorbs the rounding.
    rounded = [float(round(x)) for x in lengths]
    rounded[-1] = total_s - sum(rounded[:-1])
    # Tiny weighted shares can round to nothing (or below): a phase of no time is an error.
    if min(rounded) < 1:
        raise CompileError(f"{routine.id}: {total_s / 60:g} minutes is too short for its phases")
    return rounded


def _lines(lines: tuple[Line, ...], cues: CueDensity) -> list[Line]:
    if cues == "bells":
        return []
    if cues == "sparse":
        return [line for line in lines if line.essential]
    return list(lines)


def _phase_cues(
    phase: Phase, start: float, end: float, cues: CueDensity, speech_s: SpeechSeconds
) -> list[CueAt]:
    placed: list[CueAt] = []
    t = start
    if phase.bell_strikes:
        placed.append(
            CueAt(t, "bell", "", phase.id, bell_seconds(phase.bell_strikes), phase.bell_strikes)
        )
        t += BELL_LEAD_S + STRIKE_SPACING_S * (phase.bell_strikes - 1)
    if cues == "bells":
        return placed
    gap = GAP_S[cues]

    for line in _lines(phase.opening, cues):
        d = speech_s(line.text)
        placed.append(CueAt(t, "voice", line.text, phase.id, d))
        t += d + gap

    closing = _lines(phase.closing, cues)
    durations = [speech_s(line.text) for line in closing]
    closing_start = end - CLOSING_MARGIN_S - sum(durations) - gap * max(0, len(closing) - 1)
    closing_start = max(closing_start, t)

    # Reminders are spread evenly over the quiet middle of the phase.
    window_start, window_end = t + gap, closing_start - gap
    window = window_end - window_start
    pool = phase.reminders  # sparse takes fewer of them, not only the essential ones
    count = min(len(pool), int(window // REMINDER_EVERY_S[cues])) if window > 0 else 0
    if count:
        slot = window / count
        for i, line in enumerate(pool[:count]):
            d = speech_s(line.text)
            at = window_start + slot * (i + 0.5) - d / 2
            placed.append(CueAt(round(at, 3), "voice", line.text, phase.id, d))

    t = closing_start
    for line, d in zip(closing, durations, strict=True):
        placed.append(CueAt(round(t, 3), "voice", line.text, phase.id, d))
        t += d + gap
    return placed


def compile_session(
    routine: Routine, minutes: int, cues: CueDensity, prep_s: int, speech_s: SpeechSeconds
) -> CompiledSession:
    total_s = float(minutes * 60)
    duration_s = prep_s + total_s
    timeline: list[CueAt] = []

    intro = _lines(routine.intro, cues)
    intro_s = sum(speech_s(line.text) for line in intro) + MIN_GAP_S * len(intro)
    # The intro plays during the preparation time; with too little time it is left out.
    if intro and intro_s + MIN_GAP_S <= prep_s:
        t = 0.0
        for line in intro:
            d = speech_s(line.text)
            timeline.append(CueAt(round(t, 3), "voice", line.text, "prepare", d))
            t += d + MIN_GAP_S

    spans: list[PhaseSpan] = []
    if prep_s:
        spans.append(PhaseSpan("prepare", "Getting ready", 0.0, float(prep_s)))
    start = float(prep_s)
    for phase, length in zip(routine.phases, phase_lengths(routine, total_s), strict=True):
        end = start + length
        spans.append(PhaseSpan(phase.id, phase.title, start, end))
        timeline.extend(_phase_cues(phase, start, end, cues, speech_s))
        start = end

    timeline.sort(key=lambda cue: cue.at_s)
    for before, after in zip(timeline, timeline[1:], strict=False):
        voice_overlap = (
            before.kind == after.kind == "voice" and after.at_s < before.end_s + MIN_GAP_S
        )
        if voice_overlap or after.at_s - before.at_s < MIN_GAP_S:
            raise CompileError(
                f"{routine.id} at {minutes} min: cue at {after.at_s:.1f}s crowds the one before"
            )
    if timeline and timeline[-1].end_s > duration_s:
        raise CompileError(f"{routine.id} at {minutes} min: the last cue runs past the end")
    return CompiledSession(duration_s=duration_s, phases=spans, cues=timeline)
