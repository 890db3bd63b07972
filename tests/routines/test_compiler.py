import pytest

from app.routines.catalog import builtin_routines
from app.routines.compiler import (
    MIN_GAP_S,
    CompileError,
    compile_session,
    estimated_speech_seconds,
    lines_asked_for,
    phase_lengths,
)
from app.routines.definition import CUE_DENSITIES, Routine

ROUTINES = list(builtin_routines().values())


def lengths_of(routine: Routine) -> list[int]:
    m = routine.minutes
    return sorted({m.min, m.default, m.max})


def slow_speech(text: str) -> float:
    """A slower voice than the estimate, so the layout is tested with room to spare."""
    return estimated_speech_seconds(text) * 1.4


CASES = [
    (routine, minutes, cues)
    for routine in ROUTINES
    for minutes in lengths_of(routine)
    for cues in CUE_DENSITIES
]


@pytest.mark.parametrize(
    ("routine", "minutes", "cues"), CASES, ids=[f"{r.id}-{m}-{c}" for r, m, c in CASES]
)
class TestEveryBuiltinLength:
    def test_cues_are_inside_the_session_and_in_order(self, routine, minutes, cues):
        script = compile_session(routine, minutes, cues, 30, slow_speech)
        assert script.duration_s == 30 + minutes * 60
        offsets = [cue.at_s for cue in script.cues]
        assert offsets == sorted(offsets)
        assert all(cue.at_s >= 0 and cue.end_s <= script.duration_s for cue in script.cues)

    def test_voices_never_overlap(self, routine, minutes, cues):
        voices = [
            c
            for c in compile_session(routine, minutes, cues, 30, slow_speech).cues
            if c.kind == "voice"
        ]
        for before, after in zip(voices, voices[1:], strict=False):
            assert after.at_s >= before.end_s + MIN_GAP_S

    def test_phases_tile_the_session(self, routine, minutes, cues):
        script = compile_session(routine, minutes, cues, 30, slow_speech)
        assert script.phases[0].start_s == 0
        assert script.phases[-1].end_s == script.duration_s
        for before, after in zip(script.phases, script.phases[1:], strict=False):
            assert before.end_s == after.start_s
        for cue in script.cues:
            span = next(p for p in script.phases if p.id == cue.phase)
            assert span.start_s <= cue.at_s < span.end_s

    def test_the_lines_asked_for_are_those_the_layout_asks_for(self, routine, minutes, cues):
        # At the estimated pace; with the real voice's lengths, a new session's lines are
        # all made before the layout (tests/routines/test_router.py).
        asked: list[str] = []

        def spoken(text: str) -> float:
            asked.append(text)
            return estimated_speech_seconds(text)

        script = compile_session(routine, minutes, cues, 30, spoken)
        lines = lines_asked_for(routine, minutes, cues, 30)
        assert lines == list(dict.fromkeys(asked))
        assert {c.text for c in script.cues if c.kind == "voice"} <= set(lines)
        assert (lines == []) == (cues == "bells")


class TestDensities:
    def test_bells_only_has_no_voice(self):
        routine = builtin_routines()["classic"]
        script = compile_session(routine, 15, "bells", 30, estimated_speech_seconds)
        assert {cue.kind for cue in script.cues} == {"bell"}

    def test_sparse_speaks_less_than_guided(self):
        routine = builtin_routines()["classic"]
        guided = compile_session(routine, 20, "guided", 30, estimated_speech_seconds)
        sparse = compile_session(routine, 20, "sparse", 30, estimated_speech_seconds)
        count = lambda s: sum(c.kind == "voice" for c in s.cues)  # noqa: E731
        assert 0 < count(sparse) < count(guided)

    def test_the_session_ends_with_the_closing_bell_and_the_way_up(self):
        routine = builtin_routines()["classic"]
        script = compile_session(routine, 15, "guided", 30, estimated_speech_seconds)
        last_bell = [c for c in script.cues if c.kind == "bell"][-1]
        assert last_bell.phase == "return"
        after_bell = [c.text for c in script.cues if c.at_s > last_bell.at_s]
        assert any("roll onto one side" in text for text in after_bell)


class TestScaling:
    def test_longer_sessions_give_the_rest_more_time_not_the_setup(self):
        routine = builtin_routines()["classic"]
        short, long = phase_lengths(routine, 10 * 60), phase_lengths(routine, 20 * 60)
        ids = [p.id for p in routine.phases]
        assert short[ids.index("setup")] == long[ids.index("setup")]
        assert long[ids.index("rest")] > 1.8 * short[ids.index("rest")]

    def test_every_phase_gets_at_least_its_minimum(self):
        for routine in ROUTINES:
            for minutes in range(routine.minutes.min, routine.minutes.max + 1):
                lengths = phase_lengths(routine, minutes * 60)
                for phase, length in zip(routine.phases, lengths, strict=True):
                    assert length >= phase.min_s - 1, (routine.id, minutes, phase.id)

    def test_leg_slide_switches_sides_in_order(self):
        routine = builtin_routines()["leg-slide"]
        script = compile_session(routine, 20, "guided", 30, estimated_speech_seconds)
        order = [p.id for p in script.phases]
        assert order.index("right-long") < order.index("left-long")
        texts = [c.text for c in script.cues]
        slide_right = next(i for i, t in enumerate(texts) if "slide your right heel along" in t)
        back_right = next(i for i, t in enumerate(texts) if "right heel back in" in t)
        slide_left = next(i for i, t in enumerate(texts) if "slide your left heel along" in t)
        back_left = next(i for i, t in enumerate(texts) if "left heel back in" in t)
        assert slide_right < back_right < slide_left < back_left

    def test_leg_phases_are_equal(self):
        routine = builtin_routines()["leg-slide"]
        script = compile_session(routine, 30, "guided", 30, estimated_speech_seconds)
        spans = {p.id: p.end_s - p.start_s for p in script.phases}
        assert spans["right-long"] == pytest.approx(spans["left-long"], abs=1)


class TestPreparation:
    def test_intro_plays_during_a_long_enough_preparation(self):
        routine = builtin_routines()["classic"]
        script = compile_session(routine, 15, "guided", 30, estimated_speech_seconds)
        assert script.cues[0].phase == "prepare" and script.cues[0].at_s == 0
        assert script.phases[1].start_s == 30

    def test_no_preparation_starts_with_the_bell(self):
        routine = builtin_routines()["classic"]
        script = compile_session(routine, 15, "guided", 0, estimated_speech_seconds)
        assert script.cues[0].kind == "bell" and script.cues[0].at_s == 0
        assert script.duration_s == 15 * 60


class TestDeterminism:
    def test_same_inputs_same_script(self):
        routine = builtin_routines()["leg-slide"]
        first = compile_session(routine, 25, "sparse", 45, estimated_speech_seconds)
        second = compile_session(routine, 25, "sparse", 45, estimated_speech_seconds)
        assert first == second


class TestLinesAskedFor:
    def test_a_session_that_does_not_fit_names_the_lines_asked_for_before_it_failed(self):
        classic = builtin_routines()["classic"]
        # So much preparation that the intro's lines are asked for (and fit), but the
        # phases do not fit the minutes left: the layout fails after the intro.
        with pytest.raises(CompileError):
            compile_session(classic, 1, "guided", 30, estimated_speech_seconds)
        assert lines_asked_for(classic, 1, "guided", 30) == [line.text for line in classic.intro]


class TestTooShort:
    def test_a_length_below_what_the_phases_need_is_refused(self):
        routine = builtin_routines()["leg-slide"]
        with pytest.raises(CompileError):
            compile_session(routine, 2, "guided", 0, estimated_speech_seconds)
