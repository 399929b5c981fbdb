"""Commands to the interaction stage that do not come from a channel (topic
``cim.interaction.commands.v1``, keyed by interaction id)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.events.channel import InteractionEvent

OutcomeStatus = Literal["inProgress", "completed", "disrupted", "failed"]


class PartyMention(WireModel):
    party_id: str = Field(min_length=1, max_length=128)
    role: Literal["customer", "prospect", "agent", "supervisor", "bot", "external"]


class LinkMention(WireModel):
    interaction_id: str = Field(min_length=1, max_length=128)
    relationship_type: Literal["handover", "parent", "followUp"]


class ApiCreate(InteractionEvent):
    """POST /partyInteraction: an interaction recorded through the API."""

    channel: Literal["voice", "chat", "email", "sms", "social", "selfservice"]
    direction: Literal["inbound", "outbound"] = "inbound"
    reason: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=1000)
    status: OutcomeStatus | None = None
    parties: tuple[PartyMention, ...] = ()
    notes: tuple[str, ...] = ()
    relationships: tuple[LinkMention, ...] = ()


class ApiPatch(InteractionEvent):
    """PATCH /partyInteraction/{id}: the attributes a client may change (never direction)."""

    reason: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=1000)
    status: OutcomeStatus | None = None
    disposition: str | None = Field(default=None, max_length=128)
    parties: tuple[PartyMention, ...] | None = None
    notes: tuple[str, ...] = ()
    relationships: tuple[LinkMention, ...] = ()


class InteractionCommand(WireModel):
    """A write to the interaction table that travels through Kafka.

    ``apply`` carries an API create or patch (``type`` ``cim.api.create``/``cim.api.patch``,
    folded by event time like channel events); ``purge`` removes a closed interaction after
    its retention (its history stays on the events topic); ``erase`` removes it at once and
    publishes a PartyInteractionDeleteEvent (a party erasure request).
    """

    command: Literal["apply", "purge", "erase"]
    command_id: str = Field(min_length=1, max_length=128)
    interaction_id: str = Field(min_length=1, max_length=128)
    time: AwareDatetime
    type: str | None = None
    data: dict[str, object] | None = None
