"""Quiet hours in the customer's own time zone, daylight-saving changes included."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from interaction_streams.domain.outbound.quiet import Window, is_quiet, next_allowed, wall

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]
NIGHT: tuple[Window, ...] = ((time(21), time(8)),)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def utc(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_same_instant_is_quiet_in_one_zone_and_not_in_another() -> None:
    at = ms("2026-11-26T22:30:00+00:00")  # 22:30 London, 17:30 New York, 09:30 Sydney
    assert is_quiet(at, ZoneInfo("Europe/London"), NIGHT)
    assert not is_quiet(at, ZoneInfo("America/New_York"), NIGHT)
    assert not is_quiet(at, ZoneInfo("Australia/Sydney"), NIGHT)
    assert utc(next_allowed(at, ZoneInfo("Europe/London"), NIGHT)) == "2026-11-27T08:00:00Z"


def test_deferred_to_eight_local_across_the_spring_change() -> None:
    # London moves from GMT to BST at 01:00 UTC on 29 March 2026: 08:00 local is 07:00 UTC.
    at = ms("2026-03-28T22:00:00+00:00")
    assert utc(next_allowed(at, ZoneInfo("Europe/London"), NIGHT)) == "2026-03-29T07:00:00Z"
    # New York springs forward on 8 March 2026: 08:00 EDT is 12:00 UTC (13:00 the day before).
    at = ms("2026-03-08T03:00:00+00:00")  # 22:00 EST on the 7th
    assert utc(next_allowed(at, ZoneInfo("America/New_York"), NIGHT)) == "2026-03-08T12:00:00Z"


def test_deferred_to_eight_local_across_the_autumn_change() -> None:
    # London returns to GMT at 01:00 UTC on 25 October 2026: 08:00 local is 08:00 UTC.
    at = ms("2026-10-24T21:30:00+00:00")  # 22:30 BST
    assert utc(next_allowed(at, ZoneInfo("Europe/London"), NIGHT)) == "2026-10-25T08:00:00Z"


def test_an_end_inside_the_spring_gap_gives_the_transition_itself() -> None:
    # Quiet until 01:30 local; on 29 March 2026 London skips from 01:00 to 02:00.
    windows: tuple[Window, ...] = ((time(0), time(1, 30)),)
    at = ms("2026-03-29T00:10:00+00:00")
    assert utc(next_allowed(at, ZoneInfo("Europe/London"), windows)) == "2026-03-29T01:00:00Z"


def test_an_end_in_the_autumn_overlap_takes_its_first_occurrence() -> None:
    windows: tuple[Window, ...] = ((time(0), time(1, 30)),)  # 01:30 happens twice on 25 Oct
    at = ms("2026-10-24T23:10:00+00:00")  # 00:10 BST
    assert utc(next_allowed(at, ZoneInfo("Europe/London"), windows)) == "2026-10-25T00:30:00Z"


instants = st.integers(
    min_value=ms("2026-01-01T00:00:00+00:00"), max_value=ms("2027-12-31T00:00:00+00:00")
)
clock = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
window = st.tuples(clock, clock).filter(lambda w: w[0] != w[1])


@settings(max_examples=300, deadline=None)
@given(at=instants, zone=st.sampled_from(ZONES), windows=st.lists(window, min_size=1, max_size=2))
def test_next_allowed_is_the_earliest_instant_out_of_quiet_hours(
    at: int, zone: str, windows: list[Window]
) -> None:
    tz = ZoneInfo(zone)
    covered = {m for s, e in windows for m in _minutes(s, e)}
    if len(covered) == 24 * 60:
        return  # the whole day is quiet: no allowed time exists
    found = next_allowed(at, tz, tuple(windows))
    assert found >= at
    assert not is_quiet(found, tz, tuple(windows))
    if found > at:  # everything before it, from ``at``, is quiet (checked each minute)
        assert is_quiet(found - 1, tz, tuple(windows))
        step = 60_000
        for t in range(at, found, step):
            assert is_quiet(t, tz, tuple(windows)), (wall(t, tz), windows)


def _minutes(start: time, end: time) -> set[int]:
    a, b = start.hour * 60 + start.minute, end.hour * 60 + end.minute
    return set(range(a, b)) if a < b else set(range(a, 24 * 60)) | set(range(0, b))


@settings(max_examples=200, deadline=None)
@given(
    at=st.sampled_from(
        [
            ms("2026-03-28T12:00:00+00:00"),
            ms("2026-03-29T00:59:00+00:00"),
            ms("2026-10-24T20:00:00+00:00"),
            ms("2026-10-25T00:45:00+00:00"),
            ms("2026-03-07T20:00:00+00:00"),
            ms("2026-11-01T05:30:00+00:00"),
        ]
    ),
    offset=st.integers(0, 12 * 3_600_000),
    zone=st.sampled_from(["Europe/London", "America/New_York"]),
)
def test_around_daylight_saving_changes_the_result_is_eight_local_or_now(
    at: int, offset: int, zone: str
) -> None:
    tz = ZoneInfo(zone)
    found = next_allowed(at + offset, tz, NIGHT)
    if found != at + offset:
        assert wall(found, tz).time() == time(8)
