"""TMF683 v5 rendering: the PartyInteraction resource and its four events.

SID status → TMF683 ``status``: the SID names are used unchanged (``initialized``,
``inProgress``, ``completed``, ``disrupted``, ``failed``); the detailed sub-state is the
extension attribute ``subStatus``. Extension attributes (``subStatus``, ``timing``,
``queue``, ``priority``, ``disposition``, ``contained``, ``messageCount``,
``routingPool``, ``statusChangeReason``) sit beside the standard ones, which TMF's
``Extensible`` base allows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from interaction_streams.domain.interaction.model import Interaction, Participant

BASE_PATH = "/tmf-api/partyInteractionManagement/v5"
EventType = Literal[
    "PartyInteractionCreateEvent",
    "PartyInteractionAttributeValueChangeEvent",
    "PartyInteractionStatusChangeEvent",
    "PartyInteractionDeleteEvent",
]
EVENT_TYPES: tuple[EventType, ...] = (
    "PartyInteractionCreateEvent",
    "PartyInteractionAttributeValueChangeEvent",
    "PartyInteractionStatusChangeEvent",
    "PartyInteractionDeleteEvent",
)
# The schema (and @type) of each event in the v5 specification; note StatusChange.
EVENT_SCHEMA: dict[EventType, str] = {
    "PartyInteractionCreateEvent": "PartyInteractionCreateEvent",
    "PartyInteractionAttributeValueChangeEvent": "PartyInteractionAttributeValueChangeEvent",
    "PartyInteractionStatusChangeEvent": "PartyInteractionStatusChange",
    "PartyInteractionDeleteEvent": "PartyInteractionDeleteEvent",
}
_EVENT_IDS = uuid.UUID("6f1c4a52-93a5-4c5e-9f3b-2d1f0e7a8b90")
# Attributes whose change alone makes no AttributeValueChangeEvent (coalesced): the status
# has its own event; the last update and message counters move with every chat message.
_QUIET_VALUES: dict[str, Any] = {
    "status": "initialized",
    "status_changed_ms": 0,
    "status_reason": None,
    "last_event_ms": 0,
    "messages_in": 0,
    "messages_out": 0,
}


def iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def href(interaction_id: str) -> str:
    return f"{BASE_PATH}/partyInteraction/{interaction_id}"


def _party(p: Participant) -> dict[str, Any]:
    ref: dict[str, Any] = {"@type": "PartyRef", "id": p.party_id, "@referredType": "Individual"}
    if p.name:
        ref["name"] = p.name
    return {"@type": "RelatedPartyOrPartyRole", "role": p.role, "partyOrPartyRole": ref}


def resource(i: Interaction) -> dict[str, Any]:
    """The PartyInteraction resource of an interaction."""
    period = {"startDateTime": iso(i.created_ms)}
    if i.ended_ms is not None:
        period["endDateTime"] = iso(i.ended_ms)
    t = i.timings
    body: dict[str, Any] = {
        "@type": "PartyInteraction",
        "id": i.id,
        "href": href(i.id),
        "direction": i.direction,
        "status": i.status,
        "statusChangeDate": iso(i.status_changed_ms),
        "creationDate": iso(i.created_ms),
        "lastUpdate": iso(i.last_event_ms),
        "interactionDate": period,
        "description": f"{i.direction} {i.channel} interaction",
        "relatedChannel": [
            {
                "@type": "RelatedChannel",
                "role": "contactChannel",
                "channel": {"@type": "ChannelRef", "id": i.channel, "name": i.channel},
            }
        ],
        "relatedParty": [_party(p) for p in i.participants],
        "interactionItem": [
            {
                "@type": "InteractionItem",
                "id": item.id,
                "interactionItemType": item.item_type,
                "itemDate": {"startDateTime": iso(item.at_ms)},
                "creationDate": iso(item.at_ms),
                **({"reason": item.reason} if item.reason else {}),
                **({"value": item.value} if item.value else {}),
            }
            for item in i.items
        ],
        "note": [
            {
                "@type": "Note",
                "id": n.id,
                "date": iso(n.at_ms),
                "text": n.text,
                **({"author": n.author} if n.author else {}),
            }
            for n in i.notes
        ],
        "attachment": [
            {
                "@type": "AttachmentRef",
                "id": a.id,
                "url": a.href,
                "description": a.kind,
                **({"name": a.mime_type} if a.mime_type else {}),
            }
            for a in i.attachments
        ],
        "interactionRelationship": [
            {
                "@type": "InteractionRelationship",
                "id": r.interaction_id,
                "href": href(r.interaction_id),
                "relationshipType": r.relationship_type,
            }
            for r in i.relationships
        ],
        "subStatus": i.phase,
        "routingPool": i.routing_pool,
        "timing": {
            "selfServiceMs": t.self_service_ms,
            "queueMs": t.queue_ms,
            "offerMs": t.offer_ms,
            "talkMs": t.talk_ms,
            "holdMs": t.hold_ms,
            "holdCount": t.hold_count,
            "wrapUpMs": t.wrap_up_ms,
            "handleMs": t.handle_ms,
        },
        "messageCount": {"inbound": i.messages_in, "outbound": i.messages_out},
    }
    optional = {
        "reason": i.reason,
        "statusChangeReason": i.status_reason,
        "queue": i.queue,
        "priority": i.priority,
        "disposition": i.disposition,
        "contained": i.contained,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def event(kind: EventType, i: Interaction, cause_id: str, at_ms: int) -> dict[str, Any]:
    """A TMF683 event; its id derives from the interaction, the cause and the kind."""
    return {
        "@type": EVENT_SCHEMA[kind],
        "eventId": str(uuid.uuid5(_EVENT_IDS, f"{i.id}|{cause_id}|{kind}")),
        "eventTime": iso(at_ms),
        "eventType": kind,
        "timeOccurred": iso(at_ms),
        "correlationId": i.id,
        "domain": "partyInteractionManagement",
        "title": kind,
        "event": {"partyInteraction": resource(i)},
    }


def changes(
    before: Interaction | None, after: Interaction | None, cause_id: str, at_ms: int
) -> list[dict[str, Any]]:
    """The events that tell a subscriber how ``before`` became ``after``."""
    if after is None:
        return (
            []
            if before is None
            else [event("PartyInteractionDeleteEvent", before, cause_id, at_ms)]
        )
    if before is None:
        return [event("PartyInteractionCreateEvent", after, cause_id, at_ms)]
    out = []
    if before.status != after.status:
        out.append(event("PartyInteractionStatusChangeEvent", after, cause_id, at_ms))
    if _significant(before) != _significant(after):
        out.append(event("PartyInteractionAttributeValueChangeEvent", after, cause_id, at_ms))
    return out


def _significant(i: Interaction) -> Interaction:
    """The interaction without what alone makes no AttributeValueChangeEvent (coalesced)."""
    return i.model_copy(update=_QUIET_VALUES)
