"""Business events (topic ``cim.business.events.v1``, family ``business``).

Keyed onward by party id; an incident that names an area rather than customers is
keyed by its incident id (the customer-context stage fans it out by area).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from interaction_streams.contract.base import WireModel


class PartyBusinessEvent(WireModel):
    party_id: str = Field(min_length=1, max_length=128)

    def routing_key(self) -> str:
        return self.party_id


class OrderEvent(PartyBusinessEvent):
    order_id: str = Field(min_length=1, max_length=128)
    expected_completion: AwareDatetime | None = None
    reason: str | None = Field(default=None, max_length=256)


class BillEvent(PartyBusinessEvent):
    bill_id: str | None = Field(default=None, max_length=128)
    amount: Decimal | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    due_date: date | None = None
    days_overdue: int | None = Field(default=None, ge=0)


class UsageEvent(PartyBusinessEvent):
    metric: str = Field(min_length=1, max_length=64)
    used_percent: float = Field(ge=0)
    product_id: str | None = Field(default=None, max_length=128)


class TicketEvent(PartyBusinessEvent):
    ticket_id: str = Field(min_length=1, max_length=128)
    status: str | None = Field(default=None, max_length=64)
    summary: str | None = Field(default=None, max_length=1000)


class IncidentEvent(WireModel):
    incident_id: str = Field(min_length=1, max_length=128)
    service_area: str | None = Field(default=None, max_length=128)
    party_ids: tuple[str, ...] = ()
    severity: Literal["minor", "major", "critical"] = "major"
    summary: str | None = Field(default=None, max_length=1000)
    expected_restoration: AwareDatetime | None = None

    @model_validator(mode="after")
    def _names_who_is_affected(self) -> IncidentEvent:
        if not (self.service_area or self.party_ids):
            raise ValueError("an incident needs a serviceArea or partyIds")
        return self

    def routing_key(self) -> str:
        return self.incident_id


BusinessEvent = PartyBusinessEvent | IncidentEvent

BUSINESS_EVENT_TYPES: dict[str, type[BusinessEvent]] = {
    "cim.business.order.created": OrderEvent,
    "cim.business.order.delayed": OrderEvent,
    "cim.business.order.completed": OrderEvent,
    "cim.business.order.failed": OrderEvent,
    "cim.business.bill.issued": BillEvent,
    "cim.business.payment.overdue": BillEvent,
    "cim.business.payment.received": BillEvent,
    "cim.business.usage.threshold-crossed": UsageEvent,
    "cim.business.usage.over-consumption": UsageEvent,
    "cim.business.incident.opened": IncidentEvent,
    "cim.business.incident.updated": IncidentEvent,
    "cim.business.incident.resolved": IncidentEvent,
    "cim.business.ticket.opened": TicketEvent,
    "cim.business.ticket.updated": TicketEvent,
    "cim.business.ticket.resolved": TicketEvent,
}
