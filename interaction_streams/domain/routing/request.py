"""A routing request completed with the customer's context, pure (the customer stage calls it
before forwarding the request to the routing stage), and the collaboration legs a withdraw of
an interaction takes with it."""

from __future__ import annotations

from collections.abc import Container

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


# Withdraw reasons after which the call goes on (it merely left the queue): its collaboration
# legs, asked for by the agent who has it, stay.
_CALL_GOES_ON = frozenset({"answered", "left-queue"})
LEG_MODES = ("consult", "conference")  # a transfer is offered under the interaction id


def legs_to_withdraw(
    interaction_id: str, reason: str | None, *held: Container[str]
) -> tuple[str, ...]:
    """The consult and conference legs (``<id>~consult``, ``<id>~conference``) of an
    interaction, held in one of ``held`` (the waiting and the offered entries), that a
    withdraw of the interaction for ``reason`` takes with it: all of them when the call is
    over (ended, abandoned, erased, or no reason given), none when it was only answered or
    left the queue (a consult asked for at once may reach the routing stage first)."""
    if reason in _CALL_GOES_ON or "~" in interaction_id:
        return ()
    legs = (f"{interaction_id}~{mode}" for mode in LEG_MODES)
    return tuple(leg for leg in legs if any(leg in h for h in held))
