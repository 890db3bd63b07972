"""The shape of a routine definition: phases, spoken lines and bells, kept as data."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CueDensity = Literal["guided", "sparse", "bells"]
CUE_DENSITIES: tuple[CueDensity, ...] = ("guided", "sparse", "bells")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Line(_Strict):
    """One spoken cue. Essential lines are kept when the user asks for sparse cues."""

    text: str = Field(min_length=1, max_length=400)
    essential: bool = False


class Phase(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")
    title: str = Field(min_length=1, max_length=60)
    # A phase lasts a fixed time, or takes a share (weight) of what the fixed phases leave.
    fixed_s: float | None = Field(default=None, gt=0, le=600)
    weight: float | None = Field(default=None, gt=0, le=100)
    min_s: float = Field(default=20, ge=5, le=600)
    bell_strikes: int = Field(default=0, ge=0, le=3)
    opening: tuple[Line, ...] = ()
    reminders: tuple[Line, ...] = ()
    closing: tuple[Line, ...] = ()

    @model_validator(mode="after")
    def _one_length_rule(self) -> "Phase":
        if (self.fixed_s is None) == (self.weight is None):
            raise ValueError(f"phase {self.id!r} needs exactly one of fixed_s or weight")
        return self


class MinutesRange(_Strict):
    min: int = Field(ge=1, le=120)
    max: int = Field(ge=1, le=120)
    default: int = Field(ge=1, le=120)
    recommended_min: int = Field(ge=1, le=120)
    recommended_max: int = Field(ge=1, le=120)

    @model_validator(mode="after")
    def _ordered(self) -> "MinutesRange":
        if not (
            self.min <= self.recommended_min <= self.default <= self.recommended_max <= self.max
        ):
            raise ValueError(
                "minutes must satisfy min <= recommended_min <= default <= recommended_max <= max"
            )
        return self


class Routine(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")
    title: str = Field(min_length=1, max_length=80)
    summary: str = Field(min_length=1, max_length=400)
    minutes: MinutesRange
    default_cues: CueDensity = "guided"
    default_prep_s: int = Field(default=30, ge=0, le=300)
    # Spoken at the very start, while the person gets down to the floor.
    intro: tuple[Line, ...] = ()
    phases: tuple[Phase, ...] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _unique_phase_ids(self) -> "Routine":
        ids = [phase.id for phase in self.phases]
        if len(ids) != len(set(ids)):
            raise ValueError("phase ids must be unique")
        if all(phase.weight is None for phase in self.phases):
            raise ValueError("at least one phase must take a weight so the routine can scale")
        return self
