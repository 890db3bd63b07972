"""The built-in routines, loaded once from their data files."""

from functools import lru_cache
from pathlib import Path

from app.routines.definition import Routine

BUILTIN_DIR = Path(__file__).parent / "builtin"
ORDER = ("classic", "leg-slide", "quick-reset")


@lru_cache
def builtin_routines() -> dict[str, Routine]:
    routines = {
        path.stem: Routine.model_validate_json(path.read_text(encoding="utf-8"))
        for path in BUILTIN_DIR.glob("*.json")
    }
    for stem, routine in routines.items():
        if stem != routine.id:
            raise ValueError(f"{stem}.json declares id {routine.id!r}")
    return {rid: routines[rid] for rid in sorted(routines, key=_rank)}


def _rank(routine_id: str) -> tuple[int, str]:
    return (ORDER.index(routine_id) if routine_id in ORDER else len(ORDER), routine_id)
