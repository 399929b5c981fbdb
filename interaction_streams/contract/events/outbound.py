"""Outbound requests and delivery updates (``cim.outbound.requests.v1``, family ``outbound``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.events.agent import MediaChannel
from interaction_streams.contract.events.profile import Purpose


class OutboundEvent(WireModel):
    party_id: str = Field(min_length=1, max_length=128)

    def routing_key(self) -> str:
        return self.party_id


class CallbackOrigin(WireModel):
    """The queued interaction a callback replaces: the callback keeps its priority and age."""

    interaction_id: str = Field(min_length=1, max_length=128)
    routing_pool: str = Field(default="default", min_length=1, max_length=64)
    queue: str | None = Field(default=None, max_length=64)
    priority: int = Field(default=0, ge=0, le=1000)
    enqueued_at: AwareDatetime


class OutboundRequested(OutboundEvent):
    """A request to contact a party. For ``purpose: callback``, ``callback`` names the queued
    interaction it replaces and ``validFrom`` is the promised time."""

    request_id: str = Field(min_length=1, max_length=128)
    purpose: Purpose
    urgency: Literal["low", "normal", "high"] = "normal"
    preferred_channels: tuple[MediaChannel, ...] = ()
    template: str = Field(min_length=1, max_length=128)
    parameters: dict[str, Any] = Field(default_factory=dict)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    campaign_id: str | None = Field(default=None, max_length=128)
    callback: CallbackOrigin | None = None


class DeliveryUpdated(OutboundEvent):
    """The delivery status of an outbound message. A message the outbound stage did not
    approve (a gateway or campaign tool sending on its own) counts against the caps when the
    update names its ``purpose``."""

    request_id: str = Field(min_length=1, max_length=128)
    status: Literal["sent", "delivered", "read", "failed", "bounced", "replied"]
    channel: MediaChannel | None = None
    reason: str | None = Field(default=None, max_length=256)
    purpose: Purpose | None = None


OUTBOUND_EVENT_TYPES: dict[str, type[OutboundEvent]] = {
    "cim.outbound.requested": OutboundRequested,
    "cim.outbound.delivery.updated": DeliveryUpdated,
}
