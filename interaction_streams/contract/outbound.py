"""Wire models of the outbound stage: solicitation decisions (``cim.outbound.decisions.v1``,
keyed by party id), outbound commands (timer fires and escalation signals,
``cim.outbound.commands.v1``) and TMF681 CommunicationMessages
(``cim.communication.requests.v1``, keyed by party id).

Every decision and message carries a deterministic id derived from the request, so a
consumer can drop the duplicates a restart re-sends.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from interaction_streams.contract.base import WireModel

Outcome = Literal["sent", "deferred", "suppressed", "missed", "flagged"]


class OutboundDecision(WireModel):
    """What the solicitation policy decided for one request, and why.

    ``sent``: approved now (a CommunicationMessage, an outbound interaction, for a callback a
    routing request); ``deferred``: held until ``scheduledSendTime``; ``suppressed``: refused
    by ``rule``; ``missed``: a promised callback was not answered in time (an escalation
    cause); ``flagged``: a customer in an incident was not informed in time (under-use).
    ``reasons`` are codes such as ``quiet-hours``, ``cap:marketing-week``,
    ``consent:sms``, ``exempt:service-alerts``, ``fallback:email``.
    """

    id: str
    party_id: str
    request_id: str
    purpose: str
    outcome: Outcome
    reasons: tuple[str, ...] = ()
    rule: str | None = None
    channel: str | None = None
    scheduled_send_time: AwareDatetime | None = None
    interaction_id: str | None = None
    message_id: str | None = None
    trigger: str | None = None
    original_interaction_id: str | None = None
    at: AwareDatetime


class OutboundCommand(WireModel):
    """To the outbound stage, keyed by party id: ``fire`` (the timer found the party due:
    deferred messages, callback promises, incident checks); ``escalation`` (an escalation
    of the party opened or closed: marketing cools down while one is open)."""

    command: Literal["fire", "escalation"]
    party_id: str = Field(min_length=1, max_length=128)
    time: AwareDatetime
    escalation_id: str | None = None
    open: bool | None = None


class _Tmf(BaseModel):
    """TMF681 resources: camelCase as written, ``@type`` and friends by alias."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")


class RelatedParty(_Tmf):
    id: str
    role: str | None = None
    name: str | None = None
    referred_type: str = Field(default="Individual", alias="@referredType")


class Sender(_Tmf):
    id: str | None = None
    name: str | None = None
    email: str | None = None
    phoneNumber: str | None = None
    type_: str = Field(default="Sender", alias="@type")


class Receiver(_Tmf):
    id: str | None = None
    name: str | None = None
    email: str | None = None
    phoneNumber: str | None = None
    appUserId: str | None = None
    party: RelatedParty | None = None
    type_: str = Field(default="Receiver", alias="@type")


class Characteristic(_Tmf):
    name: str
    value: Any
    valueType: str | None = None


class CommunicationMessage(_Tmf):
    """A TMF681 v4 CommunicationMessage, as the messaging and dialler gateways receive it."""

    id: str
    href: str
    content: str
    description: str | None = None
    logFlag: bool = True
    messageType: str
    priority: str
    scheduledSendTime: str
    subject: str | None = None
    tryTimes: int = 1
    characteristic: tuple[Characteristic, ...] = ()
    receiver: tuple[Receiver, ...]
    sender: Sender
    state: Literal["initial", "inProgress", "completed", "cancelled", "failed"] = "initial"
    type_: str = Field(default="CommunicationMessage", alias="@type")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
