"""Routing decisions, pure: the facts of an interaction, the rule that matches them, and the
target as of a moment of the wait."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import Any

from interaction_streams.contract.customer import ContextSnapshot
from interaction_streams.contract.routing import RoutingRequest
from interaction_streams.domain.routing.policy import RoutingChoice, RoutingPolicy
from interaction_streams.domain.routing.skills import Target

Facts = Mapping[str, Any]

__all__ = [
    "Facts",
    "RoutingChoice",
    "facts_for",
    "last_agent_preference",
    "next_step_after",
    "overflow_for",
    "route",
    "target_at",
]


def facts_for(
    channel: str,
    direction: str = "inbound",
    intent: str | None = None,
    language: str | None = None,
    ivr: Mapping[str, str] | None = None,
    requested_queue: str | None = None,
    context: ContextSnapshot | None = None,
    moments: Iterable[str] = (),
    party_known: bool = False,
) -> dict[str, Any]:
    """The facts a rule reads, flat by dotted name (``policy.KNOWN_FACTS``).

    ``language`` falls back on the customer's profile language; ``moments`` are the
    active moment names given plus those active in ``context``; ``context.contacts24h``
    reads the context's ``24h`` window. Without a context, every ``context.*`` is null.
    """
    active = list(dict.fromkeys(moments))
    facts: dict[str, Any] = {
        "channel": channel,
        "direction": direction,
        "intent": intent,
        "language": language,
        "queue": requested_queue,
        "moments": active,
        "party.known": party_known,
    }
    for key, selection in (ivr or {}).items():
        facts[f"ivr.{key}"] = selection
    if context is not None:
        profile = context.profile
        day = context.windows.get("24h")
        facts.update(
            {
                "language": language or profile.language,
                "context.tier": profile.tier,
                "context.segment": profile.segment,
                "context.repeatContact": context.repeat_contact is not None,
                "context.sentiment": (
                    context.sentiment_trend[-1] if context.sentiment_trend else None
                ),
                "context.contacts24h": day.contacts if day is not None else None,
                "context.preferredChannel": context.preferred_channel,
            }
        )
        for moment in context.moments:
            if moment.ended is None and moment.name not in active:
                active.append(moment.name)
    return facts


def last_agent_preference(
    policy: RoutingPolicy, request: RoutingRequest, enqueued_ms: int
) -> dict[str, Any]:
    """The matcher's ``last_agent`` and ``preferred_until_ms`` for a repeat contact: the
    agent of the customer's previous interaction alone may take it for the policy's
    ``lastAgentWaitSeconds`` from when it queued (if logged in); none otherwise."""
    wait = policy.last_agent_wait_seconds
    if not (request.last_agent_id and request.context_repeat_contact and wait > 0):
        return {}
    return {
        "last_agent": request.last_agent_id,
        "preferred_until_ms": enqueued_ms + int(wait * 1000),
    }


def route(policy: RoutingPolicy, facts: Facts) -> RoutingChoice:
    """The first rule whose condition holds, else the policy's default target."""
    for condition, choice in policy.table:
        if condition.evaluate(facts):
            return choice
    if policy.fallback is None:  # a validated policy always has a rule or a default that fits
        raise LookupError("no routing rule matches and the policy has no default")
    return policy.fallback


def target_at(policy: RoutingPolicy, choice: RoutingChoice, waited_seconds: float) -> Target:
    """The target after ``waited_seconds`` of waiting: every step whose ``afterSeconds`` has
    passed applied in order (drop optional skills, lower proficiencies to no less than 1, add
    queues, raise the priority to at most 1000).

    The steps come from ``choice``, not ``policy``: a policy replaced during the wait does not
    change the steps of an interaction already routed.
    """
    return choice.targets[bisect_right(choice.afters, waited_seconds)]


def next_step_after(
    policy: RoutingPolicy, choice: RoutingChoice, waited_seconds: float
) -> float | None:
    """The wait (seconds since queued, like ``afterSeconds``) at which the target changes
    next, or None when every step has applied: when to set the stage's timer."""
    n = bisect_right(choice.afters, waited_seconds)
    return choice.afters[n] if n < len(choice.afters) else None


def overflow_for(policy: RoutingPolicy, queue: str, lengths: Mapping[str, int]) -> str | None:
    """The queue a new contact for ``queue`` joins given the current queue lengths: ``queue``
    itself, or the first queue along its overflow chain below its ``maxLength``; None when
    every queue of the chain is full."""
    seen: set[str] = set()
    at: str | None = queue
    while at is not None and at in policy.queues and at not in seen:
        spec = policy.queues[at]
        if spec.max_length is None or lengths.get(at, 0) < spec.max_length:
            return at
        seen.add(at)
        at = spec.overflow
    return None
