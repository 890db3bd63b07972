import re

import pytest

from app.audio.captions import webvtt

TIMING = re.compile(
    r"^(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})$"
)


def parse(vtt: str) -> list[tuple[str, str]]:
    """A strict reading of the subset we write: header block, then timing + one text line."""
    blocks = vtt.rstrip("\n").split("\n\n")
    assert blocks[0] == "WEBVTT"
    assert vtt.endswith("\n") and not vtt.endswith("\n\n\n")
    cues = []
    for block in blocks[1:]:
        timing, text = block.split("\n")
        assert TIMING.match(timing), timing
        cues.append((timing, text))
    return cues


class TestWebvtt:
    def test_one_cue_per_voice_cue_in_vtt_structure(self) -> None:
        vtt = webvtt([(1.0, 3.5, "Lie down."), (65.25, 70.0, "Let your head be heavy.")])
        assert parse(vtt) == [
            ("00:00:01.000 --> 00:00:03.500", "Lie down."),
            ("00:01:05.250 --> 00:01:10.000", "Let your head be heavy."),
        ]

    def test_no_cues_is_a_valid_empty_file(self) -> None:
        assert parse(webvtt([])) == []

    def test_hours_and_milliseconds_are_rounded_timestamps(self) -> None:
        [(timing, _)] = parse(webvtt([(3723.4564, 3725.0004, "x")]))
        assert timing == "01:02:03.456 --> 01:02:05.000"

    def test_markup_characters_are_escaped(self) -> None:
        [(_, text)] = parse(webvtt([(0.0, 1.0, "Knees & feet <b>--> rest")]))
        assert text == "Knees &amp; feet &lt;b&gt;--&gt; rest"

    def test_line_breaks_are_folded_so_the_cue_does_not_end_early(self) -> None:
        [(_, text)] = parse(webvtt([(0.0, 1.0, "Breathe out.\n\nRest.")]))
        assert text == "Breathe out. Rest."

    def test_cues_come_out_in_start_order(self) -> None:
        cues = parse(webvtt([(10.0, 11.0, "second"), (2.0, 3.0, "first")]))
        assert [text for _, text in cues] == ["first", "second"]

    @pytest.mark.parametrize(("start", "end"), [(2.0, 2.0), (2.0, 1.0), (-1.0, 1.0), (1.0, 1.0004)])
    def test_empty_or_negative_timing_is_refused(self, start: float, end: float) -> None:
        with pytest.raises(ValueError):
            webvtt([(start, end, "x")])
