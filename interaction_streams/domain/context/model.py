"""The customer-context model: interaction facts, business records, moments, profile facts."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.customer import InteractionFact, ProfileSummary

__all__ = [
    "BusinessRecord",
    "CustomerContext",
    "InteractionFact",
    "Moment",
    "ProfileFacts",
]


class BusinessRecord(WireModel):
    """A business event normalised into the context, kept until ``expires_ms``."""

    kind: str  # order.delayed, payment.overdue, incident.opened, ...
    ref: str  # order id, bill id, incident id, ticket id, usage metric
    at_ms: int
    expires_ms: int
    detail: dict[str, Any] = Field(default_factory=dict)


class Moment(WireModel):
    """A derived signal with a start and, once over, an end."""

    name: str
    started_ms: int
    ended_ms: int | None = None
    cause: str | None = None


# The profile facts the context keeps are exactly what its snapshot shows.
ProfileFacts = ProfileSummary


class CustomerContext(WireModel):
    """The table value of the customer stage (keyed by party id)."""

    party_id: str
    contact_keys: tuple[str, ...] = ()  # where the contact index points to this party
    profile: ProfileFacts = ProfileFacts()
    interactions: tuple[InteractionFact, ...] = ()  # newest last
    business: tuple[BusinessRecord, ...] = ()
    moments: tuple[Moment, ...] = ()  # active ones, and ended ones until they age out
    clock_ms: int = 0  # the newest event time the context has seen
    published_ms: int | None = None  # when the last snapshot went out (event time)
    dirty: bool = False  # changed since the last snapshot
