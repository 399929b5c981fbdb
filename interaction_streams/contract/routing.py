"""Wire models of the routing and assignment stage: routing requests (topic
``cim.routing.requests.v1``, keyed by routing pool), routing commands (timer ticks,
``cim.routing.commands.v1``), routing decisions (``cim.routing.decisions.v1``, keyed by
interaction id) and work assignments (``cim.work.assignments.v1``, keyed by agent id).

Every decision and assignment carries a deterministic ``id`` (derived from the interaction,
the offer and the kind), so a consumer can drop the duplicates a restart re-sends.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from interaction_streams.contract.base import WireModel
from interaction_streams.domain.routing.skills import SkillRequirement


class RoutingRequest(WireModel):
    """Enqueue an interaction in its routing pool, or withdraw it (answered, abandoned,
    ended, closed). ``enqueued_ms`` is the first time it queued: a re-queue keeps its age.
    The ``context_*`` facts come from the customer context (null without a known party).

    ``collaborate`` (from the agent desktop or the platform) asks for a consult, transfer or
    conference leg: to ``to_agent_id`` (a named agent or supervisor), or to the first free
    agent with ``skills`` and/or the role ``to_role`` (skill ``role:<role>``), never to
    ``from_agent_id``. A transfer is offered under the interaction id; a consult or
    conference leg under ``<interaction id>~consult`` / ``~conference``.

    ``escalate`` (from the escalation stage, level L1) raises the priority of a waiting
    interaction by ``priority_boost`` without changing its age. ``min_priority`` on an
    enqueue keeps a priority earned earlier (a callback keeps its original queue priority).
    """

    command: Literal["enqueue", "withdraw", "escalate", "collaborate"]
    interaction_id: str = Field(min_length=1)
    routing_pool: str = Field(default="default", min_length=1, max_length=64)
    time: AwareDatetime
    reason: str | None = None  # why it is withdrawn: answered, abandoned, ended, closed
    channel: str = "voice"
    direction: Literal["inbound", "outbound"] = "inbound"
    intent: str | None = None
    language: str | None = None
    ivr: dict[str, str] = Field(default_factory=dict)
    requested_queue: str | None = None
    party_id: str | None = None
    enqueued_ms: int | None = None
    context_tier: str | None = None
    context_segment: str | None = None
    context_repeat_contact: bool | None = None
    context_sentiment: float | None = None
    context_contacts24h: int | None = None
    context_preferred_channel: str | None = None
    context_abandoned24h: int | None = None  # read by the escalation stage
    moments: tuple[str, ...] = ()
    last_agent_id: str | None = None  # the agent of the customer's previous interaction
    min_priority: int | None = None
    priority_boost: int | None = Field(default=None, ge=1)
    escalation_id: str | None = None
    mode: Literal["transfer", "consult", "conference"] | None = None
    from_agent_id: str | None = Field(default=None, max_length=128)
    to_agent_id: str | None = Field(default=None, max_length=128)
    to_role: str | None = Field(default=None, max_length=64)
    skills: tuple[SkillRequirement, ...] = ()


class RoutingCommand(WireModel):
    """To the routing stage, keyed by routing pool: ``tick`` (a timer found the pool due:
    expire offers, apply due steps, end wrap-ups, match)."""

    command: Literal["tick"]
    routing_pool: str = Field(min_length=1, max_length=64)
    time: AwareDatetime


class RoutingDecision(WireModel):
    """Where an interaction waits and why, and its queue position and estimated wait.

    ``alternatives`` and ``announcement`` come from a rule that offers other ways to be served
    (a callback, a chat) when a channel is down or degraded: the platform announces them.
    """

    id: str
    kind: Literal["queued", "position", "dequeued", "collaboration"] = "queued"
    interaction_id: str
    routing_pool: str
    queue: str
    queues: tuple[str, ...] = ()
    priority: int = 0
    skills: tuple[SkillRequirement, ...] = ()
    rule: str
    step: int = 0
    position: int | None = None
    estimated_wait_ms: int | None = None
    reason: str
    at: AwareDatetime
    alternatives: tuple[str, ...] = ()
    announcement: str | None = None
    agent_id: str | None = None  # collaboration: the expert or named agent offered


class WorkAssignment(WireModel):
    """An offer (reservation) of work to an agent, and what became of it."""

    id: str
    kind: Literal["offer", "assign", "rescind", "timeout", "reject", "away"]
    offer_id: str | None = None  # the reservation id
    agent_id: str
    interaction_id: str | None = None
    routing_pool: str
    channel: str | None = None
    queue: str | None = None
    priority: int | None = None
    deadline: AwareDatetime | None = None
    requeued: bool | None = None
    at: AwareDatetime


class PolicyDocument(WireModel):
    """A business policy published at run time (compacted topic ``cim.routing.policy.v1``,
    keyed by the policy name as a JSON string): the YAML text as written, with its version and
    where it came from. Every worker replicates the topic; a document that fails validation is
    refused and the last good policy stays."""

    name: Literal["routing"] = "routing"
    version: str | None = Field(default=None, max_length=128)
    source: str = Field(min_length=1, max_length=512)  # the file it was published from
    text: str = Field(min_length=1, max_length=1_000_000)
    published_at: AwareDatetime
