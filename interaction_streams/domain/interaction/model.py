"""The state of one interaction, as the lifecycle builds it from channel events."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from interaction_streams.contract.base import WireModel

# The SID lifecycle; TMF683 `status` carries these names unchanged.
SidStatus = Literal["initialized", "inProgress", "completed", "disrupted", "failed"]
# The detailed sub-state within the lifecycle.
Phase = Literal[
    "arriving", "selfService", "queued", "offered", "connected", "onHold", "wrapUp", "closed"
]
Channel = Literal["voice", "chat", "email", "sms", "social", "selfservice", "unknown"]
PartyRole = Literal["customer", "prospect", "agent", "supervisor", "bot", "external"]

# Which SID status each open phase implies; `closed` carries its own outcome.
STATUS_OF_PHASE: dict[Phase, SidStatus] = {
    "arriving": "initialized",
    "selfService": "inProgress",
    "queued": "inProgress",
    "offered": "inProgress",
    "connected": "inProgress",
    "onHold": "inProgress",
    "wrapUp": "inProgress",
}


class Participant(WireModel):
    party_id: str
    role: PartyRole
    joined_ms: int
    left_ms: int | None = None
    name: str | None = None


class Item(WireModel):
    """Something captured during the interaction (TMF683 interactionItem)."""

    id: str
    item_type: str  # ivrSelection, survey, sentiment, selfServiceAction, transfer, handover, ...
    at_ms: int
    reason: str | None = None
    value: dict[str, Any] = Field(default_factory=dict)


class Note(WireModel):
    id: str
    at_ms: int
    text: str
    author: str | None = None


class Attachment(WireModel):
    id: str
    kind: str
    href: str
    at_ms: int
    mime_type: str | None = None


class Relationship(WireModel):
    interaction_id: str
    relationship_type: Literal["handover", "parent", "followUp"]


class Timings(WireModel):
    """Milliseconds spent in each phase, from event times."""

    self_service_ms: int = 0  # IVR, bot or portal
    queue_ms: int = 0
    offer_ms: int = 0  # ringing at an agent
    talk_ms: int = 0
    hold_ms: int = 0
    hold_count: int = 0
    wrap_up_ms: int = 0

    @property
    def handle_ms(self) -> int:
        return self.talk_ms + self.hold_ms + self.wrap_up_ms


class Interaction(WireModel):
    id: str
    channel: Channel = "unknown"
    direction: Literal["inbound", "outbound"] = "inbound"
    routing_pool: str = "default"
    status: SidStatus = "initialized"
    status_reason: str | None = None
    phase: Phase = "arriving"
    created_ms: int  # event time of the first event
    status_changed_ms: int
    phase_since_ms: int
    ended_ms: int | None = None
    last_event_ms: int
    contact_key: str | None = None  # the normalised address the customer used
    reason: str | None = None  # intent
    disposition: str | None = None  # wrap-up code
    queue: str | None = None
    priority: int | None = None
    language: str | None = None
    subject: str | None = None
    contained: bool | None = None  # self-service resolved without an agent
    messages_in: int = 0
    messages_out: int = 0
    participants: tuple[Participant, ...] = ()
    items: tuple[Item, ...] = ()
    notes: tuple[Note, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    relationships: tuple[Relationship, ...] = ()
    timings: Timings = Timings()
    anomalies: int = 0  # impossible transitions seen (each also recorded as a note)

    @property
    def customer(self) -> Participant | None:
        return next((p for p in self.participants if p.role in ("customer", "prospect")), None)

    @property
    def is_closed(self) -> bool:
        return self.phase == "closed"
