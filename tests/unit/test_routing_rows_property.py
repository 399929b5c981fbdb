"""Property: whatever steps a pool takes, the rows each step writes (``changed_rows``, found by
identity) rebuild exactly the live pool, as a recovery from the changelog would."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from interaction_streams.contract.events import agent as ev
from interaction_streams.domain.routing import matcher as m
from interaction_streams.domain.routing.policy import RoutingChoice, TargetSpec
from interaction_streams.domain.routing.rows import RoutedEntry, changed_rows, pools_from_rows
from interaction_streams.domain.routing.skills import Target
from tests.unit.test_routing_rows import Table

T0 = 1_700_000_000_000
AGENTS = ("a1", "a2", "a3")
CALLS = ("c1", "c2", "c3", "c4", "c5")

step_strategy = st.one_of(
    st.tuples(st.just("login"), st.sampled_from(AGENTS)),
    st.tuples(st.just("logout"), st.sampled_from(AGENTS)),
    st.tuples(st.just("enqueue"), st.sampled_from(CALLS)),
    st.tuples(st.just("remove"), st.sampled_from(CALLS)),
    st.tuples(st.just("escalate"), st.sampled_from(CALLS)),
    st.tuples(st.just("accept"), st.sampled_from(CALLS)),
    st.tuples(st.just("reject"), st.sampled_from(CALLS)),
    st.tuples(st.just("complete"), st.sampled_from(CALLS)),
    st.tuples(st.just("expire"), st.just("")),
)


def apply(
    pool: m.Pool, op: str, name: str, now: int, routed: dict[str, Any]
) -> tuple[m.Pool, tuple[m.Decision, ...]]:
    if op == "login":
        event = ev.AgentLoggedIn(agent_id=name, capacity={"voice": 1, "chat": 2}, wrap_up_seconds=0)
        return m.on_agent_event(pool, "cim.agent.logged-in", event, now)
    if op == "logout":
        return m.on_agent_event(pool, "cim.agent.logged-out", ev.AgentEvent(agent_id=name), now)
    if op == "enqueue":
        if name in pool.offers or name in pool.waiting:
            return pool, ()  # the stage drops a duplicate enqueue
        target = Target(queues=("q",), priority=len(routed) % 3)
        channel = "voice" if name in ("c1", "c2", "c3") else "chat"
        routed[name] = RoutedEntry(
            choice=RoutingChoice(rule="r", target=TargetSpec(queue="q")), queue="q", enqueued_ms=now
        )
        entry = m.Waiting(interaction_id=name, channel=channel, target=target, enqueued_ms=now)
        return m.enqueue(pool, entry), ()
    if op == "remove":
        return m.remove(pool, name, "abandoned", now)
    if op == "escalate":
        return m.escalate(pool, name, 5, f"e-{now}")[0], ()
    offer = pool.offers.get(name)
    if op == "accept" and offer is not None:
        pool, assignment = m.accept(pool, offer.offer_id, now)
        return pool, (assignment,) if assignment else ()
    if op == "reject" and offer is not None:
        pool, ended = m.reject(pool, offer.offer_id, now)
        return pool, (ended,) if ended else ()
    if op == "complete":
        for agent_id, held in pool.assignments.items():
            if name in held:
                return m.complete(pool, agent_id, name, now), ()
    if op == "expire":
        pool, timed_out, away = m.expire(pool, now, 2)
        return pool, (*timed_out, *away)
    return pool, ()


@settings(max_examples=150, deadline=None)
@given(st.lists(step_strategy, max_size=40))
def test_the_rows_of_every_step_rebuild_the_live_pool(steps: list[tuple[str, str]]) -> None:
    table = Table()
    routed: dict[str, RoutedEntry] = {}
    pool = m.Pool(pool_id="p1")
    now = T0
    for op, name in steps:
        now += 7_000
        before = pool
        pool, decisions = apply(pool, op, name, now, routed)
        pool, _ = m.match(pool, now, {}, 10_000)
        # the stage's way: only what an assignment or a dequeue names can have left
        left = {d.interaction_id for d in decisions if isinstance(d, m.Assignment | m.Dequeued)}
        gone = [i for i in sorted(left) if i in routed and i not in pool.waiting | pool.offered]
        for i in gone:
            del routed[i]
        table.apply(changed_rows("p1", before, pool, routed, gone))
        assert set(routed) == {i for i in routed if i in pool.waiting or i in pool.offered}
    pools, rebuilt = pools_from_rows(table.items())
    if pool == m.Pool(pool_id="p1"):
        assert pools.get("p1", pool) == pool
        return
    assert pools["p1"] == pool
    assert rebuilt.get("p1", {}) == routed
