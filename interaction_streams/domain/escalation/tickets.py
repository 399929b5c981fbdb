"""The TMF621 (v5) TroubleTicket create request an L3 escalation asks for."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from interaction_streams.domain.escalation.policy import LevelStep

if TYPE_CHECKING:
    from interaction_streams.domain.escalation.case import Case

TMF683_PATH = "/tmf-api/partyInteractionManagement/v5/partyInteraction"


def _iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def trouble_ticket(
    case: Case, cause: str, step: LevelStep, escalation_id: str, at_ms: int
) -> dict[str, Any]:
    """A ``TroubleTicket_FVO``: what a ticketing system needs to open the ticket; its
    ``externalIdentifier`` is the escalation id, so a retried request can be recognised."""
    iid = case.interaction_id
    body: dict[str, Any] = {
        "@type": "TroubleTicket",
        "name": f"Escalation {cause} of interaction {iid}",
        "description": (
            f"Escalated to level L3 by cause {cause} at {_iso(at_ms)}"
            + (f" (queue {case.queue})" if case.queue else "")
        ),
        "severity": step.severity,
        "priority": step.ticket_priority,
        "ticketType": step.ticket_type,
        "externalIdentifier": [
            {
                "@type": "ExternalIdentifier",
                "id": escalation_id,
                "owner": "interaction-streams",
                "externalIdentifierType": "escalation",
            }
        ],
        "relatedEntity": [
            {
                "@type": "RelatedEntity",
                "role": "escalatedInteraction",
                "entity": {
                    "@type": "EntityRef",
                    "@referredType": "PartyInteraction",
                    "id": iid,
                    "href": f"{TMF683_PATH}/{iid}",
                },
            }
        ],
    }
    if case.channel:
        body["channel"] = {"@type": "ChannelRef", "id": case.channel, "name": case.channel}
    if case.party_id:
        body["relatedParty"] = [
            {
                "@type": "RelatedPartyRefOrPartyRoleRef",
                "role": "customer",
                "partyOrPartyRole": {
                    "@type": "PartyRef",
                    "@referredType": "Individual",
                    "id": case.party_id,
                },
            }
        ]
    return body
