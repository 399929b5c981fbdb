"""A routing request completed with the customer's context, pure (the customer stage calls it
before forwarding the request to the routing stage)."""

from __future__ import annotations

from interaction_streams.contract.customer import ContextSnapshot
from interaction_streams.contract.routing import RoutingRequest


def with_context(request: RoutingRequest, context: ContextSnapshot | None) -> RoutingRequest:
    """``request`` with the context facts a routing rule reads (``context.*``, ``moments``);
    a withdraw, or a party without context, goes as it is."""
    if request.command != "enqueue" or context is None:
        return request
    profile = context.profile
    day = context.windows.get("24h")
    active = [m.name for m in context.moments if m.ended is None]
    last = context.last_agent
    # the agent of an earlier interaction (not of this one, re-queued by a transfer)
    last_agent = last.agent_id if last and last.interaction_id != request.interaction_id else None
    return request.model_copy(
        update={
            "language": request.language or profile.language,
            "context_tier": profile.tier,
            "context_segment": profile.segment,
            "context_repeat_contact": context.repeat_contact is not None,
            "context_sentiment": context.sentiment_trend[-1] if context.sentiment_trend else None,
            "context_contacts24h": day.contacts if day is not None else None,
            "context_preferred_channel": context.preferred_channel,
            "context_abandoned24h": day.abandoned if day is not None else None,
            "moments": tuple(dict.fromkeys((*request.moments, *active))),
            "last_agent_id": request.last_agent_id or last_agent,
        }
    )
