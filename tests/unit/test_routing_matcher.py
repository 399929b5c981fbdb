"""The matcher, without a broker.

Unit tests of each strategy, the order of service, exclusive voice, offers (accept, reject,
time-out, rescind), re-queue with the original age, missed offers, the last-agent preference,
collaboration and queue figures; then property tests over random sequences of operations:

- no agent is ever above capacity on any channel;
- no interaction is offered to two agents at once;
- within a queue and priority the older interaction goes first;
- every required skill is met (the target at the time of the offer: a relaxing step changes it);
- with agents logged in, every waiting interaction is eventually offered or abandoned;

and ``match`` against a plain reference implementation (every agent checked for every entry),
which the indexes and caches of the real one must agree with exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from interaction_streams.contract.events import agent as ev
from interaction_streams.domain.routing import agents as ag
from interaction_streams.domain.routing import matcher as m
from interaction_streams.domain.routing.agents import Agent, CapacityRules
from interaction_streams.domain.routing.skills import SkillRequirement, Target

T0 = 1_700_000_000_000
TIMEOUT = 10_000


# ------------------------------------------------------------------------- helpers


def login(
    pool: m.Pool,
    agent_id: str,
    *,
    capacity: dict[str, int] | None = None,
    skills: dict[str, int] | None = None,
    at: int = T0,
    wrap_up: int = 0,
    rules: CapacityRules | None = None,
) -> m.Pool:
    event = ev.AgentLoggedIn(
        agent_id=agent_id,
        skills=skills or {},
        capacity=capacity if capacity is not None else {"voice": 1, "chat": 2, "email": 2},
        wrap_up_seconds=wrap_up,
    )
    pool, _ = m.on_agent_event(pool, "cim.agent.logged-in", event, at, rules=rules)
    return pool


def presence(pool: m.Pool, agent_id: str, value: Any, at: int) -> m.Pool:
    event = ev.PresenceChanged(agent_id=agent_id, presence=value)
    pool, _ = m.on_agent_event(pool, "cim.agent.presence.changed", event, at)
    return pool


def req(skill: str, level: int = 1) -> SkillRequirement:
    return SkillRequirement(skill=skill, min_proficiency=level)


def waiting(
    iid: str,
    at: int = T0,
    *,
    channel: str = "voice",
    queue: str = "q",
    priority: int = 0,
    required: tuple[SkillRequirement, ...] = (),
    optional: tuple[SkillRequirement, ...] = (),
    **kw: Any,
) -> m.Waiting:
    target = Target(queues=(queue,), priority=priority, required=required, optional=optional)
    return m.Waiting(interaction_id=iid, channel=channel, target=target, enqueued_ms=at, **kw)


def enqueue_all(pool: m.Pool, *entries: m.Waiting) -> m.Pool:
    for entry in entries:
        pool = m.enqueue(pool, entry)
    return pool


def offered_to(offers: tuple[m.Offer, ...]) -> dict[str, str]:
    return {o.interaction_id: o.agent_id for o in offers}


def busy(pool: m.Pool, agent_id: str, iid: str, channel: str = "chat", at: int = T0) -> m.Pool:
    """Give ``agent_id`` accepted work ``iid`` (through the offer path)."""
    pool = m.enqueue(
        pool,
        waiting(iid, at - 1, channel=channel, preferred_agent=agent_id, preferred_until_ms=at + 1),
    )
    pool, offers = m.match(pool, at)
    assert offered_to(offers).get(iid) == agent_id, offers
    pool, done = m.accept(pool, offers[0].offer_id, at)
    assert done is not None
    return pool


# ------------------------------------------------------------------------- order and strategies


def test_order_of_service_is_priority_then_age_then_id() -> None:
    pool = login(m.Pool(), "a1", capacity={"voice": 1})
    pool = enqueue_all(
        pool,
        waiting("old", T0 - 50_000),
        waiting("urgent", T0 - 1_000, priority=5),
        waiting("b-same", T0 - 20_000),
        waiting("a-same", T0 - 20_000),
    )
    order = [w.interaction_id for w in sorted(pool.waiting.values(), key=m.order_key)]
    assert order == ["urgent", "old", "a-same", "b-same"]
    pool, offers = m.match(pool, T0)
    assert offered_to(offers) == {"urgent": "a1"}


def test_longest_idle_is_the_default() -> None:
    pool = m.Pool()
    pool = login(pool, "a1", at=T0 - 10_000)
    pool = login(pool, "a2", at=T0 - 30_000)  # idle longest
    pool = login(pool, "a3", at=T0 - 20_000)
    pool = m.enqueue(pool, waiting("v1"))
    _, offers = m.match(pool, T0)
    assert offered_to(offers) == {"v1": "a2"}
    assert offers[0].strategy == "longest-idle"


def test_longest_idle_prefers_agents_with_no_work() -> None:
    pool = login(m.Pool(), "a1", at=T0 - 50_000)
    pool = busy(pool, "a1", "c0", at=T0 - 40_000)  # still has room for another chat
    pool = login(pool, "a2", at=T0 - 1_000)
    pool = m.enqueue(pool, waiting("c1", channel="chat"))
    _, offers = m.match(pool, T0)
    assert offered_to(offers) == {"c1": "a2"}


def test_least_occupied() -> None:
    pool = m.Pool()
    for i, at in ((1, T0 - 9_000), (2, T0 - 1_000)):
        pool = login(pool, f"a{i}", capacity={"chat": 4}, at=at)
    pool = busy(pool, "a1", "c0")
    pool = busy(pool, "a1", "c00")
    pool = busy(pool, "a2", "c01")
    pool = m.enqueue(pool, waiting("c1", channel="chat"))
    _, offers = m.match(pool, T0 + 1, {"q": "least-occupied"})
    assert offered_to(offers) == {"c1": "a2"}  # 1 of 4 beats 2 of 4


def test_round_robin_cycles_through_agents_across_matches() -> None:
    pool = m.Pool()
    for i in (3, 1, 2):
        pool = login(pool, f"a{i}", capacity={"chat": 5})
    strategies = {"q": "round-robin"}
    got = []
    for n in range(5):
        pool = m.enqueue(pool, waiting(f"c{n}", T0 + n, channel="chat"))
        pool, offers = m.match(pool, T0 + 100 + n, strategies)
        got.append(offers[0].agent_id)
    assert got == ["a1", "a2", "a3", "a1", "a2"]
    assert pool.rr_cursor == {"q": "a2"}


def test_round_robin_in_one_match() -> None:
    pool = m.Pool()
    for i in range(4):
        pool = login(pool, f"a{i}", capacity={"chat": 5})
    pool = enqueue_all(pool, *(waiting(f"c{n}", T0 + n, channel="chat") for n in range(6)))
    _, offers = m.match(pool, T0 + 100, {"q": "round-robin"})
    assert [o.agent_id for o in offers] == ["a0", "a1", "a2", "a3", "a0", "a1"]


def test_best_skill_match_sums_required_and_optional() -> None:
    pool = m.Pool()
    pool = login(pool, "a1", skills={"billing": 5}, at=T0 - 90_000)
    pool = login(pool, "a2", skills={"billing": 3, "spanish": 4}, at=T0 - 1)
    pool = login(pool, "a3", skills={"billing": 4, "spanish": 1}, at=T0 - 50_000)
    pool = login(pool, "a4", skills={"spanish": 5}, at=T0 - 99_000)  # lacks the required skill
    entry = waiting("v1", required=(req("billing", 2),), optional=(req("spanish"),))
    _, offers = m.match(m.enqueue(pool, entry), T0, {"q": "best-skill-match"})
    assert offered_to(offers) == {"v1": "a2"}  # 3 + 4
    only_required = waiting("v2", required=(req("billing", 2),))
    _, offers = m.match(m.enqueue(pool, only_required), T0, {"q": "best-skill-match"})
    assert offered_to(offers) == {"v2": "a1"}  # 5


def test_best_skill_match_ties_go_to_the_longest_idle() -> None:
    pool = m.Pool()
    pool = login(pool, "a1", skills={"billing": 4}, at=T0 - 10)
    pool = login(pool, "a2", skills={"billing": 4}, at=T0 - 20)
    entry = waiting("v1", required=(req("billing"),))
    _, offers = m.match(m.enqueue(pool, entry), T0, {"q": "best-skill-match"})
    assert offered_to(offers) == {"v1": "a2"}


def test_fewest_contacts_today() -> None:
    pool = m.Pool()
    pool = login(pool, "a1", capacity={"chat": 9}, at=T0 - 90_000)
    pool = login(pool, "a2", capacity={"chat": 9}, at=T0 - 1_000)
    for n in range(2):
        pool = busy(pool, "a1", f"done{n}")
        pool = m.complete(pool, "a1", f"done{n}", T0)
    pool = busy(pool, "a2", "done9")
    pool = m.complete(pool, "a2", "done9", T0)
    pool = m.enqueue(pool, waiting("c1", T0, channel="chat"))
    _, offers = m.match(pool, T0 + 1, {"q": "fewest-contacts-today"})
    assert offered_to(offers) == {"c1": "a2"}
    # the next day the counts start again: longest idle decides (a1 idle since its last work)
    tomorrow = T0 + ag.DAY_MS
    _, offers = m.match(pool, tomorrow, {"q": "fewest-contacts-today"})
    assert offered_to(offers) == {"c1": "a1"}


def test_strategy_is_per_queue_and_unknown_strategies_are_refused() -> None:
    pool = m.Pool()
    pool = login(pool, "a1", skills={"x": 1}, at=T0 - 100)
    pool = login(pool, "a2", skills={"x": 5}, at=T0 - 1)
    pool = enqueue_all(
        pool,
        waiting("v1", T0 - 5, queue="idle", required=(req("x"),)),
        waiting("v2", T0 - 4, queue="best", required=(req("x"),)),
    )
    _, offers = m.match(pool, T0, {"best": "best-skill-match"})
    assert offered_to(offers) == {"v1": "a1", "v2": "a2"}
    with pytest.raises(ValueError, match="unknown strategy"):
        m.match(pool, T0, {"idle": "random"})


def test_required_skills_filter_agents() -> None:
    pool = m.Pool()
    pool = login(pool, "a1", skills={"billing": 2}, at=T0 - 100)
    pool = login(pool, "a2", skills={"billing": 4, "spanish": 3})
    pool = m.enqueue(pool, waiting("v1", required=(req("billing", 3), req("spanish", 2))))
    _, offers = m.match(pool, T0)
    assert offered_to(offers) == {"v1": "a2"}
    pool = m.enqueue(pool, waiting("v2", required=(req("french"),)))
    pool, offers = m.match(pool, T0)
    assert "v2" not in offered_to(offers)
    # a timed step relaxes the requirement: now anyone may take it
    pool = m.retarget(pool, "v2", Target(queues=("q",), step=1))
    _, offers = m.match(pool, T0 + 1)
    assert offered_to(offers) == {"v2": "a1"}


# ------------------------------------------------------------------------- capacity


def test_exclusive_voice() -> None:
    pool = login(m.Pool(), "a1", capacity={"voice": 1, "chat": 3})
    pool = busy(pool, "a1", "c0", channel="chat")
    pool = m.enqueue(pool, waiting("v1"))
    pool, offers = m.match(pool, T0 + 1)
    assert offers == ()  # chat work: no voice
    pool = m.complete(pool, "a1", "c0", T0 + 2)  # no wrap-up: free at once
    pool = m.enqueue(pool, waiting("c1", T0 + 3, channel="chat"))
    pool, offers = m.match(pool, T0 + 4)
    assert offered_to(offers) == {"v1": "a1"}  # voice first (older), then nothing else
    assert pool.waiting.keys() == {"c1"}


def test_capacity_is_reserved_by_offers_and_held_through_wrap_up() -> None:
    pool = login(m.Pool(), "a1", capacity={"chat": 2}, wrap_up=30)
    pool = enqueue_all(pool, *(waiting(f"c{n}", T0 + n, channel="chat") for n in range(3)))
    pool, offers = m.match(pool, T0 + 10)
    assert [o.interaction_id for o in offers] == ["c0", "c1"]
    pool, _ = m.accept(pool, offers[0].offer_id, T0 + 11)
    pool = m.complete(pool, "a1", "c0", T0 + 20)
    pool, offers = m.match(pool, T0 + 21)
    assert offers == ()  # c0 in wrap-up, c1 reserved
    assert m.next_deadline_ms(pool) == T0 + 10 + TIMEOUT * 2  # c1's offer deadline (20 s)
    pool, offers = m.match(pool, T0 + 20 + 30_000)  # wrap-up over
    assert offered_to(offers) == {"c2": "a1"}


def test_no_free_agent_means_no_work() -> None:
    pool = m.enqueue(m.Pool(), waiting("v1"))
    assert m.match(pool, T0) == (pool, ())
    pool = presence(login(pool, "a1"), "a1", "away", T0)
    assert m.match(pool, T0)[1] == ()


# ------------------------------------------------------------------------- offers


def test_offer_ids_are_deterministic_and_unique_per_attempt() -> None:
    pool = enqueue_all(login(m.Pool(), "a1"), waiting("v1"))
    pool, (first,) = m.match(pool, T0, offer_timeout_ms=TIMEOUT)
    assert first.offer_id == "v1#1" and first.deadline_ms == T0 + TIMEOUT
    pool, ended = m.reject(pool, "v1#1", T0 + 1)
    assert ended is not None and ended.requeued and ended.reason == "rejected"
    pool, (second,) = m.match(pool, T0 + 2)
    assert second.offer_id == "v1#2"
    assert m.accept(pool, "v1#1", T0 + 3) == (pool, None)  # the old offer is closed


def test_accept_assigns_and_late_or_unknown_answers_change_nothing() -> None:
    pool = enqueue_all(login(m.Pool(), "a1"), waiting("v1", T0 - 5_000))
    pool, (offer,) = m.match(pool, T0, offer_timeout_ms=TIMEOUT)
    assert m.accept(pool, offer.offer_id, T0 + TIMEOUT) == (pool, None)  # at the deadline: late
    assert m.accept(pool, "nope#1", T0) == (pool, None)
    after, assignment = m.accept(pool, offer.offer_id, T0 + 100)
    assert assignment is not None
    assert assignment.agent_id == "a1" and assignment.enqueued_ms == T0 - 5_000
    assert after.offers == {} and after.offered == {} and after.waiting == {}
    assert after.agents["a1"].work == {"voice": ("v1",)}
    assert after.agents["a1"].contacts_today == 1
    assert m.accept(after, offer.offer_id, T0 + 200) == (after, None)  # a duplicate


def test_reject_and_time_out_requeue_with_the_original_age() -> None:
    pool = login(m.Pool(), "a1", capacity={"voice": 1})
    pool = m.enqueue(pool, waiting("old", T0 - 60_000))
    pool, (offer,) = m.match(pool, T0)
    pool = m.enqueue(pool, waiting("young", T0 + 1))
    pool, _ = m.reject(pool, offer.offer_id, T0 + 2)
    assert pool.waiting["old"].enqueued_ms == T0 - 60_000
    assert pool.waiting["old"].declined == ("a1",)
    pool, (again,) = m.match(pool, T0 + 3, offer_timeout_ms=TIMEOUT)
    assert again.interaction_id == "old"  # still first: its age is kept; a1 is the only agent
    pool, ended, away = m.expire(pool, T0 + 3 + TIMEOUT, max_missed=3)
    assert [e.reason for e in ended] == ["timed-out"] and away == ()
    assert pool.waiting["old"].enqueued_ms == T0 - 60_000
    assert pool.waiting["old"].attempts == 2
    assert pool.agents["a1"].offered == {}


def test_a_declining_agent_is_asked_again_only_when_no_one_else_is_free() -> None:
    pool = login(m.Pool(), "a1", at=T0 - 50_000)
    pool = m.enqueue(pool, waiting("v1"))
    pool, (offer,) = m.match(pool, T0)
    assert offer.agent_id == "a1"
    pool, _ = m.reject(pool, offer.offer_id, T0 + 1)
    pool = login(pool, "a2", at=T0 + 2)  # idle for less time than a1
    pool, (offer,) = m.match(pool, T0 + 3)
    assert offer.agent_id == "a2"


def test_missed_offers_in_a_row_set_the_agent_away() -> None:
    pool = login(m.Pool(), "a1")
    now = T0
    for n in range(3):
        pool = m.enqueue(pool, waiting(f"v{n}", T0 + n))
    for _ in range(2):
        pool, offers = m.match(pool, now, offer_timeout_ms=TIMEOUT)
        assert len(offers) == 1
        now += TIMEOUT
        pool, ended, away = m.expire(pool, now, max_missed=2)
        assert len(ended) == 1
    assert away == (m.AgentAway(agent_id="a1", missed=2, at_ms=now),)
    assert pool.agents["a1"].presence == "away"
    assert m.match(pool, now)[1] == ()
    pool = presence(pool, "a1", "available", now + 1)
    assert pool.agents["a1"].missed_offers_in_a_row == 0
    assert len(m.match(pool, now + 2)[1]) == 1


def test_an_accepted_offer_breaks_the_missed_run() -> None:
    pool = login(m.Pool(), "a1", capacity={"chat": 1})
    pool = enqueue_all(pool, *(waiting(f"c{n}", T0 + n, channel="chat") for n in range(3)))
    pool, _ = m.match(pool, T0 + 10, offer_timeout_ms=TIMEOUT)
    pool, _, _ = m.expire(pool, T0 + 10 + TIMEOUT, max_missed=2)  # one miss
    pool, (offer,) = m.match(pool, T0 + 10 + TIMEOUT)
    pool, _ = m.accept(pool, offer.offer_id, T0 + 11 + TIMEOUT)
    assert pool.agents["a1"].missed_offers_in_a_row == 0


def test_abandon_rescinds_the_open_offer() -> None:
    pool = login(m.Pool(), "a1")
    pool = enqueue_all(pool, waiting("v1", T0 - 30_000), waiting("v2", T0 - 10_000))
    pool, (offer,) = m.match(pool, T0)
    assert offer.interaction_id == "v1"
    pool, decisions = m.remove(pool, "v1", "abandoned", T0 + 500)
    assert decisions == (
        m.OfferEnded(
            offer_id="v1#1",
            interaction_id="v1",
            agent_id="a1",
            reason="rescinded",
            at_ms=T0 + 500,
            requeued=False,
        ),
        m.Dequeued(
            interaction_id="v1",
            queue="q",
            reason="abandoned",
            at_ms=T0 + 500,
            waited_ms=30_500,
            rescinded="v1#1",
        ),
    )
    assert pool.agents["a1"].offered == {} and "v1" not in pool.waiting
    pool, (offer,) = m.match(pool, T0 + 501)
    assert offer.interaction_id == "v2"  # the agent's slot is free again
    pool, decisions = m.remove(pool, "v1", "abandoned", T0 + 502)
    assert decisions == ()


def test_abandon_while_waiting() -> None:
    pool = m.enqueue(m.Pool(), waiting("v1", T0 - 1_000))
    pool, decisions = m.remove(pool, "v1", "abandoned", T0)
    assert pool.waiting == {}
    assert decisions == (
        m.Dequeued(interaction_id="v1", queue="q", reason="abandoned", at_ms=T0, waited_ms=1_000),
    )


def test_logout_rescinds_offers_and_requeues() -> None:
    pool = login(m.Pool(), "a1")
    pool = m.enqueue(pool, waiting("v1", T0 - 1_000))
    pool, _ = m.match(pool, T0)
    event = ev.AgentEvent(agent_id="a1")
    pool, decisions = m.on_agent_event(pool, "cim.agent.logged-out", event, T0 + 1)
    assert [d.reason for d in decisions if isinstance(d, m.OfferEnded)] == ["agent-unavailable"]
    assert pool.waiting["v1"].enqueued_ms == T0 - 1_000
    assert pool.waiting["v1"].declined == ()  # not held against the agent
    assert pool.agents["a1"].presence == "offline"


def test_agent_events_drive_offers_and_work() -> None:
    pool = login(m.Pool(), "a1", capacity={"chat": 2}, wrap_up=10)
    pool = m.enqueue(pool, waiting("c1", channel="chat"))
    pool, (offer,) = m.match(pool, T0)
    answer = ev.OfferAnswer(agent_id="a2", offer_id=offer.offer_id, interaction_id="c1")
    assert m.on_agent_event(pool, "cim.agent.offer.accepted", answer, T0 + 1) == (pool, ())
    answer = ev.OfferAnswer(agent_id="a1", offer_id=offer.offer_id, interaction_id="c1")
    pool, (assignment,) = m.on_agent_event(pool, "cim.agent.offer.accepted", answer, T0 + 2)
    assert isinstance(assignment, m.Assignment)
    done = ev.WorkCompleted(agent_id="a1", interaction_id="c1")
    pool, _ = m.on_agent_event(pool, "cim.agent.work.completed", done, T0 + 60_002)
    assert pool.agents["a1"].wrap_up_until == {"c1": T0 + 70_002}
    assert pool.handle_ms == {"q": 60_000 + 10_000}
    skills = ev.AgentSkills(agent_id="a1", skills={"tech": 5})
    pool, _ = m.on_agent_event(pool, "cim.agent.skills.updated", skills, T0 + 60_003)
    assert pool.agents["a1"].skills == {"tech": 5}
    stranger = ev.PresenceChanged(agent_id="zz", presence="available")
    assert m.on_agent_event(pool, "cim.agent.presence.changed", stranger, T0) == (pool, ())
    pool, _ = m.end_wrap_ups(pool, T0 + 70_002)
    assert pool.agents["a1"].work == {}


# ------------------------------------------------------------------------- preference


def test_last_agent_is_preferred_within_the_wait_limit() -> None:
    pool = login(m.Pool(), "a1", at=T0 - 90_000)  # idle longest, free
    pool = login(pool, "last", capacity={"voice": 1, "chat": 1})
    pool = busy(pool, "last", "c9", channel="chat")
    entry = waiting("v1", last_agent="last", preferred_until_ms=T0 + 30_000)
    pool = m.enqueue(pool, entry)
    pool = m.enqueue(pool, waiting("v2", T0 + 1))
    pool, offers = m.match(pool, T0 + 5)
    assert offered_to(offers) == {"v2": "a1"}  # v1 waits for its last agent; v2 goes by
    assert m.next_deadline_ms(pool) == T0 + 5 + 20_000  # v2's offer; then v1's window
    pool = m.complete(pool, "last", "c9", T0 + 10)
    pool, offers = m.match(pool, T0 + 11)
    assert offered_to(offers) == {"v1": "last"}
    assert offers[0].preferred and offers[0].strategy == "preferred"


def test_after_the_wait_limit_anyone_may_take_it() -> None:
    pool = login(m.Pool(), "a1")
    pool = login(pool, "last", capacity={"chat": 1})  # cannot take voice at all
    pool = m.enqueue(pool, waiting("v1", last_agent="last", preferred_until_ms=T0 + 30_000))
    pool, offers = m.match(pool, T0 + 29_999)
    assert offers == ()
    assert m.next_deadline_ms(pool) == T0 + 30_000
    _, offers = m.match(pool, T0 + 30_000)
    assert offered_to(offers) == {"v1": "a1"}


def test_no_wait_for_a_preferred_agent_who_is_not_logged_in() -> None:
    pool = login(m.Pool(), "a1")
    pool = m.enqueue(pool, waiting("v1", preferred_agent="ghost", preferred_until_ms=T0 + 60_000))
    _, offers = m.match(pool, T0)
    assert offered_to(offers) == {"v1": "a1"}


def test_preferred_agent_comes_before_the_last_agent() -> None:
    pool = login(login(m.Pool(), "last"), "named")
    entry = waiting("v1", preferred_agent="named", last_agent="last", preferred_until_ms=T0 + 1)
    _, offers = m.match(m.enqueue(pool, entry), T0)
    assert offered_to(offers) == {"v1": "named"}


def test_a_preferred_agent_who_rejected_is_not_waited_for() -> None:
    pool = login(login(m.Pool(), "last", at=T0 - 1), "a1", at=T0)
    pool = m.enqueue(pool, waiting("v1", last_agent="last", preferred_until_ms=T0 + 60_000))
    pool, (offer,) = m.match(pool, T0 + 1)
    assert offer.agent_id == "last"
    pool, _ = m.reject(pool, offer.offer_id, T0 + 2)
    _, (offer,) = m.match(pool, T0 + 3)
    assert offer.agent_id == "a1"


# ------------------------------------------------------------------------- collaboration


def test_find_expert_by_skill_name_and_role() -> None:
    pool = m.Pool()
    pool = login(pool, "req", skills={"billing": 5}, at=T0 - 99_000)
    pool = login(pool, "e1", skills={"billing": 3}, at=T0 - 10_000)
    pool = login(pool, "e2", skills={"billing": 5}, at=T0 - 5_000)
    pool = login(pool, "sup", skills={"role:supervisor": 1}, at=T0)
    need = m.ExpertNeed(required=(req("billing", 3),), exclude=("req",))
    assert m.find_expert(pool, need, T0) == "e1"  # longest idle of the experts
    assert m.find_expert(pool, need, T0, "best-skill-match") == "e2"
    assert m.find_expert(pool, m.ExpertNeed(role="supervisor"), T0) == "sup"
    assert m.find_expert(pool, m.ExpertNeed(agent_id="e2"), T0) == "e2"
    assert m.find_expert(pool, m.ExpertNeed(agent_id="nobody"), T0) is None
    assert m.find_expert(pool, m.ExpertNeed(required=(req("french"),)), T0) is None
    busy_pool = busy(pool, "sup", "c1", channel="chat")
    assert m.find_expert(busy_pool, m.ExpertNeed(role="supervisor"), T0 + 1) is None  # voice
    assert m.find_expert(busy_pool, m.ExpertNeed(agent_id="sup"), T0 + 1) is None


def test_offer_to_an_expert_follows_the_offer_path() -> None:
    pool = login(login(m.Pool(), "owner"), "expert", skills={"tech": 4})
    leg = waiting("call-1/consult-1", required=(req("tech", 3),))
    need = m.ExpertNeed(required=leg.target.required, exclude=("owner",))
    expert = m.find_expert(pool, need, T0)
    assert expert == "expert"
    pool, offer = m.offer_to(pool, leg, expert, T0, offer_timeout_ms=TIMEOUT)
    assert offer is not None and offer.strategy == "direct"
    assert m.offer_to(pool, leg, "owner", T0)[1] is None  # one open offer per interaction
    pool, ended = m.reject(pool, offer.offer_id, T0 + 1)
    assert ended is not None and "call-1/consult-1" in pool.waiting
    pool, offers = m.match(pool, T0 + 2)
    assert offered_to(offers) == {"call-1/consult-1": "expert"}  # the only one with the skill


# ------------------------------------------------------------------------- figures


def test_position_and_estimated_wait() -> None:
    pool = m.Pool()
    for i in range(2):
        pool = login(pool, f"a{i}", capacity={"chat": 2})
    pool = presence(presence(pool, "a0", "busy", T0), "a1", "busy", T0)
    pool = enqueue_all(
        pool,
        *(waiting(f"c{n}", T0 + n, channel="chat") for n in range(5)),
        waiting("vip", T0 + 9, channel="chat", priority=3),
        waiting("other", T0, channel="chat", queue="q2"),
    )
    assert m.position_and_wait(pool, "vip", T0 + 10) == (1, 75_000)  # 1 / 4 slots x 300 s
    assert m.position_and_wait(pool, "c3", T0 + 10) == (5, 375_000)
    assert m.position_and_wait(pool, "other", T0 + 10) == (1, 75_000)
    assert m.position_and_wait(pool, "absent", T0) is None
    everyone = m.positions_and_waits(pool, T0 + 10)
    assert everyone["vip"] == (1, 75_000) and everyone["c3"] == (5, 375_000)
    assert everyone == {iid: m.position_and_wait(pool, iid, T0 + 10) for iid in pool.waiting}
    french = m.enqueue(pool, waiting("fr", T0, channel="chat", required=(req("french"),)))
    assert m.position_and_wait(french, "fr", T0) == (3, None)  # after vip and c0; nobody serves it
    stats = m.queue_stats(pool, T0 + 10_000)
    assert stats["q"] == m.QueueStats(
        queue="q", waiting=6, offered=0, oldest_wait_ms=10_000, average_handle_ms=None
    )
    assert stats["q2"].waiting == 1


def test_moving_average_handle_time() -> None:
    pool = login(m.Pool(), "a1", capacity={"chat": 3}, wrap_up=0)
    pool = busy(pool, "a1", "c1", at=T0)
    pool = m.complete(pool, "a1", "c1", T0 + 100_000)
    pool = busy(pool, "a1", "c2", at=T0 + 100_001)
    pool = m.complete(pool, "a1", "c2", T0 + 300_001)
    assert pool.handle_ms == {"q": pytest.approx(100_000 + 0.2 * 100_000)}


# ------------------------------------------------------------------------- the pool value


def test_the_pool_round_trips_through_json_and_decides_the_same() -> None:
    pool = m.Pool(pool_id="site-1")
    for i in range(4):
        pool = login(pool, f"a{i}", skills={"billing": i + 1}, at=T0 - i)
    pool = enqueue_all(
        pool, *(waiting(f"v{n}", T0 + n, required=(req("billing", n % 3 + 1),)) for n in range(6))
    )
    pool, offers = m.match(pool, T0 + 10)
    pool, _ = m.reject(pool, offers[0].offer_id, T0 + 11)
    copy = m.Pool.model_validate_json(pool.model_dump_json(by_alias=True))
    assert copy == pool
    assert m.match(copy, T0 + 20) == m.match(pool, T0 + 20)


# ------------------------------------------------------------------------- reference matcher


def _reference_keys(
    agent: Agent, strategy: str, day: int, scored: tuple[SkillRequirement, ...]
) -> tuple[object, ...]:
    idle: tuple[object, ...] = (
        (1, agent.last_assigned_ms or 0, agent.id)
        if agent.work or agent.offered
        else (0, agent.idle_since_ms, agent.id)
    )
    if strategy == "least-occupied":
        return (ag.load(agent), *idle)
    if strategy == "fewest-contacts-today":
        held = sum(len(ids) for ids in agent.offered.values())
        return (ag.contacts_on(agent, day) + held, *idle)
    if strategy == "best-skill-match":
        return (-ag.skill_score(agent, scored), *idle)
    return idle


def reference_match(
    pool: m.Pool, now: int, strategies: Mapping[str, str], timeout: int
) -> tuple[m.Pool, tuple[m.Offer, ...]]:
    """``match`` as its documentation says, checking every agent for every entry."""
    agents = {i: ag.end_due_wrap_ups(a, now) for i, a in pool.agents.items()}
    cursor = dict(pool.rr_cursor)
    waiting = dict(pool.waiting)
    offers, offered, made = dict(pool.offers), dict(pool.offered), []
    day = now // ag.DAY_MS
    for entry in sorted(pool.waiting.values(), key=m.order_key):
        target, queue = entry.target, entry.target.queues[0]
        strategy = strategies.get(queue, m.DEFAULT_STRATEGY)
        eligible = sorted(
            i
            for i, a in agents.items()
            if ag.can_take(a, entry.channel) and ag.meets(a, target.required)
        )
        chosen: str | None = None
        preferred = False
        if entry.preferred_until_ms is not None and now < entry.preferred_until_ms:
            names = [
                i
                for i in dict.fromkeys((entry.preferred_agent, entry.last_agent))
                if i and i not in entry.declined and i in agents and agents[i].presence != "offline"
            ]
            if names:
                chosen = next((i for i in names if i in eligible), None)
                if chosen is None:
                    continue
                preferred = True
        if chosen is None:
            if not eligible:
                continue
            ids = [i for i in eligible if i not in entry.declined] or eligible
            if strategy == "round-robin":
                after = [i for i in ids if queue not in cursor or i > cursor[queue]]
                chosen = (after or ids)[0]
                cursor[queue] = chosen
            else:
                scored = target.required + target.optional
                chosen = min(ids, key=lambda i: _reference_keys(agents[i], strategy, day, scored))
        attempt = entry.attempts + 1
        offer = m.Offer(
            offer_id=f"{entry.interaction_id}#{attempt}",
            interaction_id=entry.interaction_id,
            agent_id=chosen,
            channel=entry.channel,
            queue=queue,
            priority=target.priority,
            attempt=attempt,
            offered_ms=now,
            deadline_ms=now + timeout,
            strategy="preferred" if preferred else strategy,
            preferred=preferred,
        )
        made.append(offer)
        agents[chosen] = ag.reserve(agents[chosen], entry.channel, entry.interaction_id, now)
        del waiting[entry.interaction_id]
        offers[entry.interaction_id] = offer
        offered[entry.interaction_id] = entry
    if not made:
        return pool.model_copy(update={"agents": agents}), ()
    update = {
        "agents": agents,
        "waiting": waiting,
        "offers": offers,
        "offered": offered,
        "rr_cursor": cursor,
        "clock_ms": max(now, pool.clock_ms),
    }
    return pool.model_copy(update=update), tuple(made)


# ------------------------------------------------------------------------- random operations

AGENTS = ("a0", "a1", "a2", "a3", "a4", "a5")
CAPACITY: dict[str, tuple[dict[str, int], CapacityRules]] = {
    "a0": ({"voice": 1}, CapacityRules()),
    "a1": ({"chat": 2, "email": 2}, CapacityRules(max_total=3)),
    "a2": ({"voice": 1, "chat": 2, "email": 1}, CapacityRules()),
    "a3": ({"chat": 1}, CapacityRules()),
    "a4": ({"voice": 1, "email": 3}, CapacityRules(exclusive=())),
    "a5": ({"voice": 1, "chat": 3, "email": 5}, CapacityRules(max_total=4)),
}
SKILLS = ("billing", "tech", "spanish")
CHANNELS = ("voice", "chat", "email")
QUEUES = ("q0", "q1", "q2")

skill_sets = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), max_size=3)
requirements = st.lists(
    st.builds(req, st.sampled_from(SKILLS), st.integers(1, 4)),
    max_size=2,
    unique_by=lambda r: r.skill,
).map(tuple)


def check_invariants(pool: m.Pool) -> None:
    """Capacity, one offer per interaction, offers match reservations, caches match a rebuild."""
    for agent in pool.agents.values():
        assert ag.within_capacity(agent), agent
    assert not pool.waiting.keys() & pool.offers.keys()
    assert pool.offers.keys() == pool.offered.keys()
    reserved: dict[str, list[str]] = {}
    for agent in pool.agents.values():
        for ids in agent.offered.values():
            for iid in ids:
                reserved.setdefault(iid, []).append(agent.id)
    assert reserved.keys() == pool.offers.keys()
    for iid, offer in pool.offers.items():
        assert reserved[iid] == [offer.agent_id]  # no interaction offered to two agents
        assert iid in pool.agents[offer.agent_id].offered[offer.channel]
    # the derived indexes agree with a fresh build from the fields alone
    fresh = m.Pool.model_validate(pool.model_dump())
    ready, rebuilt = m._ready(pool), m._ready(fresh)
    assert ready.rooms == rebuilt.rooms and ready.wrap == rebuilt.wrap
    assert {c: s for c, s in ready.free.items() if s} == {
        c: s for c, s in rebuilt.free.items() if s
    }
    for skill in ready.levels.keys() | rebuilt.levels.keys():
        assert (
            ready.levels.get(skill, [set()] * 6)[1:] == rebuilt.levels.get(skill, [set()] * 6)[1:]
        )
    rows = sorted(r[0] for rs in m._order(pool).by_need.values() for r in rs)
    assert rows == sorted(m.order_key(w) for w in pool.waiting.values())
    # queue lengths and positions (kept per queue, by bisection) agree with a count
    lengths: dict[str, int] = {}
    for w in pool.waiting.values():
        lengths[w.queue] = lengths.get(w.queue, 0) + 1
    assert m.queue_lengths(pool) == lengths
    positions = m.queue_positions(pool)
    for iid, w in pool.waiting.items():
        ahead = sum(
            1
            for o in pool.waiting.values()
            if o.queue == w.queue and m.order_key(o) < m.order_key(w)
        )
        assert positions[iid] == ahead + 1
        figures = m.position_and_wait(pool, iid, pool.clock_ms)
        assert figures is not None and figures[0] == ahead + 1
    # queue statistics and the next deadline (from the indexes) agree with a scan
    counted: dict[str, list[int]] = {}  # queue -> waiting, offered, oldest enqueued
    for entries, at in ((pool.waiting, 0), (pool.offered, 1)):
        for w in entries.values():
            c = counted.setdefault(w.queue, [0, 0, w.enqueued_ms])
            c[at] += 1
            c[2] = min(c[2], w.enqueued_ms)
    now = pool.clock_ms
    assert {
        q: (s.waiting, s.offered, s.oldest_wait_ms) for q, s in m.queue_stats(pool, now).items()
    } == {q: (c[0], c[1], max(0, now - c[2])) for q, c in counted.items()}
    deadlines = [o.deadline_ms for o in pool.offers.values()]
    deadlines += [min(a.wrap_up_until.values()) for a in pool.agents.values() if a.wrap_up_until]
    deadlines += [
        w.preferred_until_ms
        for w in pool.waiting.values()
        if w.preferred_until_ms is not None and w.preferred_until_ms > now
    ]
    assert m.next_deadline_ms(pool) == min(deadlines, default=None)


class MatcherMachine(RuleBasedStateMachine):
    """Random sequences of enqueue, match, accept, reject, expire, remove, retarget, agent events,
    completions and time passing; ``match`` is checked against the reference every time."""

    interactions = Bundle("interactions")

    def __init__(self) -> None:
        super().__init__()
        self.pool = m.Pool()
        self.now = T0
        self.count = 0
        self.enqueued: dict[str, int] = {}
        self.strategies: dict[str, str] = {}

    @initialize(
        target=interactions,
        strategies=st.lists(st.sampled_from(m.STRATEGIES), min_size=3, max_size=3),
        staff=st.dictionaries(st.sampled_from(AGENTS), skill_sets, min_size=1),
        queued=st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=8),
    )
    def open_the_pool(
        self, strategies: list[str], staff: dict[str, dict[str, int]], queued: list[str]
    ) -> Any:
        """Agents logged in and contacts waiting (more added by the rules)."""
        self.strategies = dict(zip(QUEUES, strategies, strict=True))
        for agent, skills in sorted(staff.items()):
            self.log_in(agent, skills, 0)
        ids = [
            self.enqueue(channel, QUEUES[n % 3], n % 2, (), (), n * 1_000, None, 0)
            for n, channel in enumerate(queued)
        ]
        return multiple(*ids)

    # -- agents

    @rule(agent=st.sampled_from(AGENTS), skills=skill_sets, wrap_up=st.sampled_from((0, 0, 20)))
    def log_in(self, agent: str, skills: dict[str, int], wrap_up: int) -> None:
        capacity, rules = CAPACITY[agent]
        self.pool = login(
            self.pool,
            agent,
            capacity=capacity,
            skills=skills,
            at=self.now,
            wrap_up=wrap_up,
            rules=rules,
        )

    @rule(agent=st.sampled_from(AGENTS))
    def log_out(self, agent: str) -> None:
        event = ev.AgentEvent(agent_id=agent)
        self.pool, _ = m.on_agent_event(self.pool, "cim.agent.logged-out", event, self.now)

    @rule(
        agent=st.sampled_from(AGENTS),
        value=st.sampled_from(("available", "available", "busy", "away", "offline")),
    )
    def change_presence(self, agent: str, value: str) -> None:
        self.pool = presence(self.pool, agent, value, self.now)

    @rule(agent=st.sampled_from(AGENTS), skills=skill_sets)
    def update_skills(self, agent: str, skills: dict[str, int]) -> None:
        event = ev.AgentSkills(agent_id=agent, skills=skills)
        self.pool, _ = m.on_agent_event(self.pool, "cim.agent.skills.updated", event, self.now)

    @rule(data=st.data())
    def complete_work(self, data: st.DataObject) -> None:
        held = sorted((a, i) for a, items in self.pool.assignments.items() for i in items)
        if held:
            agent, iid = data.draw(st.sampled_from(held))
            self.pool = m.complete(self.pool, agent, iid, self.now)

    # -- interactions

    @rule(
        target=interactions,
        channel=st.sampled_from(CHANNELS),
        queue=st.sampled_from(QUEUES),
        priority=st.integers(0, 2),
        required=requirements,
        optional=requirements,
        age=st.integers(0, 120_000),
        last=st.none() | st.sampled_from(AGENTS),
        window=st.integers(0, 60_000),
    )
    def enqueue(
        self,
        channel: str,
        queue: str,
        priority: int,
        required: tuple[SkillRequirement, ...],
        optional: tuple[SkillRequirement, ...],
        age: int,
        last: str | None,
        window: int,
    ) -> str:
        self.count += 1
        iid = f"i{self.count}"
        entry = waiting(
            iid,
            self.now - age,
            channel=channel,
            queue=queue,
            priority=priority,
            required=required,
            optional=optional,
            last_agent=last,
            preferred_until_ms=self.now + window if last else None,
        )
        self.pool = m.enqueue(self.pool, entry)
        self.enqueued[iid] = self.now - age
        return iid

    @rule(iid=interactions)
    def relax(self, iid: str) -> None:
        entry = self.pool.waiting.get(iid) or self.pool.offered.get(iid)
        if entry is not None:
            relaxed = entry.target.model_copy(update={"required": entry.target.required[:-1]})
            self.pool = m.retarget(self.pool, iid, relaxed)

    @rule(iid=interactions)
    def abandon(self, iid: str) -> None:
        offer = self.pool.offers.get(iid)
        self.pool, decisions = m.remove(self.pool, iid, "abandoned", self.now)
        if offer is not None:
            event("abandon: offer rescinded")
            assert decisions[0] == m.OfferEnded(
                offer_id=offer.offer_id,
                interaction_id=iid,
                agent_id=offer.agent_id,
                reason="rescinded",
                at_ms=self.now,
                requeued=False,
            )
        assert iid not in self.pool.waiting and iid not in self.pool.offers

    # -- matching and offers

    @rule()
    def match(self) -> None:
        before = self.pool
        plain = m.Pool.model_validate(before.model_dump())
        self.pool, offers = m.match(before, self.now, self.strategies, TIMEOUT)
        expected_pool, expected = reference_match(plain, self.now, self.strategies, TIMEOUT)
        assert offers == expected
        assert self.pool == expected_pool
        event("match: offers made" if offers else "match: no offer")
        if any(o.preferred for o in offers):
            event("match: an offer to the last agent")
        for offer in offers:
            entry = before.waiting[offer.interaction_id]
            agent = self.pool.agents[offer.agent_id]
            assert ag.meets(agent, entry.target.required)  # every required skill is met
        self.check_order(before, offers)

    def check_order(self, before: m.Pool, offers: tuple[m.Offer, ...]) -> None:
        """Within a queue and priority (and the same needs) the older goes first."""
        for offer in offers:
            young = before.waiting[offer.interaction_id]
            for old in self.pool.waiting.values():
                same = (
                    old.channel == young.channel
                    and old.target.model_copy(update={"step": 0, "rule": ""})
                    == young.target.model_copy(update={"step": 0, "rule": ""})
                    and old.last_agent is None
                    and old.preferred_agent is None
                )
                assert not (same and old.enqueued_ms < young.enqueued_ms), (old, young)

    @rule(data=st.data())
    def accept(self, data: st.DataObject) -> None:
        if self.pool.offers:
            offer = data.draw(st.sampled_from(sorted(self.pool.offers.values(), key=str)))
            self.pool, assignment = m.accept(self.pool, offer.offer_id, self.now)
            assert (assignment is None) == (self.now >= offer.deadline_ms)
            event("accept: assigned" if assignment else "accept: too late")

    @rule(data=st.data())
    def reject(self, data: st.DataObject) -> None:
        if self.pool.offers:
            offer = data.draw(st.sampled_from(sorted(self.pool.offers.values(), key=str)))
            self.pool, ended = m.reject(self.pool, offer.offer_id, self.now)
            assert ended is not None
            event("reject: re-queued")
            assert (
                self.pool.waiting[offer.interaction_id].enqueued_ms
                == self.enqueued[offer.interaction_id]
            )

    @rule(ms=st.integers(1, 25_000))
    def time_passes(self, ms: int) -> None:
        self.now += ms
        self.pool, ended, away = m.expire(self.pool, self.now, max_missed=2)
        for e in ended:
            assert e.interaction_id in self.pool.waiting
        for a in away:
            assert self.pool.agents[a.agent_id].presence == "away"
        if ended:
            event("time: offers timed out")
        if away:
            event("time: an agent set away")

    @invariant()
    def always(self) -> None:
        check_invariants(self.pool)
        # the ids the matcher says may have changed cover every waiting entry that did
        previous = getattr(self, "previous", None)
        if previous is not None:
            hint = m.waiting_changes(previous, self.pool)
            changed = {
                i
                for i in previous.waiting.keys() | self.pool.waiting.keys()
                if previous.waiting.get(i) is not self.pool.waiting.get(i)
            }
            assert hint is None or changed <= hint, (changed, hint)
            event(f"waiting changes {'known' if hint is not None else 'unknown'}")
        self.previous = self.pool
        for iid, entry in (*self.pool.waiting.items(), *self.pool.offered.items()):
            assert entry.enqueued_ms == self.enqueued[iid]  # age kept across re-queues

    # -- liveness

    @precondition(lambda self: bool(self.pool.waiting or self.pool.offers))
    @rule()
    def everyone_works(self) -> None:
        self.drain()

    def teardown(self) -> None:
        self.drain()

    def drain(self) -> None:
        """With every agent logged in (available), answering and completing everything, every
        waiting interaction is offered, unless no agent could ever serve it."""
        pool, now = self.pool, self.now
        for agent in list(pool.agents):
            pool = presence(pool, agent, "available", now)
        for _ in range(len(pool.waiting) + len(pool.offers) + 2):
            now += 100_000  # past every offer deadline, preference window and wrap-up
            pool, _, _ = m.expire(pool, now, max_missed=0)
            pool, offers = m.match(pool, now, self.strategies, TIMEOUT)
            for offer in offers:
                pool, assignment = m.accept(pool, offer.offer_id, now)
                assert assignment is not None
            for agent, items in sorted(pool.assignments.items()):
                for iid in sorted(items):
                    pool = m.complete(pool, agent, iid, now)
            check_invariants(pool)
            if not pool.waiting:
                break
        assert not pool.offers
        event(f"drain: {'some' if pool.waiting else 'no'} interaction no agent can serve")
        for entry in pool.waiting.values():
            servers = [
                a.id
                for a in pool.agents.values()
                if a.capacity.get(entry.channel, 0) > 0 and ag.meets(a, entry.target.required)
            ]
            assert not servers, (entry, servers)


TestMatcherProperties = MatcherMachine.TestCase
TestMatcherProperties.settings = settings(
    max_examples=300,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ------------------------------------------------------------------------- one big match

Entry = tuple[str, str, int, tuple[SkillRequirement, ...], tuple[SkillRequirement, ...], int]


@settings(max_examples=60, deadline=None)
@given(
    agents=st.lists(
        st.tuples(st.sampled_from(AGENTS), skill_sets, st.integers(0, 60_000)),
        min_size=1,
        max_size=12,
    ),
    entries=st.lists(
        st.tuples(
            st.sampled_from(CHANNELS),
            st.sampled_from(QUEUES),
            st.integers(0, 2),
            requirements,
            requirements,
            st.integers(0, 100_000),
        ),
        max_size=40,
    ),
    strategies=st.lists(st.sampled_from(m.STRATEGIES), min_size=3, max_size=3),
)
def test_one_match_agrees_with_the_reference(
    agents: list[tuple[str, dict[str, int], int]],
    entries: list[Entry],
    strategies: list[str],
) -> None:
    pool = m.Pool()
    for n, (name, skills, idle) in enumerate(agents):
        capacity, rules = CAPACITY[name]
        at = T0 - idle
        pool = login(pool, f"{name}-{n}", capacity=capacity, skills=skills, at=at, rules=rules)
    for n, (channel, queue, priority, required, optional, age) in enumerate(entries):
        entry = waiting(
            f"i{n}",
            T0 - age,
            channel=channel,
            queue=queue,
            priority=priority,
            required=required,
            optional=optional,
        )
        pool = m.enqueue(pool, entry)
    by_queue = dict(zip(QUEUES, strategies, strict=True))
    plain = m.Pool.model_validate(pool.model_dump())
    result, offers = m.match(pool, T0, by_queue, TIMEOUT)
    expected_pool, expected = reference_match(plain, T0, by_queue, TIMEOUT)
    assert offers == expected
    assert result == expected_pool
    check_invariants(result)
