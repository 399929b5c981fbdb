"""Channel events (topic ``cim.channel.events.v1``, family ``channel``): one interaction each.

A contact opens with a channel-specific start type; the steps every channel shares
(queued, offered to an agent, answered, transfer, wrap-up, ...) use ``cim.interaction.*``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from interaction_streams.contract.base import WireModel

Direction = Literal["inbound", "outbound"]
SelfServiceKind = Literal["portal", "app", "bot"]
ParticipantRole = Literal["agent", "supervisor", "external", "bot"]
EndedBy = Literal["customer", "agent", "system"]


class Contact(WireModel):
    """How the customer reached us: at least one address."""

    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=320)
    social_platform: str | None = Field(default=None, max_length=64)
    social_handle: str | None = Field(default=None, max_length=256)
    login_id: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _has_an_address(self) -> Contact:
        if not (self.phone or self.email or self.social_handle or self.login_id):
            raise ValueError("a contact needs a phone, email, socialHandle or loginId")
        if self.social_handle and not self.social_platform:
            raise ValueError("a socialHandle needs its socialPlatform")
        return self


class InteractionEvent(WireModel):
    """Every channel event names its interaction; the key of the interaction stage."""

    interaction_id: str = Field(min_length=1, max_length=128)
    routing_pool: str = Field(default="default", min_length=1, max_length=64)
    party_id: str | None = Field(default=None, max_length=128)

    def routing_key(self) -> str:
        return self.interaction_id


class ContactStarted(InteractionEvent):
    """A contact opens: a call offered, a chat started, an email/SMS/social message received."""

    contact: Contact | None = None
    direction: Direction = "inbound"
    to: str | None = Field(default=None, max_length=320)
    language: str | None = Field(default=None, max_length=35)
    intent: str | None = Field(default=None, max_length=128)
    subject: str | None = Field(default=None, max_length=998)
    message_id: str | None = Field(default=None, max_length=256)


class SelfServiceStarted(ContactStarted):
    kind: SelfServiceKind = "portal"


class IvrCompleted(InteractionEvent):
    selections: dict[str, str] = Field(default_factory=dict)
    intent: str | None = Field(default=None, max_length=128)
    identified_party_id: str | None = Field(default=None, max_length=128)


class Queued(InteractionEvent):
    queue: str = Field(min_length=1, max_length=128)
    priority: int | None = Field(default=None, ge=0, le=1000)


class AgentStep(InteractionEvent):
    """An agent is offered, answers, holds or resumes the interaction."""

    agent_id: str = Field(min_length=1, max_length=128)


class Held(InteractionEvent):
    agent_id: str | None = Field(default=None, max_length=128)


class Transferred(InteractionEvent):
    mode: Literal["blind", "consult"]
    from_agent_id: str | None = Field(default=None, max_length=128)
    to_agent_id: str | None = Field(default=None, max_length=128)
    to_queue: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _has_a_target(self) -> Transferred:
        if not (self.to_agent_id or self.to_queue):
            raise ValueError("a transfer needs toAgentId or toQueue")
        return self


class Conferenced(InteractionEvent):
    participant_id: str = Field(min_length=1, max_length=128)
    role: ParticipantRole = "agent"


class MessageExchanged(InteractionEvent):
    """A message in or out on a chat, email, SMS or social conversation (content not kept)."""

    message_id: str = Field(min_length=1, max_length=256)
    sender_id: str | None = Field(default=None, max_length=128)
    length: int | None = Field(default=None, ge=0)


class BotHandover(InteractionEvent):
    """A bot or self-service session hands over to an agent, with the session's context;
    ``toInteractionId`` names the agent interaction when the platform opens a new one."""

    bot_id: str = Field(min_length=1, max_length=128)
    queue: str | None = Field(default=None, max_length=128)
    to_interaction_id: str | None = Field(default=None, max_length=128)
    context: dict[str, Any] = Field(default_factory=dict)


class Related(InteractionEvent):
    """Links two interactions (a follow-up of an earlier contact, a parent case)."""

    related_interaction_id: str = Field(min_length=1, max_length=128)
    relationship_type: Literal["handover", "parent", "followUp"]


class SelfServiceAction(InteractionEvent):
    action: str = Field(min_length=1, max_length=128)
    detail: dict[str, Any] = Field(default_factory=dict)


class Ended(InteractionEvent):
    ended_by: EndedBy = "customer"


class WrapUpCompleted(InteractionEvent):
    agent_id: str = Field(min_length=1, max_length=128)
    wrap_up_code: str = Field(min_length=1, max_length=128)
    notes: str | None = Field(default=None, max_length=4000)


class Identified(InteractionEvent):
    """The customer proved who they are (IVR authentication, portal login)."""

    identified_party_id: str = Field(min_length=1, max_length=128)
    method: str = Field(default="unspecified", max_length=64)


class NoteAdded(InteractionEvent):
    author_id: str | None = Field(default=None, max_length=128)
    text: str = Field(min_length=1, max_length=4000)


class CsatRecorded(InteractionEvent):
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=4000)


class SentimentScored(InteractionEvent):
    score: float = Field(ge=-1.0, le=1.0)


class AttachmentAdded(InteractionEvent):
    kind: Literal["recording", "transcript", "document"]
    href: str = Field(min_length=1, max_length=2048)
    mime_type: str | None = Field(default=None, max_length=128)


class RecommendationAnswered(InteractionEvent):
    """An agent accepted or declined a recommended action (recorded as an interaction item)."""

    recommendation_id: str = Field(min_length=1, max_length=128)
    action_id: str = Field(min_length=1, max_length=128)
    answer: Literal["accepted", "declined"]
    agent_id: str | None = Field(default=None, max_length=128)
    source: str | None = Field(default=None, max_length=64)


CHANNEL_EVENT_TYPES: dict[str, type[InteractionEvent]] = {
    # voice
    "cim.voice.offered": ContactStarted,
    "cim.voice.ivr.started": InteractionEvent,
    "cim.voice.ivr.completed": IvrCompleted,
    "cim.voice.held": Held,
    "cim.voice.resumed": Held,
    # chat and messaging
    "cim.chat.started": ContactStarted,
    "cim.chat.bot.handover": BotHandover,
    # email, SMS, social messaging: the first inbound message opens the interaction
    "cim.email.received": ContactStarted,
    "cim.sms.received": ContactStarted,
    "cim.social.received": ContactStarted,
    # web/app self-service and bot sessions
    "cim.selfservice.started": SelfServiceStarted,
    "cim.selfservice.action": SelfServiceAction,
    "cim.selfservice.contained": InteractionEvent,
    "cim.selfservice.handover": BotHandover,
    # steps shared by every channel
    "cim.interaction.message.received": MessageExchanged,
    "cim.interaction.message.sent": MessageExchanged,
    "cim.interaction.queued": Queued,
    "cim.interaction.agent.offered": AgentStep,
    "cim.interaction.answered": AgentStep,
    "cim.interaction.transferred": Transferred,
    "cim.interaction.conferenced": Conferenced,
    "cim.interaction.ended": Ended,
    "cim.interaction.abandoned": InteractionEvent,
    "cim.interaction.wrapup.completed": WrapUpCompleted,
    "cim.interaction.identified": Identified,
    "cim.interaction.note.added": NoteAdded,
    "cim.interaction.csat.recorded": CsatRecorded,
    "cim.interaction.sentiment.scored": SentimentScored,
    "cim.interaction.attachment.added": AttachmentAdded,
    "cim.interaction.related": Related,
    "cim.interaction.recommendation.answered": RecommendationAnswered,
}
