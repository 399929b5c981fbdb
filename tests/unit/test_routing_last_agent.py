"""Last-agent preference for a repeat contact: the context keeps the agent of the customer's
latest served interaction, the customer stage adds it to the routing request, the policy's
wait limit holds the contact for that agent, and the matcher honours it. Pure."""

from __future__ import annotations

from datetime import UTC, datetime

from interaction_streams.contract.customer import (
    ContextSnapshot,
    InteractionFact,
    LastAgent,
    WindowCounts,
)
from interaction_streams.contract.events import agent as ev
from interaction_streams.contract.routing import RoutingRequest
from interaction_streams.domain.context.accumulate import snapshot
from interaction_streams.domain.context.model import CustomerContext
from interaction_streams.domain.context.policy import ContextPolicy
from interaction_streams.domain.routing import matcher as m
from interaction_streams.domain.routing.decide import last_agent_preference
from interaction_streams.domain.routing.policy import parse_routing_policy
from interaction_streams.domain.routing.request import with_context
from interaction_streams.domain.routing.skills import Target

T0 = 1_795_683_600_000
AT = datetime.fromtimestamp(T0 / 1000, tz=UTC)
POLICY = """
version: v1
lastAgentWaitSeconds: 30
queues: {general: {channel: voice}}
default: {queue: general}
"""


def fact(iid: str, at: int, agent: str | None, closed: bool = True) -> InteractionFact:
    return InteractionFact(
        interaction_id=iid,
        channel="voice",
        reason="billing",
        status="completed" if closed else "inProgress",
        opened_ms=at,
        closed_ms=at + 60_000 if closed else None,
        with_agent=agent is not None,
        agent_id=agent,
    )


def test_the_snapshot_names_the_agent_of_the_latest_served_interaction() -> None:
    ctx = CustomerContext(
        party_id="ada",
        interactions=(
            fact("i1", T0, "alice"),
            fact("i2", T0 + 1_000, "bob"),
            fact("i3", T0 + 2_000, None, closed=False),  # queued now: no agent yet
        ),
    )
    snap = snapshot(ctx, T0 + 3_000, ContextPolicy())
    assert snap.last_agent is not None
    assert (snap.last_agent.interaction_id, snap.last_agent.agent_id) == ("i2", "bob")


def request(iid: str = "i3", **kw: object) -> RoutingRequest:
    return RoutingRequest(command="enqueue", interaction_id=iid, time=AT, party_id="ada", **kw)


def context(last: LastAgent | None) -> ContextSnapshot:
    return ContextSnapshot(
        party_id="ada",
        as_of=AT,
        windows={"24h": WindowCounts(contacts=2, by_channel={"voice": 2}, abandoned=0)},
        repeat_contact="2 contacts",
        last_agent=last,
    )


def test_the_request_carries_the_last_agent_of_an_earlier_interaction() -> None:
    last = LastAgent(interaction_id="i2", agent_id="bob", opened=AT)
    routed = with_context(request(), context(last))
    assert routed.last_agent_id == "bob" and routed.context_repeat_contact is True
    # re-queued by a transfer: the agent of this very interaction is not "the last agent"
    again = LastAgent(interaction_id="i3", agent_id="bob", opened=AT)
    assert with_context(request(), context(again)).last_agent_id is None


def test_the_wait_limit_applies_to_repeat_contacts_only() -> None:
    policy = parse_routing_policy(POLICY, "p.yaml")
    repeat = request(last_agent_id="bob", context_repeat_contact=True)
    assert last_agent_preference(policy, repeat, T0) == {
        "last_agent": "bob",
        "preferred_until_ms": T0 + 30_000,
    }
    assert last_agent_preference(policy, request(last_agent_id="bob"), T0) == {}
    off = parse_routing_policy(POLICY.replace("30", "0"), "p.yaml")
    assert last_agent_preference(off, repeat, T0) == {}


def test_the_matcher_waits_for_the_last_agent_then_lets_anyone_take_it() -> None:
    pool = m.Pool()
    for aid in ("idle-longest", "bob"):
        login = ev.AgentLoggedIn(agent_id=aid, capacity={"voice": 1}, wrap_up_seconds=0)
        pool, _ = m.on_agent_event(pool, "cim.agent.logged-in", login, T0)
    entry = m.Waiting(
        interaction_id="i3",
        channel="voice",
        target=Target(queues=("general",)),
        enqueued_ms=T0,
        last_agent="bob",
        preferred_until_ms=T0 + 30_000,
    )
    _, offers = m.match(m.enqueue(pool, entry), T0 + 1)
    assert [(o.agent_id, o.preferred) for o in offers] == [("bob", True)]
    # bob is busy elsewhere: nobody else takes it until the wait limit passes
    busy = ev.PresenceChanged(agent_id="bob", presence="busy")
    pool, _ = m.on_agent_event(pool, "cim.agent.presence.changed", busy, T0)
    pool = m.enqueue(pool, entry)
    pool, offers = m.match(pool, T0 + 29_999)
    assert offers == ()
    _, offers = m.match(pool, T0 + 30_000)
    assert [o.agent_id for o in offers] == ["idle-longest"]
