import json

import pytest
from pydantic import ValidationError

from app.routines.catalog import BUILTIN_DIR, builtin_routines
from app.routines.definition import Routine


def classic_data() -> dict:
    return json.loads((BUILTIN_DIR / "classic.json").read_text())


class TestBuiltins:
    def test_three_routines_in_product_order(self):
        assert list(builtin_routines()) == ["classic", "leg-slide", "quick-reset"]

    def test_classic_is_ten_to_twenty_minutes_by_default_fifteen(self):
        minutes = builtin_routines()["classic"].minutes
        assert (minutes.recommended_min, minutes.default, minutes.recommended_max) == (10, 15, 20)
        assert (minutes.min, minutes.max) == (5, 45)


class TestValidation:
    def test_unknown_field_is_refused(self):
        data = classic_data() | {"colour": "blue"}
        with pytest.raises(ValidationError):
            Routine.model_validate(data)

    def test_phase_needs_exactly_one_length_rule(self):
        data = classic_data()
        data["phases"][0]["weight"] = 1
        with pytest.raises(ValidationError, match="exactly one of fixed_s or weight"):
            Routine.model_validate(data)

    def test_duplicate_phase_ids_are_refused(self):
        data = classic_data()
        data["phases"][1]["id"] = data["phases"][0]["id"]
        with pytest.raises(ValidationError, match="unique"):
            Routine.model_validate(data)

    def test_default_outside_the_range_is_refused(self):
        data = classic_data()
        data["minutes"]["default"] = 50
        with pytest.raises(ValidationError):
            Routine.model_validate(data)
