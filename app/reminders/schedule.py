"""When a daily reminder is due: a local time on chosen weekdays, in the device's zone."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

EVERY_DAY = 0b1111111  # bit 0 = Monday ... bit 6 = Sunday (ISO weekday - 1)


def weekdays_mask(iso_weekdays: list[int]) -> int:
    """[1..7] (Monday = 1, as ISO 8601 counts) as a bit mask."""
    mask = 0
    for day in iso_weekdays:
        mask |= 1 << (day - 1)
    return mask


def iso_weekdays(mask: int) -> list[int]:
    return [day for day in range(1, 8) if mask & (1 << (day - 1))]


def next_reminder_at(after: datetime, minute_of_day: int, weekdays: int,
                     time_zone: str) -> datetime:
    """The first moment strictly after `after` that is `minute_of_day` on a chosen
    weekday in `time_zone`, in UTC.

    Clocks that jump: a time skipped by the spring change fires as the clock reads after
    the jump (02:30 becomes 03:30), and a time the autumn change repeats fires once, the
    first time round. Both are zoneinfo's reading of a local time (fold 0). Where the
    jump is at midnight (America/Nuuk: 23:00 to 00:00), reading the skipped time so would
    land on the next day, a weekday not chosen: it fires before the jump instead (23:30
    becomes 22:30).
    """
    if not weekdays & EVERY_DAY:
        raise ValueError("A reminder needs at least one weekday.")
    zone = ZoneInfo(time_zone)
    at = time(minute_of_day // 60, minute_of_day % 60)
    day = after.astimezone(zone).date()
    for offset in range(8):  # today and the seven days after: every weekday comes round
        date = day + timedelta(days=offset)
        if not weekdays & (1 << date.weekday()):
            continue
        moment = datetime.combine(date, at, tzinfo=zone).astimezone(UTC)
        if moment.astimezone(zone).date() != date:  # skipped, and read past midnight
            moment = datetime.combine(date, at.replace(fold=1), tzinfo=zone).astimezone(UTC)
        if moment > after:
            return moment
    raise AssertionError("unreachable: a chosen weekday comes within eight days")
