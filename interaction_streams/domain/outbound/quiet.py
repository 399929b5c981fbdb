"""Quiet hours in the customer's own time zone: is an instant quiet, and the next allowed one.

Windows are wall-clock times (``21:00``-``08:00`` wraps midnight) in the customer's zone.
Daylight-saving changes are handled on wall time: in a spring gap the first allowed instant
is the transition itself when the window's end falls in the gap; in an autumn overlap the
first occurrence of the end time counts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Window = tuple[time, time]  # [start, end) in wall time; start > end wraps midnight


@cache
def zone(name: str | None, default: str = "UTC") -> ZoneInfo:
    for candidate in (name, default, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def wall(at_ms: int, tz: ZoneInfo) -> datetime:
    """The naive local wall time of an instant."""
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(tz).replace(tzinfo=None)


def in_window(t: time, window: Window) -> bool:
    start, end = window
    if start <= end:
        return start <= t < end
    return t >= start or t < end


def is_quiet(at_ms: int, tz: ZoneInfo, windows: tuple[Window, ...]) -> bool:
    t = wall(at_ms, tz).time()
    return any(in_window(t, w) for w in windows)


def _instant(local: datetime, tz: ZoneInfo, fold: int) -> int:
    return int(local.replace(tzinfo=tz, fold=fold).timestamp() * 1000)


def first_at_or_after(day: date, end: time, tz: ZoneInfo) -> int:
    """The first instant whose wall time on ``day`` reaches ``end`` (a time in a spring gap
    gives the transition instant; an ambiguous one its first occurrence)."""
    local = datetime.combine(day, end)
    early, late = _instant(local, tz, 1), _instant(local, tz, 0)
    if wall(late, tz) == local:  # it exists (fold 0 is the first occurrence)
        return min(late, early) if wall(early, tz) == local else late
    lo, hi = min(early, late), max(early, late)  # a gap: bisect for the jump
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if wall(mid, tz) >= local:
            hi = mid
        else:
            lo = mid
    return hi


def next_allowed(at_ms: int, tz: ZoneInfo, windows: tuple[Window, ...]) -> int:
    """``at_ms`` if it is not quiet, else the earliest later instant that is not."""
    if not is_quiet(at_ms, tz, windows):
        return at_ms
    today = wall(at_ms, tz).date()
    candidates = sorted(
        first_at_or_after(today + timedelta(days=d), end, tz)
        for d in range(-1, 3)
        for _, end in windows
    )
    for c in candidates:
        if c > at_ms and not is_quiet(c, tz, windows):
            return c
    return at_ms + 86_400_000  # unreachable with windows shorter than a day
