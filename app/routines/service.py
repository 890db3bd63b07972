"""Routines and their session scripts: compile, render once, serve warm from memory."""

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from functools import lru_cache

import anyio
from pydantic import TypeAdapter
from sqlalchemy import text
from sqlmodel import Session

from app.audio.render import RENDERER_VERSION, render_media
from app.audio.store import MediaStore
from app.audio.tts import SpeechVoice
from app.auth.rate_limit import AddressBudget, TooManyAttempts
from app.db import insert_unless_taken
from app.errors import AppError, InvalidOptions, NotFound
from app.models import RenderedSession
from app.models.media import utc_now
from app.observability.metrics import observe_render
from app.routines.catalog import builtin_routines
from app.routines.compiler import (
    compile_session,
    estimated_speech_seconds,
    lines_asked_for,
)
from app.routines.definition import CUE_DENSITIES, Routine
from app.routines.schemas import (
    AudioOut,
    CueOut,
    MinutesOut,
    PhaseOutline,
    PhaseSpanOut,
    RoutinePublic,
    SessionDefaults,
    SessionOptions,
    SessionScriptOut,
    VoiceOut,
)

log = logging.getLogger(__name__)

# Beside the media files: one empty file per session rendered on SQLite, its lock across
# the workers of one host (the media router serves only names of sha256 and extension).
RENDER_LOCKS = ".render-locks"


class TooManyNewSessions(AppError):
    code = "TOO_MANY_NEW_SESSIONS"
    status_code = 429


def get_routine(routine_id: str) -> Routine:
    routine = builtin_routines().get(routine_id)
    if routine is None:
        raise NotFound(f"No routine called {routine_id!r}.")
    return routine


def routine_public(routine: Routine) -> RoutinePublic:
    return RoutinePublic(
        id=routine.id,
        title=routine.title,
        summary=routine.summary,
        minutes=MinutesOut(**routine.minutes.model_dump()),
        cue_densities=list(CUE_DENSITIES),
        defaults=SessionDefaults(
            minutes=routine.minutes.default,
            cues=routine.default_cues,
            prep_s=routine.default_prep_s,
        ),
        phases=[PhaseOutline(id=p.id, title=p.title) for p in routine.phases],
    )


def list_routines() -> list[RoutinePublic]:
    return [routine_public(r) for r in builtin_routines().values()]


@lru_cache(maxsize=1)
def routines_json() -> bytes:
    """The built-in routines never change while the app runs: serialised once."""
    return TypeAdapter(list[RoutinePublic]).dump_json(list_routines())


def check_options(routine: Routine, options: SessionOptions) -> None:
    low, high = routine.minutes.min, routine.minutes.max
    if not low <= options.minutes <= high:
        raise InvalidOptions(
            f"minutes must be between {low} and {high} for {routine.title}, got {options.minutes}."
        )


class SessionScripts:
    """Hands out session scripts; renders each distinct session once per cluster.

    A render costs seconds of CPU, so each client address has a budget of them
    (`budget`, None for no limit) and at most `render_concurrency` run at once here.
    """

    def __init__(self, store: MediaStore, voice: SpeechVoice | None,
                 budget: AddressBudget | None = None, render_concurrency: int = 1,
                 memory_size: int = 256):
        self.store = store
        self.voice = voice
        self.budget = budget
        # Taken by the route before it takes a database slot (a waiting render holds none).
        self.render_turns = anyio.Semaphore(render_concurrency)
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._memory_size = memory_size
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def version(self, routine: Routine, options: SessionOptions) -> str:
        """The hash of everything that decides the audio bytes."""
        voice_id = self.voice.id if self.voice and options.cues != "bells" else None
        inputs = {
            "renderer": RENDERER_VERSION,
            "routine": _routine_digest(routine),
            "options": options.model_dump(),
            "voice": voice_id,
        }
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:24]

    def remembered(self, routine: Routine, options: SessionOptions) -> bytes | None:
        """The script from this instance's memory, or None: no database, no thread."""
        check_options(routine, options)
        return self._memory.get(self.version(routine, options))

    def script_json(
        self, db: Session, routine: Routine, options: SessionOptions, address: str
    ) -> bytes:
        """The script from memory, the database, or a new render charged to `address`."""
        check_options(routine, options)
        version = self.version(routine, options)
        cached = self._memory.get(version)
        if cached is not None:
            return cached
        with self._lock_for(version):
            cached = self._memory.get(version) or self._load_or_render(
                db, routine, options, version, address
            )
        self._remember(version, cached)
        return cached

    def _load_or_render(
        self, db: Session, routine: Routine, options: SessionOptions, version: str, address: str
    ) -> bytes:
        with self._rendering_alone(db, version):
            stored = db.get(RenderedSession, version)
            if stored is not None:
                return stored.script_json.encode()
            self._spend_render(address)
            try:
                with observe_render(routine.id, options.cues):
                    body = self._render(db, routine, options, version)
                # Should another process have stored it all the same (one whose data
                # directory is not this one's, on the same SQLite file), its row stays.
                db.execute(insert_unless_taken(db, RenderedSession, "version").values(
                    version=version,
                    routine_id=routine.id,
                    minutes=options.minutes,
                    cue_density=options.cues,
                    prep_s=options.prep_s,
                    script_json=body.decode(),
                    created_at=utc_now(),
                ))
                # Committed here, under the locks: whoever asks next (this process or
                # another) finds it stored, and this process remembers only what every
                # instance can serve.
                db.commit()
            except BaseException:
                if self.budget is not None:
                    self.budget.refund(address)  # a render that failed cost the address nothing
                raise
            return body

    @contextlib.contextmanager
    def _rendering_alone(self, db: Session, version: str) -> Iterator[None]:
        """Other instances and workers asking for the same new session wait here until it
        is stored, instead of rendering it again and charging it to their address too."""
        if db.get_bind().dialect.name == "postgresql":
            # Held until db's transaction ends (the commit of the render, or its rollback).
            db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int(version[:15], 16)})
            yield
            return
        # Workers sharing a SQLite file share the data directory: a lock file there.
        lock_file = self._render_lock_file(version)
        if lock_file is None:
            yield  # unlocked, as before there were locks: the first render stored stays
            return
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock_file)  # and the lock with it, whatever happened meanwhile

    def _render_lock_file(self, version: str) -> int | None:
        """The session's lock file, opened; None where it cannot be (a directory this
        process may not write to): a session already stored must still be served."""
        locks = self.store.directory / RENDER_LOCKS
        try:
            locks.mkdir(exist_ok=True)
            # Read-only is enough to lock, and opens one made by another user.
            return os.open(locks / f"{version}.lock", os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError as error:
            log.warning("No render lock (%s): workers may render a new session twice.",
                        error)
            return None

    def _spend_render(self, address: str) -> None:
        if self.budget is None:
            return
        try:
            self.budget.spend(address)
        except TooManyAttempts as exc:
            log.warning("new session refused: this address's render budget is spent")
            raise TooManyNewSessions(
                "Too many new sessions from your address for now. Sessions already prepared"
                " still play; new ones can be prepared again later.",
                headers={"Retry-After": str(exc.retry_after_s)},
                retry_after_s=exc.retry_after_s,
            ) from exc

    def _render(
        self, db: Session, routine: Routine, options: SessionOptions, version: str
    ) -> bytes:
        voice = self.voice if options.cues != "bells" else None
        if voice is not None:
            # The layout asks for its lines one by one: have them made side by side first.
            voice.prepare(lines_asked_for(routine, options.minutes, options.cues, options.prep_s))
        speech_s = _spoken_seconds(voice) if voice else estimated_speech_seconds
        compiled = compile_session(routine, options.minutes, options.cues, options.prep_s, speech_s)
        audio, captions = render_media(compiled, voice)
        for file, data in [*audio, captions]:
            self.store.save(db, file, data)
        script = SessionScriptOut(
            routine_id=routine.id,
            title=routine.title,
            minutes=options.minutes,
            cue_density=options.cues,
            prep_s=options.prep_s,
            duration_s=compiled.duration_s,
            version=version,
            voice=VoiceOut(id=voice.id) if voice else None,
            phases=[PhaseSpanOut(**vars(span)) for span in compiled.phases],
            cues=[
                CueOut(
                    at_s=cue.at_s,
                    end_s=round(cue.end_s, 3),
                    kind=cue.kind,
                    text=cue.text,
                    phase=cue.phase,
                )
                for cue in compiled.cues
            ],
            audio=[
                AudioOut(url=f.url, mime=f.mime, bytes=f.size_bytes, sha256=f.sha256)
                for f, _ in audio
            ],
            captions_url=captions[0].url,
            total_bytes=sum(f.size_bytes for f, _ in [*audio, captions]),
        )
        return script.model_dump_json().encode()

    def _lock_for(self, version: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(version, threading.Lock())

    def _remember(self, version: str, body: bytes) -> None:
        with self._locks_guard:
            self._memory[version] = body
            self._memory.move_to_end(version)
            while len(self._memory) > self._memory_size:
                evicted, _ = self._memory.popitem(last=False)
                self._locks.pop(evicted, None)


def _spoken_seconds(voice: SpeechVoice) -> Callable[[str], float]:
    def seconds(text: str) -> float:
        return round(len(voice.speak(text)) / voice.sample_rate, 3)

    return seconds


@lru_cache(maxsize=64)
def _routine_digest(routine: Routine) -> str:
    return hashlib.sha256(routine.model_dump_json().encode()).hexdigest()
