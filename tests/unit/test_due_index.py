"""The due index the stage shells keep for their durable timers: one tick per key and due
time, sent again only after the last one came back."""

from __future__ import annotations

from interaction_streams.stream.wiring import DueIndex


def test_a_due_key_is_ticked_once_until_its_tick_comes_back() -> None:
    index = DueIndex()
    index.note("a", 1_000)
    index.note("b", 5_000)
    assert index.take(999) == []
    assert index.take(1_000) == ["a"]
    assert index.take(2_000) == []  # the tick of "a" is still on its way
    index.arrived("a")
    assert index.take(2_000) == ["a"]  # still due (the stage did not move it): again
    index.note("a", None)
    index.arrived("a")
    assert index.take(10_000) == ["b"]


def test_the_earliest_of_two_indexes_counts_and_a_reset_forgets_everything() -> None:
    index = DueIndex()
    index.note("a", 9_000)
    assert index.take(3_000, also={"a": 2_000, "g": 4_000}) == ["a"]
    index.reset()
    assert index.take(10_000, also={"g": 4_000}) == ["g"]
    assert index.take(10_000) == []
