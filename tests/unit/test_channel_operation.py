"""The channel-operation step: reports, heartbeat silence, traffic drop, what is published."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interaction_streams.domain.channels.model import MINUTE_MS, ChannelState
from interaction_streams.domain.channels.policy import (
    ChannelPolicy,
    TrafficPolicy,
    load_channel_policy,
)
from interaction_streams.domain.channels.step import (
    Heartbeat,
    Report,
    Signal,
    Tick,
    Traffic,
    due_ms,
    step,
    traffic_due_wall_ms,
)
from interaction_streams.domain.channels.traffic import MinuteCounts, arrival_channel
from interaction_streams.yamlfile import YamlFileError

T = 1_795_683_600_000  # 2026-11-26T09:00:00Z, a whole minute
POLICY = ChannelPolicy(
    heartbeat_silence_seconds=90,
    traffic=TrafficPolicy(
        warmup_minutes=5, consecutive_minutes=2, minimum_baseline=10, close_after_seconds=10
    ),
)


def run(
    signals: list[tuple[Signal, int]], state: ChannelState | None = None
) -> tuple[ChannelState, list[tuple[str, str]]]:
    published: list[tuple[str, str]] = []
    for signal, now in signals:
        state, status = step(state, "voice", signal, now, POLICY, wall_ms=now)  # live
        if status is not None:
            published.append((status.status, status.reason))
    assert state is not None
    return state, published


def test_a_report_sets_the_status_and_only_changes_are_published() -> None:
    state, published = run(
        [
            (Report("trunk-1", "up", T), T),
            (Report("trunk-1", "up", T + 1000), T + 1000),  # no change: nothing published
            (Report("trunk-1", "down", T + 2000, detail="SIP 503"), T + 2000),
            (Report("trunk-1", "up", T + 3000), T + 3000),
        ]
    )
    assert published == [("up", "ok"), ("down", "reported"), ("up", "ok")]
    assert state.published is not None and state.published.components == {"trunk-1": "up"}


def test_one_of_two_components_down_degrades_both_down_is_down() -> None:
    _, published = run(
        [
            (Report("trunk-1", "up", T), T),
            (Report("trunk-2", "up", T), T),
            (Report("trunk-1", "down", T + 1), T + 1),
            (Report("trunk-2", "down", T + 2), T + 2),
        ]
    )
    # a new component is news too (the components map changed)
    assert published == [("up", "ok"), ("up", "ok"), ("degraded", "reported"), ("down", "reported")]


def test_an_older_report_does_not_override_a_newer_one() -> None:
    state, _ = run(
        [(Report("ivr", "down", T + 5000), T + 5000), (Report("ivr", "up", T), T + 6000)]
    )
    assert state.published is not None and state.published.status == "down"


def test_error_rate_above_the_threshold_degrades() -> None:
    _, published = run([(Report("sms-gw", "up", T, error_rate=0.2), T)])
    assert published == [("degraded", "error-rate")]


def test_heartbeat_silence_is_heartbeat_lost_and_a_heartbeat_brings_it_back() -> None:
    state, published = run(
        [
            (Heartbeat("ivr", T), T),
            (Heartbeat("ivr", T + 30_000), T + 30_000),
            (Tick(), T + 30_000 + 90_000),  # exactly the allowed silence: still up
        ]
    )
    assert published == [("up", "ok")]
    assert due_ms(state, POLICY) == T + 30_000 + 90_001
    state, published = run([(Tick(), T + 30_000 + 90_001)], state)
    assert published == [("down", "heartbeat-lost")]
    assert state.published is not None and "no heartbeat" in (state.published.detail or "")
    assert due_ms(state, POLICY) is None  # a silence judged is not due again
    _, published = run([(Heartbeat("ivr", T + 200_000), T + 200_000)], state)
    assert published == [("up", "ok")]


def test_components_that_only_report_are_not_watched_for_silence() -> None:
    state, published = run([(Report("email-gw", "up", T), T), (Tick(), T + 10 * 3_600_000)])
    assert published == [("up", "ok")]
    assert due_ms(state, POLICY) is None


def traffic(minutes: list[int], start: int = T) -> list[tuple[Signal, int]]:
    """One count per minute, each followed by a tick after the minute closed."""
    out: list[tuple[Signal, int]] = []
    for i, count in enumerate(minutes):
        minute = start + i * MINUTE_MS
        out.append((Traffic(f"c-{minute}", minute, count, minute + 59_000), minute + 59_000))
        out.append((Tick(), minute + MINUTE_MS + 10_000))
    return out


def test_a_traffic_drop_degrades_after_consecutive_low_minutes_and_recovers() -> None:
    state, published = run(traffic([40] * 8 + [5, 5]))
    assert published == [("up", "ok"), ("degraded", "traffic-drop")]
    assert state.traffic is not None and state.traffic.baseline == pytest.approx(40.0)
    _, published = run(traffic([30], start=T + 10 * MINUTE_MS), state)
    assert published == [("up", "ok")]


def test_a_single_low_minute_or_a_low_baseline_is_not_a_drop() -> None:
    _, published = run(traffic([40] * 8 + [5, 40, 5]))
    assert published == [("up", "ok")]
    _, published = run(traffic([4] * 10 + [0, 0, 0]))  # below the minimum baseline
    assert published == [("up", "ok")]


def test_minutes_without_any_count_are_judged_as_zero_by_time_alone() -> None:
    state, _ = run(traffic([40] * 8))
    later = T + 8 * MINUTE_MS + 3 * MINUTE_MS + 10_000  # three empty minutes have closed
    _, published = run([(Tick(), later)], state)
    assert published == [("degraded", "traffic-drop")]


def test_a_redelivered_count_adds_nothing_and_a_late_one_is_ignored() -> None:
    state, _ = run([(Traffic("a", T, 10, T + 1000), T), (Traffic("a", T, 10, T + 1000), T)])
    assert state.traffic is not None and state.traffic.counts == {T: 10}
    state, _ = run(
        [(Tick(), T + MINUTE_MS + 10_000), (Traffic("b", T, 7, T + 5000), T + 80_000)], state
    )
    assert state.traffic is not None and state.traffic.last_count == 10
    assert state.traffic.counts == {}


def test_a_fast_replay_is_judged_on_event_time_until_its_arrivals_stop() -> None:
    """Events ten hours old replayed in a few seconds of wall time: minutes close as the
    replay's event time advances, not all at once by the wall clock; when the arrivals stop,
    wall time carries the horizon on and the silent minutes count."""
    wall = T + 10 * 3_600_000
    state: ChannelState | None = None
    published: list[tuple[str, str]] = []
    for i in range(20):
        minute = T + i * MINUTE_MS
        for part in range(2):  # two counters (two workers) per minute
            signal = Traffic(f"r-{i}-{part}", minute, 20, minute + 50_000 + part)
            state, status = step(state, "chat", signal, wall, POLICY, wall_ms=wall + i * 100)
            published += [(status.status, status.reason)] if status else []
        state, status = step(state, "chat", Tick(), wall, POLICY, wall_ms=wall + i * 100 + 50)
        published += [(status.status, status.reason)] if status else []
    assert state is not None and state.traffic is not None
    assert published == [("up", "ok")]
    assert state.traffic.baseline == pytest.approx(40.0) and state.traffic.minutes == 19
    later = wall + 2_000 + 3 * MINUTE_MS
    state, status = step(state, "chat", Tick(), wall, POLICY, wall_ms=later)
    assert status is not None and (status.status, status.reason) == ("degraded", "traffic-drop")


def test_traffic_in_event_mode_moves_only_with_arrivals() -> None:
    state, _ = step(None, "sms", Traffic("a", T, 30, T + 1000), T, POLICY)
    state, _ = step(state, "sms", Tick(), T + 3_600_000, POLICY)  # no wall clock: a replay
    assert state.traffic is not None and state.traffic.minutes == 0
    assert traffic_due_wall_ms(state, POLICY) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=40))
def test_published_statuses_alternate_and_traffic_alone_never_takes_a_channel_down(
    minutes: list[int],
) -> None:
    _, published = run(traffic(minutes))
    assert published[0] == ("up", "ok")
    assert all(a != b for a, b in itertools.pairwise(published))
    assert all(status != "down" for status, _ in published)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(min_value=0, max_value=600_000)),
        min_size=1,
        max_size=30,
    ),
    st.integers(min_value=0, max_value=900_000),
)
def test_heartbeat_lost_exactly_when_a_component_is_silent_too_long(
    beats: list[tuple[str, int]], later: int
) -> None:
    state: ChannelState | None = None
    now = T
    for component, offset in beats:
        now = max(now, T + offset)
        state, _ = step(state, "chat", Heartbeat(component, T + offset), now, POLICY)
    now = max(now, T + later)
    state, _ = step(state, "chat", Tick(), now, POLICY)
    assert state.published is not None
    last_seen: dict[str, int] = {}
    for component, offset in beats:
        last_seen[component] = max(last_seen.get(component, 0), T + offset)
    silent = {c for c, seen in last_seen.items() if now - seen > 90_000}
    expected = "down" if silent == set(last_seen) else "degraded" if silent else "up"
    assert state.published.status == expected
    assert {c for c, cond in state.published.components.items() if cond == "down"} == silent


@settings(max_examples=100, deadline=None)
@given(st.permutations(list(range(6))))
def test_the_order_of_reports_does_not_change_the_outcome(order: list[int]) -> None:
    reports = [Report(f"trunk-{i % 2}", "down" if i % 3 else "up", T + i * 1000) for i in range(6)]
    state: ChannelState | None = None
    for i in order:
        state, _ = step(state, "voice", reports[i], T + 10_000, POLICY)
    assert state is not None and state.published is not None
    assert state.published.components == {"trunk-0": "down", "trunk-1": "down"}


def test_arrivals_are_the_contact_opening_types() -> None:
    assert arrival_channel("cim.voice.offered") == "voice"
    assert arrival_channel("cim.chat.started") == "chat"
    assert arrival_channel("cim.selfservice.started") == "selfservice"
    assert arrival_channel("cim.interaction.answered") is None
    assert arrival_channel("cim.voice.held") is None


def test_minute_counts_drain_per_channel_and_minute() -> None:
    counts = MinuteCounts()
    opened = [counts.add("voice", T + offset) for offset in (0, 1000, 59_999, 60_000)]
    assert opened == [False, False, False, True]  # the fourth opens a new minute
    counts.add("chat", T)
    assert counts.drain(before_ms=T + MINUTE_MS) == [("chat", T, 1, T), ("voice", T, 3, T + 59_999)]
    assert counts.drain() == [("voice", T + MINUTE_MS, 1, T + MINUTE_MS)]
    assert counts.drain() == []


def test_policy_file_is_validated_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        "heartbeatSilenceSeconds: 30\ntraffic:\n  dropRatio: 0.5\n  recoverRatio: 0.4\n"
    )
    with pytest.raises(YamlFileError) as error:
        load_channel_policy(path)
    assert "channels.yaml:3" in str(error.value) and "recoverRatio" in str(error.value)
    path.write_text("heartbeatSilenceSeconds: 30\ntraffic: {dropRatio: 0.2}\n")
    policy = load_channel_policy(path)
    assert policy.silence_ms == 30_000 and policy.traffic.drop_ratio == 0.2
    assert load_channel_policy(None) == ChannelPolicy()


def test_the_shipped_policy_file_is_the_default() -> None:
    shipped = Path(__file__).resolve().parents[2] / "deploy" / "policies" / "channels.yaml"
    assert load_channel_policy(shipped) == ChannelPolicy()
