"""The table value of the outbound stage (keyed by party id)."""

from __future__ import annotations

from pydantic import Field

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.events.outbound import OutboundRequested
from interaction_streams.contract.events.profile import Consent

FAILED = frozenset({"failed", "bounced"})


class PartyFacts(WireModel):
    """What the outbound stage keeps of the party's profile."""

    name: str | None = None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    time_zone: str | None = None
    consents: tuple[Consent, ...] = ()
    do_not_contact: bool = False

    def consents_to(self, channel: str, purpose: str) -> bool:
        return any(
            c.granted and c.channel == channel and c.purpose == purpose for c in self.consents
        )


class Contact(WireModel):
    """An approved contact: counts against the caps unless its delivery failed."""

    request_id: str
    purpose: str
    channel: str
    at_ms: int
    dedup: str
    interaction_id: str
    status: str = "approved"  # then the last delivery status

    @property
    def counts(self) -> bool:
        return self.status not in FAILED


class Pending(WireModel):
    """A deferred request: due at ``due_ms`` (quiet hours, validity, a promised time) or, when
    ``held``, as soon as the customer's inbound interactions end (at most ``due_ms``)."""

    request: OutboundRequested
    due_ms: int
    held: bool = False
    trigger: str | None = None
    since_ms: int


class Watch(WireModel):
    """A check due at ``due_ms``: a promised callback must be answered (``kind=callback``),
    a customer in an incident must be informed (``kind=inform``)."""

    kind: str
    ref: str  # callback: the request id; inform: the moment's cause (incident id)
    due_ms: int
    interaction_id: str | None = None
    original_interaction_id: str | None = None
    since_ms: int = 0


class Closed(WireModel):
    """A request already decided for good (suppressed): a re-delivery changes nothing."""

    request_id: str
    at_ms: int


class OutboundParty(WireModel):
    party_id: str
    facts: PartyFacts | None = None  # None: no profile seen (no consent)
    open_inbound: tuple[str, ...] = ()
    complaint_ms: int | None = None
    escalations: tuple[str, ...] = ()
    moments: dict[str, int] = Field(default_factory=dict)  # active moment -> started
    contacts: tuple[Contact, ...] = ()
    pending: tuple[Pending, ...] = ()
    watches: tuple[Watch, ...] = ()
    closed: tuple[Closed, ...] = ()
    clock_ms: int = 0

    def knows(self, request_id: str) -> bool:
        return (
            any(c.request_id == request_id for c in self.contacts)
            or any(p.request.request_id == request_id for p in self.pending)
            or any(c.request_id == request_id for c in self.closed)
        )

    def due_ms(self) -> int | None:
        """The next time alone changes something (the timer fires the party then)."""
        times = [p.due_ms for p in self.pending] + [w.due_ms for w in self.watches]
        if self.pending and not self.open_inbound and any(p.held for p in self.pending):
            times.append(self.clock_ms)
        return min(times) if times else None
