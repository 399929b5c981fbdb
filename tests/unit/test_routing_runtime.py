"""Routing at run time, pure parts: channel-status facts and alternatives in the policy, the
policy document published on the policy topic, and rate-limited position updates."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interaction_streams.admin.policies import routing_policy_document
from interaction_streams.contract.routing import PolicyDocument
from interaction_streams.domain.routing.decide import facts_for, route
from interaction_streams.domain.routing.policy import (
    load_routing_policy,
    next_policy,
    parse_routing_policy,
)
from interaction_streams.domain.routing.positions import position_updates
from interaction_streams.yamlfile import YamlFileError

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "policies" / "routing.yaml"
NOW = datetime(2026, 11, 26, 9, tzinfo=UTC)

SMALL = textwrap.dedent(
    """\
    version: v1
    lastAgentWaitSeconds: 30
    queues:
      general: {channel: voice}
    rules:
      - name: down
        when: channelStatus.voice == "down"
        target:
          queue: general
          alternatives: [callback, chat]
          announcement: Lines are down.
      - name: all
        when: "true"
        target: {queue: general}
    """
)


def test_a_rule_reads_the_channel_status_and_offers_alternatives() -> None:
    policy = parse_routing_policy(SMALL, "small.yaml")
    assert policy.last_agent_wait_seconds == 30
    facts = facts_for("voice")
    assert route(policy, facts).rule == "all"  # no status known: null, the rule does not hold
    down = route(policy, {**facts, "channelStatus.voice": "down"})
    assert down.rule == "down"
    assert down.target.alternatives == ("callback", "chat")
    assert down.target.announcement == "Lines are down."
    assert route(policy, {**facts, "channelStatus.voice": "degraded"}).rule == "all"


def test_the_example_policy_offers_a_callback_when_voice_is_down() -> None:
    policy = load_routing_policy(EXAMPLE)
    choice = route(policy, {**facts_for("voice"), "channelStatus.voice": "down"})
    assert choice.rule == "voice-down" and "callback" in choice.target.alternatives
    assert route(policy, {**facts_for("chat"), "channelStatus.voice": "down"}).rule == "chat"


@pytest.mark.parametrize(
    ("change", "problem", "line"),
    [
        ("channelStatus.voice", "channelStatus.fax", 7),  # an unknown channel
        ("alternatives: [callback, chat]", "alternatives: [pigeon]", 10),
    ],
)
def test_unknown_channels_and_alternatives_are_refused(
    change: str, problem: str, line: int
) -> None:
    with pytest.raises(YamlFileError) as caught:
        parse_routing_policy(SMALL.replace(change, problem), "bad.yaml")
    assert [p.split(" ")[0] for p in caught.value.problems] == [f"bad.yaml:{line}:"]


def test_the_published_document_round_trips_and_a_bad_one_keeps_the_last_good(
    tmp_path: Path,
) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(SMALL)
    document = routing_policy_document(path, NOW)
    assert (document.name, document.version, document.source) == ("routing", "v1", str(path))
    wire = PolicyDocument.model_validate_json(document.model_dump_json(by_alias=True))
    current, problems = next_policy(None, wire.text, wire.source)
    assert current is not None and problems == []
    bad = SMALL.replace("queue: general\n      alternatives", "queue: nowhere\n      alternatives")
    kept, problems = next_policy(current, bad, "bad.yaml")
    assert kept is current
    assert problems and problems[0].startswith("bad.yaml:9:") and "nowhere" in problems[0]
    path.write_text(bad)
    with pytest.raises(YamlFileError):
        routing_policy_document(path, NOW)  # the CLI refuses it before publishing


# ------------------------------------------------------------------------- positions


def test_positions_go_out_on_change_at_most_once_per_interval() -> None:
    sent: dict[str, tuple[int, int]] = {}
    out, sent, held = position_updates({"a": (1, 0), "b": (2, 1000)}, sent, 0, 5000)
    assert out == ["a", "b"] and not held
    out, sent, held = position_updates({"a": (1, 0), "b": (2, 900)}, sent, 1000, 5000)
    assert out == [] and not held  # same positions: nothing (a wait change alone is not sent)
    out, sent, held = position_updates({"b": (1, 0)}, sent, 2000, 5000)
    assert out == [] and held and "a" not in sent  # b moved, too soon: held back; a left
    out, sent, held = position_updates({"b": (1, 0)}, sent, 5000, 5000)
    assert out == ["b"] and not held and sent["b"] == (1, 5000)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 3_000), st.dictionaries(st.sampled_from("abcd"), st.integers(1, 4))
        ),
        max_size=30,
    ),
    st.integers(0, 5_000),
)
def test_no_interaction_gets_two_updates_within_the_interval(
    steps: list[tuple[int, dict[str, int]]], interval: int
) -> None:
    sent: dict[str, tuple[int, int]] = {}
    last: dict[str, int] = {}
    now = 0
    for advance, positions in steps:
        now += advance
        current = {k: (v, None) for k, v in positions.items()}
        out, sent, held = position_updates(current, sent, now, interval)
        for iid in out:
            assert iid not in last or now - last[iid] >= interval
            last[iid] = now
        for iid in list(last):
            if iid not in current:
                del last[iid]  # left the queue: a later return starts afresh
        # whatever is not held back is up to date
        for iid, (position, _) in current.items():
            assert sent[iid][0] == position or held
