"""Agent events (topic ``cim.agent.events.v1``, family ``agent``), keyed onward by routing pool."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from interaction_streams.contract.base import WireModel

Presence = Literal["available", "busy", "away", "wrap-up", "offline"]
MediaChannel = Literal["voice", "chat", "email", "sms", "social", "selfservice"]


def _voice_only() -> dict[MediaChannel, int]:
    return {"voice": 1}


class AgentEvent(WireModel):
    agent_id: str = Field(min_length=1, max_length=128)
    routing_pool: str = Field(default="default", min_length=1, max_length=64)

    def routing_key(self) -> str:
        return self.routing_pool


class AgentSkills(AgentEvent):
    """Skills with proficiency 1 (novice) to 5 (expert)."""

    skills: dict[str, int] = Field(default_factory=dict)

    @field_validator("skills")
    @classmethod
    def _proficiency_in_range(cls, skills: dict[str, int]) -> dict[str, int]:
        for name, level in skills.items():
            if not 1 <= level <= 5:
                raise ValueError(f"proficiency of {name!r} must be 1..5, got {level}")
        return skills


class AgentLoggedIn(AgentSkills):
    name: str | None = Field(default=None, max_length=256)
    capacity: dict[MediaChannel, int] = Field(default_factory=_voice_only)
    wrap_up_seconds: int = Field(default=30, ge=0, le=3600)


class PresenceChanged(AgentEvent):
    presence: Presence
    reason: str | None = Field(default=None, max_length=128)


class OfferAnswer(AgentEvent):
    offer_id: str = Field(min_length=1, max_length=128)
    interaction_id: str = Field(min_length=1, max_length=128)
    reason: str | None = Field(default=None, max_length=128)


class WorkCompleted(AgentEvent):
    interaction_id: str = Field(min_length=1, max_length=128)


class GuidanceStepCompleted(AgentEvent):
    interaction_id: str = Field(min_length=1, max_length=128)
    flow_id: str = Field(min_length=1, max_length=128)
    step_id: str = Field(min_length=1, max_length=128)


class RecommendationAnswer(AgentEvent):
    """The agent accepted or declined a recommended action (sent on the guidance topic)."""

    interaction_id: str = Field(min_length=1, max_length=128)
    recommendation_id: str = Field(min_length=1, max_length=128)
    action_id: str = Field(min_length=1, max_length=128)
    reason: str | None = Field(default=None, max_length=256)


AGENT_EVENT_TYPES: dict[str, type[AgentEvent]] = {
    "cim.agent.logged-in": AgentLoggedIn,
    "cim.agent.logged-out": AgentEvent,
    "cim.agent.presence.changed": PresenceChanged,
    "cim.agent.skills.updated": AgentSkills,
    "cim.agent.offer.accepted": OfferAnswer,
    "cim.agent.offer.rejected": OfferAnswer,
    "cim.agent.work.completed": WorkCompleted,
    "cim.agent.guidance.step.completed": GuidanceStepCompleted,
    "cim.agent.recommendation.accepted": RecommendationAnswer,
    "cim.agent.recommendation.declined": RecommendationAnswer,
}
