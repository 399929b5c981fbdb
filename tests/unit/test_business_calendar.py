"""The business-hours calculator: targets counted in opening time, across nights, weekends,
holidays and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from interaction_streams.domain.escalation.calendar import (
    BusinessCalendar,
    add_business_seconds,
    business_seconds_between,
    is_open,
)

LONDON = BusinessCalendar(
    time_zone="Europe/London",
    hours={
        "mon": ("08:00-12:00", "13:00-18:00"),
        "tue": ("08:00-18:00",),
        "wed": ("08:00-18:00",),
        "thu": ("08:00-18:00",),
        "fri": ("08:00-17:00",),
        "sat": ("09:00-13:00",),
    },
    holidays=(date(2026, 12, 25),),
)
H = 3600


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def test_four_business_hours_from_friday_afternoon_end_on_saturday() -> None:
    # Fri 2026-11-27 15:00 London (UTC in winter): 2 h on Friday, 2 h on Saturday from 09:00.
    assert add_business_seconds(LONDON, ms(2026, 11, 27, 15), 4 * H) == ms(2026, 11, 28, 11)


def test_a_target_skips_the_lunch_break_and_the_holiday() -> None:
    assert add_business_seconds(LONDON, ms(2026, 11, 23, 11), 2 * H) == ms(2026, 11, 23, 14)
    # Thu 2026-12-24 17:00 + 2 h: 1 h on Thursday, Friday 25th is a holiday, 1 h on Saturday.
    assert add_business_seconds(LONDON, ms(2026, 12, 24, 17), 2 * H) == ms(2026, 12, 26, 10)


def test_a_message_out_of_hours_starts_the_clock_at_opening() -> None:
    # Sunday night: the clock starts Monday 08:00.
    assert add_business_seconds(LONDON, ms(2026, 11, 29, 22), 30 * 60) == ms(2026, 11, 30, 8, 30)
    assert not is_open(LONDON, ms(2026, 11, 29, 22))
    assert is_open(LONDON, ms(2026, 11, 30, 8, 30))


def test_summer_time_moves_the_opening_in_utc() -> None:
    # Mon 2026-06-01: London is UTC+1, so 08:00 local is 07:00 UTC.
    assert add_business_seconds(LONDON, ms(2026, 6, 1, 5), 60) == ms(2026, 6, 1, 7, 1)


def test_bad_calendars_are_refused() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        BusinessCalendar(time_zone="Mars/Olympus", hours={"mon": ("08:00-18:00",)})
    with pytest.raises(ValidationError, match="HH:MM-HH:MM"):
        BusinessCalendar(hours={"mon": ("8-18",)})
    with pytest.raises(ValidationError, match="overlap"):
        BusinessCalendar(hours={"mon": ("08:00-12:00", "11:00-13:00")})
    with pytest.raises(ValidationError, match="at least one weekday"):
        BusinessCalendar(hours={})


instants = st.integers(min_value=ms(2026, 1, 1), max_value=ms(2028, 1, 1))
durations = st.integers(min_value=0, max_value=200 * H)


@settings(max_examples=150, deadline=None)
@given(start=instants, seconds=durations)
def test_adding_then_counting_gives_the_duration_back(start: int, seconds: int) -> None:
    end = add_business_seconds(LONDON, start, seconds)
    assert end >= start
    assert business_seconds_between(LONDON, start, end) == pytest.approx(seconds)


@settings(max_examples=150, deadline=None)
@given(start=instants, a=durations, b=durations)
def test_targets_are_monotonic_and_compose(start: int, a: int, b: int) -> None:
    first = add_business_seconds(LONDON, start, a)
    both = add_business_seconds(LONDON, start, a + b)
    assert first <= both
    assert add_business_seconds(LONDON, first, b) == both


@settings(max_examples=100, deadline=None)
@given(start=instants, seconds=st.integers(min_value=1, max_value=100 * H))
def test_a_target_always_ends_inside_opening_hours(start: int, seconds: int) -> None:
    end = add_business_seconds(LONDON, start, seconds)
    assert is_open(LONDON, end - 1)
