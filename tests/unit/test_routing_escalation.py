"""Escalation (a priority boost that keeps the age) and a kept minimum priority (callbacks) in
the pure matcher."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from interaction_streams.contract.events import agent as ev
from interaction_streams.domain.routing import matcher as m
from interaction_streams.domain.routing.skills import Target

T0 = 1_700_000_000_000


def waiting(iid: str, at: int, priority: int = 0, **kw: object) -> m.Waiting:
    target = Target(queues=("q",), priority=priority)
    return m.Waiting(interaction_id=iid, channel="voice", target=target, enqueued_ms=at, **kw)


def login(pool: m.Pool, agent_id: str, at: int = T0) -> m.Pool:
    event = ev.AgentLoggedIn(agent_id=agent_id, capacity={"voice": 1})
    pool, _ = m.on_agent_event(pool, "cim.agent.logged-in", event, at)
    return pool


def order(pool: m.Pool) -> list[str]:
    return [w.interaction_id for w in sorted(pool.waiting.values(), key=m.order_key)]


def test_escalation_raises_the_priority_and_keeps_the_age() -> None:
    pool = m.enqueue(m.Pool(), waiting("old", T0, priority=10))
    pool = m.enqueue(pool, waiting("young", T0 + 5_000))
    assert order(pool) == ["old", "young"]
    pool, entry = m.escalate(pool, "young", 15, "esc-1")
    assert entry is not None
    assert entry.target.priority == 15 and entry.enqueued_ms == T0 + 5_000
    assert order(pool) == ["young", "old"]
    pool = login(pool, "a1")
    _, offers = m.match(pool, T0 + 6_000)
    assert [o.interaction_id for o in offers] == ["young"]
    assert offers[0].priority == 15


def test_a_repeated_escalation_id_changes_nothing() -> None:
    pool = m.enqueue(m.Pool(), waiting("c1", T0))
    pool, first = m.escalate(pool, "c1", 5, "esc-1")
    again, second = m.escalate(pool, "c1", 5, "esc-1")
    assert first is not None and second is None and again is pool
    pool, third = m.escalate(pool, "c1", 5, "esc-2")
    assert third is not None and third.target.priority == 10


def test_escalating_an_unknown_interaction_changes_nothing() -> None:
    pool = m.enqueue(m.Pool(), waiting("c1", T0))
    same, entry = m.escalate(pool, "nobody", 5, "esc-1")
    assert same is pool and entry is None


def test_a_step_keeps_the_boost() -> None:
    pool = m.enqueue(m.Pool(), waiting("c1", T0, priority=10))
    pool, _ = m.escalate(pool, "c1", 20, "e")
    stepped = Target(queues=("q", "overflow"), priority=15, step=1)  # the policy's next step
    pool = m.retarget(pool, "c1", stepped)
    assert pool.waiting["c1"].target.priority == 35
    assert pool.waiting["c1"].target.queues == ("q", "overflow")
    assert m.retarget(pool, "c1", stepped) is pool  # nothing changes: the same pool


def test_an_offered_interaction_escalates_and_keeps_it_when_requeued() -> None:
    pool = login(m.Pool(), "a1")
    pool = m.enqueue(pool, waiting("c1", T0, priority=1))
    pool, offers = m.match(pool, T0 + 1)
    pool, entry = m.escalate(pool, "c1", 9, "e")
    assert entry is not None and "c1" in pool.offered
    pool, _ = m.reject(pool, offers[0].offer_id, T0 + 2)
    assert pool.waiting["c1"].target.priority == 10
    assert pool.waiting["c1"].enqueued_ms == T0


def test_min_priority_keeps_an_earlier_priority() -> None:
    pool = m.enqueue(m.Pool(), waiting("callback", T0 + 9_000, priority=0, min_priority=40))
    assert pool.waiting["callback"].target.priority == 40
    pool = m.enqueue(pool, waiting("vip", T0, priority=30))
    assert order(pool) == ["callback", "vip"]
    # a step that would lower it (a new policy, say) keeps the floor; a higher one wins
    pool = m.retarget(pool, "callback", Target(queues=("q",), priority=5, step=1))
    assert pool.waiting["callback"].target.priority == 40
    pool = m.retarget(pool, "callback", Target(queues=("q",), priority=60, step=2))
    assert pool.waiting["callback"].target.priority == 60


def test_a_second_enqueue_keeps_the_escalations() -> None:
    pool = m.enqueue(m.Pool(), waiting("c1", T0))
    pool, _ = m.escalate(pool, "c1", 7, "e")
    pool = m.enqueue(pool, waiting("c1", T0 + 1_000))
    entry = pool.waiting["c1"]
    assert entry.target.priority == 7 and entry.enqueued_ms == T0 and entry.escalations == ("e",)


@given(
    st.lists(st.integers(min_value=0, max_value=50), min_size=2, max_size=12),
    st.data(),
)
def test_escalation_orders_by_priority_then_age(priorities: list[int], data: st.DataObject) -> None:
    pool = m.Pool()
    for n, p in enumerate(priorities):
        pool = m.enqueue(pool, waiting(f"c{n:02d}", T0 + n * 1000, priority=p))
    chosen = data.draw(st.sampled_from(sorted(pool.waiting)))
    boost = data.draw(st.integers(min_value=1, max_value=100))
    pool, entry = m.escalate(pool, chosen, boost, "e")
    assert entry is not None
    ranked = sorted(pool.waiting.values(), key=m.order_key)
    for a, b in pairwise(ranked):
        assert (a.target.priority, -a.enqueued_ms) >= (b.target.priority, -b.enqueued_ms)
    assert pool.waiting[chosen].enqueued_ms == T0 + int(chosen[1:]) * 1000
    # the incremental order of service agrees with a fresh one
    login_pool = login(pool, "a1")
    _, offers = m.match(login_pool, T0 + 100_000)
    assert offers[0].interaction_id == ranked[0].interaction_id
