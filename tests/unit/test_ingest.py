"""The pure ingest step: validation into accepted events or dead letters, and de-duplication."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from interaction_streams.domain.ingest import (
    Accepted,
    ExpiryQueue,
    RawRecord,
    Rejected,
    Sighting,
    dead_letter,
    is_duplicate,
    validate,
)
from interaction_streams.harness import cloud_event

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def record(value: bytes | None, key: bytes | None = b"k") -> RawRecord:
    return RawRecord(
        "cim.channel.events.v1", 2, 41, 1_795_683_600_000, key, value, (("trace", b"\x00\x01"),)
    )


def test_valid_record_is_accepted() -> None:
    raw = cloud_event("cim.chat.started", {"interactionId": "c-9"}, "e-1", "2026-11-26T09:00:00Z")
    outcome = validate(record(raw), "channel")
    assert isinstance(outcome, Accepted)
    assert outcome.event.routing_key == "c-9"


def test_dead_letter_keeps_origin_reason_and_original_bytes() -> None:
    raw = cloud_event("cim.chat.started", {}, "e-1", "2026-11-26T09:00:00Z")
    outcome = validate(record(raw), "channel")
    assert isinstance(outcome, Rejected)
    letter = dead_letter(record(raw), outcome, NOW)
    assert letter.reason == "invalid-data"
    assert "interactionId" in letter.detail
    assert (letter.source_topic, letter.partition, letter.offset) == (
        "cim.channel.events.v1",
        2,
        41,
    )
    assert base64.b64decode(letter.value_base64 or "") == raw
    assert base64.b64decode(letter.key_base64 or "") == b"k"
    assert letter.headers[0].key == "trace"
    assert base64.b64decode(letter.headers[0].value_base64) == b"\x00\x01"
    assert (letter.event_id, letter.event_type) == ("e-1", "cim.chat.started")
    assert letter.record_time == NOW
    assert letter.dead_lettered_at == NOW


def test_unreadable_record_without_value_is_dead_lettered() -> None:
    outcome = validate(record(None, key=None), "channel")
    assert isinstance(outcome, Rejected)
    letter = dead_letter(record(None, key=None), outcome, NOW)
    assert (letter.reason, letter.value_base64, letter.key_base64) == ("unreadable", None, None)


def test_duplicate_only_within_the_window() -> None:
    seen = Sighting(seen_at_ms=1_000, partition=0)
    assert not is_duplicate(None, 1_000, 500)
    assert is_duplicate(seen, 1_000, 500)
    assert is_duplicate(seen, 1_499, 500)
    assert not is_duplicate(seen, 1_500, 500)  # the window is half-open: [seen, seen + window)


def test_expiry_queue_returns_old_sightings_per_partition_in_order() -> None:
    queue = ExpiryQueue()
    queue.push("a", Sighting(seen_at_ms=10, partition=0))
    queue.push("b", Sighting(seen_at_ms=20, partition=0))
    queue.push("c", Sighting(seen_at_ms=5, partition=1))
    assert queue.pop_expired(0, now_ms=25, window_ms=10, limit=10) == [("a", 10)]
    assert queue.pop_expired(0, now_ms=40, window_ms=10, limit=10) == [("b", 20)]
    assert queue.pop_expired(1, now_ms=40, window_ms=10, limit=10) == [("c", 5)]
    assert len(queue) == 0


def test_rebuilt_queue_expires_like_the_original() -> None:
    entries = [
        ("x", Sighting(seen_at_ms=30, partition=0)),
        ("y", Sighting(seen_at_ms=10, partition=0)),
    ]
    queue = ExpiryQueue()
    queue.rebuild(entries)
    assert queue.pop_expired(0, now_ms=35, window_ms=10, limit=5) == [("y", 10)]


arrivals = st.lists(
    st.tuples(st.sampled_from("abcdef"), st.integers(min_value=0, max_value=50)), max_size=80
)


@given(arrivals, st.integers(min_value=1, max_value=40), st.integers(min_value=1, max_value=4))
def test_dedup_with_expiry_matches_the_reference(
    events: list[tuple[str, int]], window: int, limit: int
) -> None:
    """Whatever the arrival order and expiry pace, an event passes exactly when the same id
    has not passed within the window, measured on the partition clock (max record time)."""
    table: dict[str, Sighting] = {}
    queue = ExpiryQueue()
    clock = 0
    passed_at: dict[str, int] = {}
    for key, stamp in events:
        clock = max(clock, stamp)
        expected = key not in passed_at or clock - passed_at[key] >= window
        duplicate = is_duplicate(table.get(key), clock, window)
        assert duplicate is not expected
        if not duplicate:
            passed_at[key] = clock
            table[key] = Sighting(seen_at_ms=clock, partition=0)
            queue.push(key, table[key])
        for old, seen_at in queue.pop_expired(0, clock, window, limit):
            if table.get(old) is not None and table[old].seen_at_ms == seen_at:
                del table[old]
