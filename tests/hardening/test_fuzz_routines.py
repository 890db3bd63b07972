"""Fuzz the routine parser, the cue-script compiler and the session options of the API.

No input may crash them or hang them: the parser validates or raises ValidationError, the
compiler returns a script that keeps its invariants or raises CompileError, and the API
answers 200 or a 404/422 envelope, never a 500.
"""

import json
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.main import create_app
from app.routines.catalog import BUILTIN_DIR
from app.routines.compiler import CompiledSession, CompileError, compile_session
from app.routines.definition import CUE_DENSITIES, Routine
from tests.conftest import make_settings

# A hang shows up as a deadline failure instead of a stuck run.
FAST = settings(max_examples=200, deadline=timedelta(milliseconds=500), database=None,
                derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
BUILTIN_JSON = {path.stem: json.loads(path.read_text(encoding="utf-8"))
                for path in sorted(BUILTIN_DIR.glob("*.json"))}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=15), children, max_size=5),
    max_leaves=30,
)


def parse(document: str | bytes) -> Routine | None:
    """The parser's contract: a Routine or a ValidationError; anything else propagates."""
    try:
        return Routine.model_validate_json(document)
    except ValidationError:
        return None


# --- the parser ----------------------------------------------------------------------------

@FAST
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_any_bytes_parse_or_fail_validation(document: bytes | str) -> None:
    parse(document)


@FAST
@given(json_values)
def test_any_json_parses_or_fails_validation(value: Any) -> None:
    parse(json.dumps(value))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _mutated(document: Any, path: tuple[Any, ...], how: str, new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(document))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "duplicate" and isinstance(parent, list):
        parent.insert(last, parent[last])
    else:
        parent[last] = new
    return copy


@st.composite
def mutated_builtins(draw: st.DrawFn) -> Any:
    """A built-in routine with a few values replaced, removed or duplicated."""
    document = draw(st.sampled_from(sorted(BUILTIN_JSON)).map(BUILTIN_JSON.__getitem__))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(_paths(document))))
        how = draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if how == "delete" and not path:
            continue
        new = draw(json_values | st.integers(-5, 700) | st.floats(-1e6, 1e6, allow_nan=False))
        document = _mutated(document, path, how, new)
    return document


@FAST
@given(mutated_builtins())
def test_mutated_builtin_routines_parse_or_fail_validation(document: Any) -> None:
    parse(json.dumps(document))


# --- the compiler --------------------------------------------------------------------------

lines = st.lists(st.fixed_dictionaries(
    {"text": st.text(min_size=1, max_size=80), "essential": st.booleans()}), max_size=4)


@st.composite
def routines(draw: st.DrawFn) -> Routine:
    """Valid routines of any shape: fixed and weighted phases, any lines and lengths."""
    low = draw(st.integers(1, 120))
    high = draw(st.integers(low, 120))
    rec_low = draw(st.integers(low, high))
    rec_high = draw(st.integers(rec_low, high))
    phases = []
    for index in range(draw(st.integers(1, 6))):
        fixed = draw(st.booleans())
        phases.append({
            "id": f"p{index}",
            "title": f"Phase {index}",
            "fixed_s": draw(st.floats(0.5, 600)) if fixed else None,
            "weight": None if fixed else draw(st.floats(0.01, 100)),
            "min_s": draw(st.floats(5, 600)),
            "bell_strikes": draw(st.integers(0, 3)),
            "opening": draw(lines), "reminders": draw(lines), "closing": draw(lines),
        })
    document = {
        "id": "fuzzed", "title": "Fuzzed", "summary": "A generated routine.",
        "minutes": {"min": low, "max": high, "recommended_min": rec_low,
                    "recommended_max": rec_high, "default": draw(st.integers(rec_low, rec_high))},
        "intro": draw(lines), "phases": phases,
    }
    routine = parse(json.dumps(document))
    assume(routine is not None)
    assert routine is not None
    return routine


@st.composite
def speech_functions(draw: st.DrawFn) -> Any:
    """Any positive speaking time: a base, a pace per word, and a per-line wobble."""
    base = draw(st.floats(0.05, 20))
    per_word = draw(st.floats(0, 3))
    wobble = draw(st.floats(0, 10))

    def speech_s(text: str) -> float:
        jitter = (zlib.crc32(text.encode()) % 1000) / 1000 * wobble
        return base + per_word * len(text.split()) + jitter

    return speech_s


def assert_invariants(script: CompiledSession, minutes: int, prep_s: int) -> None:
    assert script.duration_s == prep_s + minutes * 60
    starts = [cue.at_s for cue in script.cues]
    assert starts == sorted(starts), "cues out of order"
    for cue in script.cues:
        assert cue.at_s >= 0 and cue.end_s <= script.duration_s, cue
    # The phases tile the session: from 0 to the end, each starting where the last ended.
    spans = script.phases
    assert spans[0].start_s == 0 and spans[-1].end_s == script.duration_s
    for before, after in zip(spans, spans[1:], strict=False):
        assert before.end_s == after.start_s
    assert all(span.start_s < span.end_s for span in spans), spans


@FAST
@given(routine=routines(), data=st.data(), cues=st.sampled_from(CUE_DENSITIES),
       prep_s=st.integers(0, 300), speech_s=speech_functions())
def test_compiled_scripts_keep_their_invariants(routine: Routine, data: st.DataObject,
                                                cues: str, prep_s: int, speech_s: Any) -> None:
    minutes = data.draw(st.integers(routine.minutes.min, routine.minutes.max), label="minutes")
    try:
        script = compile_session(routine, minutes, cues, prep_s, speech_s)  # type: ignore[arg-type]
    except CompileError:
        event("CompileError")
        return
    assert_invariants(script, minutes, prep_s)


@FAST
@given(name=st.sampled_from(sorted(BUILTIN_JSON)), data=st.data(),
       cues=st.sampled_from(CUE_DENSITIES), prep_s=st.integers(0, 300),
       speech_s=speech_functions())
def test_builtin_scripts_keep_their_invariants(name: str, data: st.DataObject, cues: str,
                                               prep_s: int, speech_s: Any) -> None:
    routine = Routine.model_validate(BUILTIN_JSON[name])
    minutes = data.draw(st.integers(routine.minutes.min, routine.minutes.max), label="minutes")
    try:
        script = compile_session(routine, minutes, cues, prep_s, speech_s)  # type: ignore[arg-type]
    except CompileError:
        event("CompileError")
        return
    assert_invariants(script, minutes, prep_s)


# --- the session options of the API --------------------------------------------------------

@pytest.fixture(scope="module")
def voiceless_client(tmp_path_factory: pytest.TempPathFactory,
                     speech_cache: Path) -> Iterator[TestClient]:
    # Without the voice a render is bells and captions only: cheap enough to fuzz. Every valid
    # example may be a new session, all from one address: a render budget no run reaches.
    settings = make_settings(tmp_path_factory.mktemp("fuzz-session"), speech_cache,
                             voice_enabled=False, render_limit_per_address=100_000)
    with TestClient(create_app(settings)) as client:
        yield client


def option(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.none() | valid | st.text(max_size=20) | st.integers(-10**30, 10**30).map(str) \
        | st.floats().map(str)


@settings(max_examples=150, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(routine_id=st.sampled_from(["quick-reset", "classic", "no-such-routine"])
       | st.text(min_size=1, max_size=20),
       # Valid values stay in quick-reset's short range, so the renders they cause are cheap.
       minutes=option(st.sampled_from(["3", "4", "10", "0", "11", "121", "3.0", " 5"])),
       cues=option(st.sampled_from(["bells", "BELLS", "guided", "sparse", "bells "])),
       prep=option(st.sampled_from(["0", "300", "301", "-1", "1e2", "30"])))
def test_session_options_answer_200_or_an_envelope(
    voiceless_client: TestClient, routine_id: str, minutes: str | None, cues: str | None,
    prep: str | None,
) -> None:
    assume(routine_id not in {".", ".."})  # dot segments name another path, not a routine
    params = {name: value for name, value in
              (("minutes", minutes), ("cues", cues), ("prep", prep)) if value is not None}
    response = voiceless_client.get(f"/api/routines/{quote(routine_id, safe='')}/session",
                                    params=params)
    event(f"status {response.status_code}")
    assert response.status_code in {200, 404, 422}, response.text
    body = response.json()
    if response.status_code == 200:
        assert body["routine_id"] == routine_id
        assert body["cue_density"] == (cues or "guided")
    else:
        assert isinstance(body["error"], str) and isinstance(body["detail"], str)


def test_a_phase_with_a_tiny_share_still_gets_its_minimum() -> None:
    """Found by the fuzzer: six weighted phases in one minute left the last with 0 s."""
    phases = [{"id": f"p{i}", "title": f"Phase {i}", "weight": weight, "min_s": 5}
              for i, weight in enumerate([1, 1, 1, 1, 31, 1])]
    routine = Routine.model_validate({
        "id": "crowded", "title": "Crowded", "summary": "Many phases.", "phases": phases,
        "minutes": {"min": 1, "max": 1, "default": 1, "recommended_min": 1,
                    "recommended_max": 1},
    })
    script = compile_session(routine, 1, "bells", 0, lambda text: 1.0)
    assert [p.end_s - p.start_s >= 5 for p in script.phases] == [True] * 6
