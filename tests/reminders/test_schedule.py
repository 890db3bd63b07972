"""When a reminder is due, across weekdays, time zones and clock changes."""

from datetime import UTC, datetime

import pytest

from app.reminders.schedule import EVERY_DAY, iso_weekdays, next_reminder_at, weekdays_mask

PARIS = "Europe/Paris"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class TestNextReminderAt:
    def test_later_today_in_the_device_zone(self) -> None:
        # 20:30 in Paris on a December Wednesday is 19:30 UTC.
        assert next_reminder_at(utc(2026, 12, 2, 12, 0), 20 * 60 + 30, EVERY_DAY, PARIS) == \
            utc(2026, 12, 2, 19, 30)

    def test_tomorrow_once_today_has_passed(self) -> None:
        assert next_reminder_at(utc(2026, 12, 2, 19, 30), 20 * 60 + 30, EVERY_DAY, PARIS) == \
            utc(2026, 12, 3, 19, 30)

    def test_only_on_chosen_weekdays(self) -> None:
        weekend = weekdays_mask([6, 7])
        # Wednesday 2 December: the next Saturday is the 5th.
        assert next_reminder_at(utc(2026, 12, 2, 12, 0), 8 * 60, weekend, PARIS) == \
            utc(2026, 12, 5, 7, 0)

    def test_the_same_weekday_a_week_on(self) -> None:
        wednesday = weekdays_mask([3])
        assert next_reminder_at(utc(2026, 12, 2, 20, 0), 8 * 60, wednesday, PARIS) == \
            utc(2026, 12, 9, 7, 0)

    def test_the_local_date_decides_the_weekday(self) -> None:
        # 23:30 UTC on Saturday is already Sunday in Auckland.
        sunday = weekdays_mask([7])
        assert next_reminder_at(utc(2026, 12, 5, 23, 30), 19 * 60, sunday,
                                "Pacific/Auckland") == utc(2026, 12, 6, 6, 0)

    def test_the_local_time_holds_across_summer_time(self) -> None:
        # Paris moves to summer time on 29 March 2026: 21:00 is 20:00 UTC, then 19:00.
        before = next_reminder_at(utc(2026, 3, 28, 12, 0), 21 * 60, EVERY_DAY, PARIS)
        after = next_reminder_at(before, 21 * 60, EVERY_DAY, PARIS)
        assert (before, after) == (utc(2026, 3, 28, 20, 0), utc(2026, 3, 29, 19, 0))

    def test_a_time_the_clock_skips_comes_after_the_jump(self) -> None:
        # 02:30 does not exist in Paris on 29 March 2026 (02:00 -> 03:00).
        assert next_reminder_at(utc(2026, 3, 29, 0, 0), 2 * 60 + 30, EVERY_DAY, PARIS) == \
            utc(2026, 3, 29, 1, 30)

    def test_a_time_skipped_by_a_jump_at_midnight_stays_on_its_day(self) -> None:
        # Nuuk jumps from 23:00 on Saturday 27 March 2027 to 00:00 on Sunday: a Saturday
        # reminder at 23:30 comes before the jump (22:30), not on the Sunday after it.
        saturday = weekdays_mask([6])
        assert next_reminder_at(utc(2027, 3, 22), 23 * 60 + 30, saturday, "America/Nuuk") == \
            utc(2027, 3, 28, 0, 30)
        # Every day: once on the Saturday, once on the Sunday.
        first = next_reminder_at(utc(2027, 3, 27, 12), 23 * 60 + 30, EVERY_DAY, "America/Nuuk")
        second = next_reminder_at(first, 23 * 60 + 30, EVERY_DAY, "America/Nuuk")
        assert (first, second) == (utc(2027, 3, 28, 0, 30), utc(2027, 3, 29, 0, 30))

    def test_a_time_the_clock_repeats_comes_once(self) -> None:
        # 02:30 happens twice in Paris on 25 October 2026: the first, at 00:30 UTC.
        first = next_reminder_at(utc(2026, 10, 24, 12, 0), 2 * 60 + 30, EVERY_DAY, PARIS)
        assert first == utc(2026, 10, 25, 0, 30)
        assert next_reminder_at(first, 2 * 60 + 30, EVERY_DAY, PARIS) == \
            utc(2026, 10, 26, 1, 30)

    def test_no_weekday_is_refused(self) -> None:
        with pytest.raises(ValueError, match="weekday"):
            next_reminder_at(utc(2026, 12, 2), 0, 0, PARIS)


def test_weekdays_go_to_a_mask_and_back() -> None:
    assert weekdays_mask([1, 2, 3, 4, 5, 6, 7]) == EVERY_DAY
    assert iso_weekdays(weekdays_mask([1, 5, 7])) == [1, 5, 7]
