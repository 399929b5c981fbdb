"""Wire models of the customer stage: interaction facts and commands (topic
``cim.customer.commands.v1``), area commands (``cim.area.commands.v1``), context snapshots
(``cim.customer.context.v1``) and moment events (``cim.customer.moments.v1``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.events.profile import Consent
from interaction_streams.contract.routing import RoutingRequest


class InteractionFact(WireModel):
    """What the customer context keeps of one interaction (sent by the interaction stage)."""

    interaction_id: str
    channel: str
    direction: Literal["inbound", "outbound"] = "inbound"
    reason: str | None = None
    status: str  # SID status
    opened_ms: int
    closed_ms: int | None = None
    handle_ms: int = 0
    with_agent: bool = False
    abandoned: bool = False
    csat: int | None = None
    sentiment: float | None = None
    agent_id: str | None = None  # the last agent who joined it (last-agent routing)

    @property
    def is_open(self) -> bool:
        return self.closed_ms is None


class BusinessNotice(WireModel):
    """A business event for one party, forwarded (an incident fanned out to its customers)."""

    kind: str
    ref: str
    at_ms: int
    detail: dict[str, Any] = Field(default_factory=dict)


class CustomerCommand(WireModel):
    """To the customer stage, keyed by party id.

    ``fact``: an interaction of the party changed; ``unlink``: an interaction no longer
    belongs to the party; ``notice``: a business event reaching the party (incident
    fan-out); ``flush``: publish the debounced snapshot if it is still due; ``route``: forward
    ``route`` (an enqueue or withdraw of the party's interaction) to the routing stage with
    the party's context facts.
    """

    command: Literal["fact", "unlink", "notice", "flush", "route"]
    party_id: str
    time: AwareDatetime
    fact: InteractionFact | None = None
    interaction_id: str | None = None
    notice: BusinessNotice | None = None
    route: RoutingRequest | None = None


class AreaCommand(WireModel):
    """To the area stage, keyed by service area: membership changes and incidents."""

    command: Literal["join", "leave", "incident"]
    area: str
    party_id: str | None = None
    notice: BusinessNotice | None = None


class WindowCounts(WireModel):
    contacts: int
    by_channel: dict[str, int]
    abandoned: int


class LastAgent(WireModel):
    """The agent of the customer's latest interaction that had one (last-agent routing)."""

    interaction_id: str
    agent_id: str
    opened: AwareDatetime


class LastInteraction(WireModel):
    id: str
    channel: str
    reason: str | None = None
    outcome: str
    opened: AwareDatetime


class BusinessSummary(WireModel):
    kind: str
    ref: str
    at: AwareDatetime
    expires: AwareDatetime
    detail: dict[str, Any] = Field(default_factory=dict)


class MomentSummary(WireModel):
    name: str
    started: AwareDatetime
    ended: AwareDatetime | None = None
    cause: str | None = None


class ProfileSummary(WireModel):
    language: str | None = None
    time_zone: str | None = None
    tier: str | None = None
    segment: str | None = None
    service_area: str | None = None
    consents: tuple[Consent, ...] = ()
    do_not_contact: bool = False


class ContextSnapshot(WireModel):
    """A customer's context as routing, escalation and outbound read it."""

    party_id: str
    as_of: AwareDatetime
    windows: dict[str, WindowCounts]
    repeat_contact: str | None = None
    first_contact_resolution_rate: float | None = None
    average_handle_ms: int | None = None
    last_interaction: LastInteraction | None = None
    last_agent: LastAgent | None = None
    open_interactions: tuple[str, ...] = ()
    recent_interactions: tuple[str, ...] = ()
    csat_trend: tuple[int, ...] = ()
    sentiment_trend: tuple[float, ...] = ()
    preferred_channel: str | None = None
    profile: ProfileSummary = ProfileSummary()
    business: tuple[BusinessSummary, ...] = ()
    moments: tuple[MomentSummary, ...] = ()


class MomentEvent(WireModel):
    """A business moment started or ended for a party (``cim.customer.moments.v1``)."""

    party_id: str
    moment: MomentSummary
    state: Literal["started", "ended"]
