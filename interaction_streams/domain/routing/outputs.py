"""What the matcher's decisions become on the output topics, with their deterministic ids."""

from __future__ import annotations

from datetime import UTC, datetime

from interaction_streams.contract.routing import RoutingDecision, WorkAssignment
from interaction_streams.domain.routing import matcher as m

_ENDED_KIND = {"rejected": "reject", "timed-out": "timeout"}  # anything else: rescind


def ms_time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def work_assignment(pool_id: str, decision: m.Decision) -> WorkAssignment | None:
    """The ``cim.work.assignments.v1`` record of a decision (None for a dequeue)."""
    if isinstance(decision, m.Offer):
        return WorkAssignment(
            id=f"{decision.offer_id}|offer",
            kind="offer",
            offer_id=decision.offer_id,
            agent_id=decision.agent_id,
            interaction_id=decision.interaction_id,
            routing_pool=pool_id,
            channel=decision.channel,
            queue=decision.queue,
            priority=decision.priority,
            deadline=ms_time(decision.deadline_ms),
            at=ms_time(decision.offered_ms),
        )
    if isinstance(decision, m.Assignment):
        return WorkAssignment(
            id=f"{decision.offer_id}|assign",
            kind="assign",
            offer_id=decision.offer_id,
            agent_id=decision.agent_id,
            interaction_id=decision.interaction_id,
            routing_pool=pool_id,
            channel=decision.channel,
            queue=decision.queue,
            at=ms_time(decision.accepted_ms),
        )
    if isinstance(decision, m.OfferEnded):
        kind = _ENDED_KIND.get(decision.reason, "rescind")
        return WorkAssignment(
            id=f"{decision.offer_id}|{kind}",
            kind=kind,
            offer_id=decision.offer_id,
            agent_id=decision.agent_id,
            interaction_id=decision.interaction_id,
            routing_pool=pool_id,
            requeued=decision.requeued,
            at=ms_time(decision.at_ms),
        )
    if isinstance(decision, m.AgentAway):
        return WorkAssignment(
            id=f"{decision.agent_id}|away|{decision.at_ms}",
            kind="away",
            agent_id=decision.agent_id,
            routing_pool=pool_id,
            at=ms_time(decision.at_ms),
        )
    return None


def dequeued(pool_id: str, decision: m.Dequeued) -> RoutingDecision:
    """The ``cim.routing.decisions.v1`` record of an interaction leaving its queue."""
    return RoutingDecision(
        id=f"{decision.interaction_id}|dequeued|{decision.at_ms}",
        kind="dequeued",
        interaction_id=decision.interaction_id,
        routing_pool=pool_id,
        queue=decision.queue,
        rule="",
        reason=decision.reason,
        at=ms_time(decision.at_ms),
    )
