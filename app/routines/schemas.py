"""What the routines API answers."""

from typing import Literal

from pydantic import BaseModel, Field

from app.routines.definition import CueDensity


class MinutesOut(BaseModel):
    min: int
    max: int
    default: int
    recommended_min: int
    recommended_max: int


class PhaseOutline(BaseModel):
    id: str
    title: str


class SessionDefaults(BaseModel):
    minutes: int
    cues: CueDensity
    prep_s: int


class RoutinePublic(BaseModel):
    id: str
    title: str
    summary: str
    minutes: MinutesOut
    cue_densities: list[CueDensity]
    defaults: SessionDefaults
    phases: list[PhaseOutline]


class SessionOptions(BaseModel):
    """A routine plus what the user chose. Ranges beyond the type live in the routine."""

    minutes: int = Field(ge=1, le=120)
    cues: CueDensity
    prep_s: int = Field(ge=0, le=300)


class PhaseSpanOut(BaseModel):
    id: str
    title: str
    start_s: float
    end_s: float


class CueOut(BaseModel):
    at_s: float = Field(description="When the cue is heard in the track, in seconds.")
    end_s: float
    kind: Literal["voice", "bell"]
    text: str
    phase: str


class AudioOut(BaseModel):
    url: str
    mime: str
    bytes: int
    sha256: str


class VoiceOut(BaseModel):
    id: str


class SessionScriptOut(BaseModel):
    routine_id: str
    title: str
    minutes: int
    cue_density: CueDensity
    prep_s: int
    duration_s: float
    version: str
    voice: VoiceOut | None = Field(
        description="Null when no voice is installed: the track has bells only and the "
        "client shows (or speaks) the captions."
    )
    phases: list[PhaseSpanOut]
    cues: list[CueOut]
    audio: list[AudioOut]
    captions_url: str
    total_bytes: int
