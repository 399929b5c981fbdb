"""Wire models of the escalation stage: escalation records (``cim.escalations.v1``, keyed by
interaction id) and the stage's own commands (``cim.escalation.commands.v1``, keyed by
interaction id: facts forwarded from topics keyed otherwise, promised callbacks, timer ticks).

Every record carries a deterministic ``id`` derived from the interaction, the cause and the
level, so a consumer drops the duplicates a restart re-sends.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.routing import RoutingRequest, WorkAssignment


class EscalationRecord(WireModel):
    """A warning before a breach, an escalation at a level, or the close of an escalation.

    ``cause`` names the rule (``answer-time``, ``email-first-response``,
    ``email-next-response``, ``callback``, or a rule of the policy); ``causeKey`` tells one
    occurrence of a cause from the next (the next-response target of each customer message).
    ``due`` is the deadline or the moment the condition required; ``at`` the event time the
    record was decided at (the due time for a timer). L1 carries ``priorityBoost``; L3 carries
    ``troubleTicket``, a TMF621 TroubleTicket create request.
    """

    id: str
    kind: Literal["warning", "escalated", "closed"]
    interaction_id: str
    cause: str
    cause_key: str
    level: Literal["L1", "L2", "L3"] | None = None
    escalation_id: str | None = None  # on a close: the escalation it closes
    due: AwareDatetime | None = None
    at: AwareDatetime
    reason: str | None = None  # why an escalation closed: answered, resolved, condition-ended
    party_id: str | None = None
    routing_pool: str | None = None
    queue: str | None = None
    channel: str | None = None
    priority_boost: int | None = None
    trouble_ticket: dict[str, Any] | None = None
    policy_version: str | None = None


class EscalationCommand(WireModel):
    """To the escalation stage, keyed by interaction id.

    ``context``: an enqueue routing request (the customer's context facts) forwarded from
    ``cim.routing.requests.v1``; ``assign``: a work assignment forwarded from
    ``cim.work.assignments.v1``; ``promise-callback``: the platform promised to call back by
    ``due``; ``callback-done``: it did (or the promise was withdrawn); ``tick``: the timer
    found the interaction due; ``guidance-step`` and ``recommendation-answer``: agent events
    (a guided step completed; a recommended action accepted or declined) forwarded from
    ``cim.ingested.agent-events.v1``.
    """

    command: Literal[
        "context",
        "assign",
        "promise-callback",
        "callback-done",
        "tick",
        "guidance-step",
        "recommendation-answer",
    ]
    command_id: str = Field(min_length=1, max_length=256)
    interaction_id: str = Field(min_length=1, max_length=128)
    time: AwareDatetime
    due: AwareDatetime | None = None
    request: RoutingRequest | None = None
    assignment: WorkAssignment | None = None
    agent_id: str | None = None
    flow_id: str | None = None
    step_id: str | None = None
    recommendation_id: str | None = None
    action_id: str | None = None
    accepted: bool | None = None
