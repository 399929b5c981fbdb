"""Wire models of workflow guidance and recommendations.

* ``AgentGuidance`` on ``cim.agent.guidance.v1`` (keyed by agent id): the flow of steps and
  scripts for the interaction an agent was assigned, its progress, flagged skipped mandatory
  steps, and recommended actions.
* ``RecommendationRequest`` on ``cim.recommendation.requests.v1`` and
  ``RecommendationResponse`` on ``cim.recommendation.responses.v1`` (both keyed by interaction
  id): the exchange with an external recommender, TMF680-like (recommended actions with
  scores). Without an answer in time, the built-in rules answer.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from interaction_streams.contract.base import WireModel

RecommendationMoment = Literal["assignment", "ivr-completed"]


class GuidedStep(WireModel):
    id: str
    title: str
    script: str | None = None
    mandatory: bool = False


class RecommendedAction(WireModel):
    """One recommendation item: what to do, why, how strongly (0..1)."""

    id: str = Field(min_length=1, max_length=128)
    action: str = Field(min_length=1, max_length=128)
    description: str | None = Field(default=None, max_length=2000)
    score: float = Field(ge=0, le=1)


class RecommendationRequest(WireModel):
    id: str
    interaction_id: str
    moment: RecommendationMoment
    party_id: str | None = None
    agent_id: str | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    requested_at: AwareDatetime
    answer_by: AwareDatetime


class RecommendationResponse(WireModel):
    """An external recommender's answer to a request (``requestId``)."""

    request_id: str = Field(min_length=1, max_length=256)
    interaction_id: str = Field(min_length=1, max_length=128)
    recommender: str | None = Field(default=None, max_length=128)
    items: tuple[RecommendedAction, ...] = ()
    time: AwareDatetime


class AgentGuidance(WireModel):
    """What an agent's desktop shows for one interaction.

    ``kind``: ``flow`` (the flow at assignment: every step, scripts, mandatory ones),
    ``progress`` (a step done: the next step), ``skipped`` (mandatory steps passed over,
    ``skipped``), ``recommendation`` (recommended actions, ``source`` external or builtin).
    """

    id: str
    kind: Literal["flow", "progress", "skipped", "recommendation"]
    agent_id: str
    interaction_id: str
    flow_id: str | None = None
    steps: tuple[GuidedStep, ...] = ()
    done: tuple[str, ...] = ()
    next_step: str | None = None
    skipped: tuple[str, ...] = ()
    recommendation_id: str | None = None
    source: Literal["external", "builtin"] | None = None
    items: tuple[RecommendedAction, ...] = ()
    at: AwareDatetime
