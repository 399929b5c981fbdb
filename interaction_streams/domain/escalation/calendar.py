"""Business hours: opening hours per weekday, holidays and a time zone, and the pure arithmetic
of service-level targets counted in business time (an email answered within 4 business hours).

``add_business_seconds(calendar, start_ms, seconds)`` is the instant at which ``seconds`` of
opening time have passed since ``start_ms``; ``business_seconds_between`` counts opening time
between two instants. Both walk the calendar's open intervals in local time (so a daylight
saving change is honoured) and never read the wall clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from interaction_streams.contract.base import WireModel

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
MAX_DAYS = 3 * 366  # a target further than this in business time is refused as a bad calendar


def _minutes(text: str) -> tuple[int, int]:
    m = _SPAN.match(text)
    if m is None:
        raise ValueError(f"opening hours {text!r} are not HH:MM-HH:MM")
    start = int(m[1]) * 60 + int(m[2])
    end = int(m[3]) * 60 + int(m[4])
    if end > 24 * 60 or end <= start:
        raise ValueError(f"opening hours {text!r} must end after they start, by 24:00")
    return start, end


class BusinessCalendar(WireModel):
    """Opening hours per weekday (``mon: ["08:00-12:00", "13:00-18:00"]``), holidays (closed
    all day) and the IANA time zone they are read in."""

    time_zone: str = "UTC"
    hours: dict[Weekday, tuple[str, ...]] = Field(default_factory=dict)
    holidays: tuple[date, ...] = ()

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}") from None
        return name

    @field_validator("hours")
    @classmethod
    def _spans(cls, hours: dict[Weekday, tuple[str, ...]]) -> dict[Weekday, tuple[str, ...]]:
        for day, spans in hours.items():
            parsed = sorted(_minutes(s) for s in spans)
            for (_, end), (start, _) in pairwise(parsed):
                if start < end:
                    raise ValueError(f"opening hours of {day} overlap")
        return hours

    @model_validator(mode="after")
    def _opens(self) -> BusinessCalendar:
        if not any(self.hours.values()):
            raise ValueError("a calendar needs opening hours on at least one weekday")
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @cached_property
    def spans(self) -> dict[int, tuple[tuple[int, int], ...]]:
        """Weekday number (Monday 0) -> sorted (start, end) minutes of the day."""
        return {
            WEEKDAYS.index(d): tuple(sorted(_minutes(s) for s in spans))
            for d, spans in self.hours.items()
        }

    @cached_property
    def closed_days(self) -> frozenset[date]:
        return frozenset(self.holidays)

    def open_intervals(self, from_ms: int) -> Iterator[tuple[int, int]]:
        """Open (start_ms, end_ms) intervals, in order, from the local day of ``from_ms``."""
        day = datetime.fromtimestamp(from_ms / 1000, tz=UTC).astimezone(self.zone).date()
        for _ in range(MAX_DAYS):
            if day not in self.closed_days:
                for start, end in self.spans.get(day.weekday(), ()):
                    yield self._ms(day, start), self._ms(day, end)
            day += timedelta(days=1)

    def _ms(self, day: date, minute: int) -> int:
        if minute == 24 * 60:
            local = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
        else:
            local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
        return int(local.timestamp() * 1000)


def add_business_seconds(calendar: BusinessCalendar, start_ms: int, seconds: float) -> int:
    """The instant when ``seconds`` of opening time have passed since ``start_ms``."""
    left = int(seconds * 1000)
    for open_ms, close_ms in calendar.open_intervals(start_ms):
        if close_ms <= start_ms:
            continue
        begin = max(open_ms, start_ms)
        if begin + left <= close_ms:
            return begin + left
        left -= close_ms - begin
    raise ValueError("the calendar has no opening hours within three years")


def business_seconds_between(calendar: BusinessCalendar, start_ms: int, end_ms: int) -> float:
    """Opening time between two instants (0 when ``end_ms`` is not after ``start_ms``)."""
    total = 0
    for open_ms, close_ms in calendar.open_intervals(start_ms):
        if open_ms >= end_ms:
            break
        total += max(0, min(close_ms, end_ms) - max(open_ms, start_ms))
    return total / 1000


def is_open(calendar: BusinessCalendar, at_ms: int) -> bool:
    for open_ms, close_ms in calendar.open_intervals(at_ms - 86_400_000):
        if open_ms > at_ms:
            return False
        if open_ms <= at_ms < close_ms:
            return True
    return False
