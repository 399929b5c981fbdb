"""The records an approved contact becomes, with deterministic ids: a TMF681
CommunicationMessage, an outbound PartyInteraction (an API create command to the interaction
stage), for a callback a routing request; and the patches delivery updates make."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from interaction_streams.contract.commands import (
    ApiCreate,
    ApiPatch,
    InteractionCommand,
    PartyMention,
)
from interaction_streams.contract.events.outbound import OutboundRequested
from interaction_streams.contract.outbound import (
    Characteristic,
    CommunicationMessage,
    Receiver,
    RelatedParty,
    Sender,
)
from interaction_streams.contract.routing import RoutingRequest
from interaction_streams.domain.outbound.model import PartyFacts
from interaction_streams.domain.outbound.policy import SolicitationPolicy

MESSAGE_TYPES = {
    "sms": "SMS",
    "email": "Email",
    "voice": "Voice",
    "chat": "Chat",
    "social": "Social",
    "selfservice": "Mobile app push notification",
}
PRIORITY = {"high": "1", "normal": "5", "low": "9"}  # TMF681: a small number is higher
# Delivery status -> the SID status of the outbound interaction (None: no change).
SID_OF_DELIVERY = {
    "sent": "inProgress",
    "delivered": None,
    "read": None,
    "replied": "completed",
    "failed": "failed",
    "bounced": "failed",
}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def ms_time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def iso(ms: int) -> str:
    return ms_time(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def interaction_id(request_id: str) -> str:
    return f"ob-{request_id}"[:128]


def message_id(request_id: str) -> str:
    return f"cm-{request_id}"


def render(template: str, parameters: dict[str, Any], policy: SolicitationPolicy) -> str:
    """The template's text with ``{name}`` filled from the parameters (unknown names stay)."""
    text = policy.templates.get(template)
    if text is None:
        return template
    return _PLACEHOLDER.sub(lambda m: str(parameters.get(m.group(1), m.group(0))), text)


def message(
    party_id: str,
    facts: PartyFacts,
    request: OutboundRequested,
    channel: str,
    send_ms: int,
    policy: SolicitationPolicy,
    trigger: str | None,
) -> CommunicationMessage:
    mid = message_id(request.request_id)
    receiver = Receiver(
        id=party_id,
        name=facts.name,
        phoneNumber=facts.phones[0] if channel in ("sms", "voice") and facts.phones else None,
        email=facts.emails[0] if channel == "email" and facts.emails else None,
        party=RelatedParty(id=party_id, role="customer", name=facts.name),
    )
    extra: list[Characteristic] = [
        Characteristic(name="purpose", value=request.purpose, valueType="string"),
        Characteristic(name="channel", value=channel, valueType="string"),
        Characteristic(name="template", value=request.template, valueType="string"),
        Characteristic(name="requestId", value=request.request_id, valueType="string"),
        Characteristic(
            name="interactionId", value=interaction_id(request.request_id), valueType="string"
        ),
    ]
    if request.campaign_id:
        extra.append(
            Characteristic(name="campaignId", value=request.campaign_id, valueType="string")
        )
    if trigger:
        extra.append(Characteristic(name="trigger", value=trigger, valueType="string"))
    if request.parameters:
        extra.append(
            Characteristic(name="parameters", value=request.parameters, valueType="object")
        )
    return CommunicationMessage(
        id=mid,
        href=f"/tmf-api/communicationManagement/v4/communicationMessage/{mid}",
        content=render(request.template, request.parameters, policy),
        description=f"{request.purpose} contact",
        messageType=MESSAGE_TYPES.get(channel, channel),
        priority=PRIORITY[request.urgency],
        scheduledSendTime=iso(send_ms),
        subject=request.template if channel in ("email", "selfservice") else None,
        characteristic=tuple(extra),
        receiver=(receiver,),
        sender=Sender(id="cim", name=policy.sender_name),
    )


def _apply(
    step: str, request_id: str, data: ApiCreate | ApiPatch, at_ms: int
) -> InteractionCommand:
    """The ``apply`` command that carries an API create or patch of the request's outbound
    interaction, under the deterministic id ``outbound-<step>-<request id>``."""
    return InteractionCommand(
        command="apply",
        command_id=f"outbound-{step}-{request_id}"[:128],
        interaction_id=data.interaction_id,
        time=ms_time(at_ms),
        type="cim.api.create" if isinstance(data, ApiCreate) else "cim.api.patch",
        data=data.model_dump(mode="json", by_alias=True, exclude_none=True),
    )


def create_interaction(
    party_id: str, request: OutboundRequested, channel: str, at_ms: int
) -> InteractionCommand:
    data = ApiCreate(
        interaction_id=interaction_id(request.request_id),
        channel=channel,
        direction="outbound",
        reason=request.purpose,
        description=f"{request.purpose}: {request.template}",
        parties=(PartyMention(party_id=party_id, role="customer"),),
    )
    return _apply("create", request.request_id, data, at_ms)


def patch_interaction(
    request_id: str, status: str, at_ms: int, note: str
) -> InteractionCommand | None:
    sid = SID_OF_DELIVERY.get(status)
    data = ApiPatch(interaction_id=interaction_id(request_id), status=sid, notes=(note,))
    return _apply(status, request_id, data, at_ms)


def callback_route(
    party_id: str, request: OutboundRequested, at_ms: int, channel: str
) -> RoutingRequest:
    origin = request.callback
    assert origin is not None
    return RoutingRequest(
        command="enqueue",
        interaction_id=interaction_id(request.request_id),
        routing_pool=origin.routing_pool,
        time=ms_time(at_ms),
        channel=channel,
        direction="outbound",
        intent="callback",
        requested_queue=origin.queue,
        party_id=party_id,
        enqueued_ms=int(origin.enqueued_at.timestamp() * 1000),
        min_priority=origin.priority,
    )
