"""The simulator's core without Kafka: reproducible from its seed, Poisson arrivals at the
configured rate, contract-valid events, and a closed loop with a stand-in router."""

from __future__ import annotations

import itertools
import statistics
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interaction_streams.contract.envelope import decode_envelope
from interaction_streams.contract.events.registry import type_payload
from interaction_streams.contract.routing import WorkAssignment
from interaction_streams.harness import cloud_event
from interaction_streams.simulator.core import START_TYPE, Emitted, Simulation, draw
from interaction_streams.simulator.scenario import (
    Duration,
    Scenario,
    load_scenario,
)
from interaction_streams.yamlfile import YamlFileError, parse_yaml_model

QUEUEING = ("cim.interaction.queued", "cim.chat.bot.handover", "cim.interaction.transferred")
FAMILY = {
    "channel-events": "channel",
    "agent-events": "agent",
    "business-events": "business",
    "customer-profile": "profile",
}


def scenario(name: str = "single-queue", **changes: Any) -> Scenario:
    s = load_scenario(name).scenario
    return s.model_copy(update=changes)


class StandInRouter:
    """A naive platform for tests: first come first served to any logged-in agent with room on
    the channel (skills ignored); offers, assigns, rescinds on abandon, frees on completion."""

    def __init__(self) -> None:
        self.waiting: deque[tuple[str, str]] = deque()
        self.room: dict[str, dict[str, int]] = {}
        self.offers: dict[str, tuple[str, str, str]] = {}  # offer -> agent, interaction, channel
        self.held: dict[tuple[str, str], str] = {}  # (agent, interaction) -> channel
        self.serial = 0

    def see(self, e: Emitted) -> list[WorkAssignment]:
        d, out = e.data, []
        channel = str(d.get("interactionId", "")).split("-")[0]
        channel = "voice" if channel.startswith("outage") else channel
        if e.type == "cim.agent.logged-in":
            self.room[d["agentId"]] = dict(d["capacity"])
        elif e.type == "cim.agent.logged-out":
            self.room.pop(d["agentId"], None)
        elif e.type in QUEUEING:
            self.waiting.append((d["interactionId"], channel))
        elif e.type == "cim.interaction.abandoned":
            self.waiting = deque(w for w in self.waiting if w[0] != d["interactionId"])
            for oid, (agent, iid, ch) in list(self.offers.items()):
                if iid == d["interactionId"]:
                    del self.offers[oid]
                    self.room[agent][ch] += 1
                    out.append(self.record("rescind", agent, iid, e.at_ms, oid))
        elif e.type in ("cim.agent.offer.accepted", "cim.agent.offer.rejected"):
            offer = self.offers.pop(d["offerId"], None)
            if offer is None:  # rescinded meanwhile (the customer left): the answer is late
                return out + self.match(e.at_ms)
            agent, iid, ch = offer
            if e.type == "cim.agent.offer.accepted":
                self.held[(agent, iid)] = ch
                out.append(self.record("assign", agent, iid, e.at_ms, d["offerId"]))
            else:
                self.room[agent][ch] += 1
                self.waiting.appendleft((iid, ch))
        elif e.type == "cim.agent.work.completed":
            ch = self.held.pop((d["agentId"], d["interactionId"]))
            if d["agentId"] in self.room:
                self.room[d["agentId"]][ch] += 1
        return out + self.match(e.at_ms)

    def match(self, at_ms: int) -> list[WorkAssignment]:
        out = []
        for iid, ch in list(self.waiting):
            agent = next((a for a in sorted(self.room) if self.room[a].get(ch, 0) > 0), None)
            if agent is None:
                continue
            self.waiting.remove((iid, ch))
            self.room[agent][ch] -= 1
            self.serial += 1
            oid = f"offer-{self.serial}"
            self.offers[oid] = (agent, iid, ch)
            out.append(self.record("offer", agent, iid, at_ms, oid))
        return out

    def record(self, kind: str, agent: str, iid: str, at_ms: int, oid: str) -> WorkAssignment:
        return WorkAssignment.model_validate(
            {
                "id": f"{oid}:{kind}",
                "kind": kind,
                "offerId": oid,
                "agentId": agent,
                "interactionId": iid,
                "routingPool": "main",
                "at": datetime.fromtimestamp(at_ms / 1000, tz=UTC),
            }
        )


def run(
    s: Scenario, seed: int, seconds: float, router: StandInRouter | None = None
) -> tuple[Simulation, list[Emitted]]:
    """Advance in simulated steps of a second; the router's answers come back one step later,
    as they would through Kafka."""
    sim = Simulation(s, seed)
    events: list[Emitted] = []
    pending: list[WorkAssignment] = []
    for step in range(int(seconds) + 1):
        for a in pending:
            sim.on_assignment(a)
        batch = sim.advance(s.start_ms + step * 1000)
        events += batch
        pending = [a for e in batch for a in router.see(e)] if router else []
    return sim, events


def key(events: list[Emitted]) -> list[tuple[Any, ...]]:
    return [(e.at_ms, e.topic, e.key, e.type, e.id, dict(e.data)) for e in events]


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**31))
def test_the_same_seed_gives_the_same_input_events(seed: int) -> None:
    s = scenario("multichannel-day", duration_seconds=900)
    first = key(run(s, seed, 900, StandInRouter())[1])
    second = key(run(s, seed, 900, StandInRouter())[1])
    assert first == second
    assert any(e[3] == "cim.agent.offer.accepted" for e in first)  # the loop was closed


def test_another_seed_gives_other_traffic() -> None:
    s = scenario("single-queue", duration_seconds=600)
    assert key(run(s, 1, 600)[1]) != key(run(s, 2, 600)[1])


def test_the_offered_traffic_does_not_depend_on_the_products_decisions() -> None:
    s = scenario("multichannel-day", duration_seconds=1200)
    arriving = set(START_TYPE.values()) | {"cim.voice.ivr.completed", "cim.interaction.queued"}

    def offered(events: list[Emitted]) -> list[tuple[Any, ...]]:
        return [k for k in key(events) if k[3] in arriving]

    assert offered(run(s, 5, 1200)[1]) == offered(run(s, 5, 1200, StandInRouter())[1])


def test_every_event_is_valid_for_the_contract_and_in_time_order() -> None:
    s = scenario("multichannel-day", duration_seconds=1800)
    _, events = run(s, 3, 1800, StandInRouter())
    types = set()
    for e in events:
        raw = cloud_event(e.type, e.data, e.id, e.time_iso, source="/simulator/test")
        typed = type_payload(decode_envelope(raw, []), FAMILY[e.topic])  # type: ignore[arg-type]
        types.add(typed.event_type.name)
    assert [e.at_ms for e in events] == sorted(e.at_ms for e in events)
    assert len({e.id for e in events}) == len(events)
    assert {
        "cim.customer.profile.updated",
        "cim.agent.logged-in",
        "cim.voice.ivr.completed",
        "cim.selfservice.contained",
        "cim.chat.bot.handover",
        "cim.interaction.abandoned",
        "cim.agent.offer.accepted",
        "cim.voice.held",
        "cim.interaction.wrapup.completed",
        "cim.interaction.csat.recorded",
        "cim.business.incident.opened",
        "cim.business.bill.issued",
    } <= types


def test_poisson_arrivals_at_the_configured_rate() -> None:
    s = scenario("single-queue", duration_seconds=4 * 3600)
    s = s.model_copy(
        update={
            "channels": {"voice": s.channels["voice"].model_copy(update={"rate_per_hour": 900})}
        }
    )
    sim = Simulation(s, 11)
    events = sim.advance(s.end_ms)
    starts = [e.at_ms for e in events if e.type == "cim.voice.offered"]
    expected = 900 * 4
    assert abs(len(starts) - expected) < 4 * expected**0.5  # within four standard deviations
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    mean = statistics.fmean(gaps)
    assert 3600_000 / 900 * 0.9 < mean < 3600_000 / 900 * 1.1
    assert 0.9 < statistics.pstdev(gaps) / mean < 1.1  # exponential gaps: CV 1


def test_the_daily_profile_shapes_the_arrivals() -> None:
    profile = tuple([1.0] * 12 + [0.25] * 12)
    s = scenario("single-queue", daily_profile=profile, duration_seconds=24 * 3600)
    s = s.model_copy(update={"start": datetime(2026, 11, 26, tzinfo=UTC)})
    events = Simulation(s, 4).advance(s.end_ms)
    hours = [
        datetime.fromtimestamp(e.at_ms / 1000, tz=UTC).hour
        for e in events
        if e.type == "cim.voice.offered"
    ]
    busy, quiet = sum(h < 12 for h in hours), sum(h >= 12 for h in hours)
    assert 3.0 < busy / quiet < 5.3  # 4x the rate, give or take the noise


@pytest.mark.parametrize(
    ("spec", "mean"),
    [
        (Duration(distribution="exponential", mean_seconds=120), 120),
        (Duration(distribution="lognormal", mean_seconds=150, sigma=0.6), 150),
        (Duration(distribution="fixed", mean_seconds=7), 7),
    ],
)
def test_durations_have_the_configured_mean(spec: Duration, mean: float) -> None:
    import random

    rng = random.Random(9)
    got = statistics.fmean(draw(rng, spec) / 1000 for _ in range(20_000))
    assert abs(got - mean) < 0.03 * mean


def test_the_closed_loop_answers_and_wraps_up_in_order() -> None:
    s = scenario("single-queue", duration_seconds=1800)
    sim, events = run(s, 8, 1800, StandInRouter())
    assert sim.stats.accepted > 100 and sum(sim.stats.answered.values()) > 100
    by_contact: dict[str, list[str]] = {}
    for e in events:
        if e.topic == "channel-events":
            by_contact.setdefault(e.key, []).append(e.type.removeprefix("cim."))
    done = [t for t in by_contact.values() if "interaction.wrapup.completed" in t]
    assert done
    for steps in done:
        order = [
            "voice.offered",
            "interaction.queued",
            "interaction.answered",
            "interaction.ended",
            "interaction.wrapup.completed",
        ]
        assert [x for x in steps if x in order] == order


def test_the_outage_brings_calls_from_its_area() -> None:
    s = scenario("multichannel-day", duration_seconds=1800)
    sim, events = run(s, 2, 1800)
    opened = [e for e in events if e.type == "cim.business.incident.opened"]
    assert [e.data["serviceArea"] for e in opened] == ["north"]
    area = {c.party_id: c.service_area for c in sim.customers}
    outage_calls = [e for e in events if e.type == "cim.voice.offered" and "outage" in e.key]
    assert len(outage_calls) > 100  # 900 an hour for 15 minutes
    assert {area[e.data["partyId"]] for e in outage_calls} == {"north"}


def test_the_population_is_drawn_from_the_seed() -> None:
    s = scenario("multichannel-day")
    a, b = Simulation(s, 1), Simulation(s, 1)
    assert a.customers == b.customers and a.customers != Simulation(s, 2).customers
    tiers = {c.tier for c in a.customers}
    assert tiers == {"bronze", "silver", "gold", "platinum"}
    skills = a.agents["billing-001"].spec.skills
    assert 3 <= skills["billing"] <= 5


@pytest.mark.parametrize("name", ["single-queue", "multichannel-day"])
def test_the_shipped_scenarios_load_and_name_an_existing_policy(name: str) -> None:
    loaded = load_scenario(name)
    assert loaded.routing_policy is not None and loaded.routing_policy.exists()
    from interaction_streams.domain.routing.policy import load_routing_policy

    policy = load_routing_policy(loaded.routing_policy)
    for channel in loaded.scenario.channels:
        assert any(q.channel == channel for q in policy.queues.values())


def test_a_bad_scenario_is_refused_with_its_line_and_reason(tmp_path: Path) -> None:
    text = (Path(load_scenario("single-queue").path)).read_text()
    bad = text.replace("count: 10", "count: 10\n    skills: {billing: 7}")
    with pytest.raises(YamlFileError) as err:
        parse_yaml_model(bad, "bad.yaml", Scenario)
    assert any(p.startswith("bad.yaml:14:") and "1..5" in p for p in err.value.problems), (
        err.value.problems
    )
    with pytest.raises(YamlFileError, match="no agent group has capacity for chat"):
        parse_yaml_model(
            text.replace(
                "channels:\n", "channels:\n  chat: {ratePerHour: 1, handle: {meanSeconds: 60}}\n"
            ),
            "x.yaml",
            Scenario,
        )
