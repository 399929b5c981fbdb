"""JSON Schemas of the wire formats, generated from the pydantic models (the single source).

``interaction-streams schemas export`` writes them into ``schemas/``; a test fails when
the checked-in files drift from the models.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from interaction_streams.contract.channel_commands import ChannelCommand
from interaction_streams.contract.channel_status import ChannelStatus
from interaction_streams.contract.commands import InteractionCommand
from interaction_streams.contract.customer import (
    AreaCommand,
    ContextSnapshot,
    CustomerCommand,
    MomentEvent,
)
from interaction_streams.contract.deadletter import DeadLetter
from interaction_streams.contract.envelope import CloudEvent
from interaction_streams.contract.escalation import EscalationCommand, EscalationRecord
from interaction_streams.contract.events.registry import EVENT_TYPES, FAMILIES, Family
from interaction_streams.contract.guidance import (
    AgentGuidance,
    RecommendationRequest,
    RecommendationResponse,
)
from interaction_streams.contract.outbound import OutboundCommand, OutboundDecision
from interaction_streams.contract.party_index import ContactIndexEntry
from interaction_streams.contract.routing import (
    PolicyDocument,
    RoutingCommand,
    RoutingDecision,
    RoutingRequest,
    WorkAssignment,
)
from interaction_streams.domain.hub import Subscription

DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def family_schema(family: Family) -> dict[str, Any]:
    """A CloudEvent whose ``type`` selects the schema of ``data``, for one event family."""
    types = sorted((t for t in EVENT_TYPES.values() if t.family == family), key=lambda t: t.name)
    models: list[type[BaseModel]] = list(dict.fromkeys(t.model for t in types))
    refs, defs = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/$defs/{model}"
    )
    envelope = CloudEvent.model_json_schema()
    envelope_props = dict(envelope["properties"])
    envelope_props["type"] = {"type": "string", "enum": [t.name for t in types]}
    return {
        "$schema": DRAFT,
        "$id": f"https://interaction-streams.dev/schemas/events/{family}.json",
        "title": f"{family} event",
        "description": f"A CloudEvents 1.0 event of the {family} family; `type` selects `data`.",
        "type": "object",
        "required": envelope["required"],
        "properties": envelope_props,
        "allOf": [
            {
                "if": {"properties": {"type": {"const": t.name}}},
                "then": {"properties": {"data": refs[(t.model, "validation")]}},
            }
            for t in types
        ],
        "$defs": defs.get("$defs", {}),
    }


def model_schema(model: type[BaseModel], name: str) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    return {"$schema": DRAFT, "$id": f"https://interaction-streams.dev/schemas/{name}", **schema}


def all_schemas() -> Iterator[tuple[str, dict[str, Any]]]:
    """(relative path, schema) of every generated schema file."""
    yield "cloudevent.json", model_schema(CloudEvent, "cloudevent.json")
    yield "deadletter.json", model_schema(DeadLetter, "deadletter.json")
    yield "interaction-command.json", model_schema(InteractionCommand, "interaction-command.json")
    yield "customer-command.json", model_schema(CustomerCommand, "customer-command.json")
    yield "area-command.json", model_schema(AreaCommand, "area-command.json")
    yield "customer-context.json", model_schema(ContextSnapshot, "customer-context.json")
    yield "customer-moment.json", model_schema(MomentEvent, "customer-moment.json")
    yield "contact-index-entry.json", model_schema(ContactIndexEntry, "contact-index-entry.json")
    yield "hub-subscription.json", model_schema(Subscription, "hub-subscription.json")
    yield "routing-request.json", model_schema(RoutingRequest, "routing-request.json")
    yield "routing-command.json", model_schema(RoutingCommand, "routing-command.json")
    yield "routing-decision.json", model_schema(RoutingDecision, "routing-decision.json")
    yield "work-assignment.json", model_schema(WorkAssignment, "work-assignment.json")
    yield "channel-status.json", model_schema(ChannelStatus, "channel-status.json")
    yield "routing-policy.json", model_schema(PolicyDocument, "routing-policy.json")
    yield "channel-command.json", model_schema(ChannelCommand, "channel-command.json")
    yield "escalation.json", model_schema(EscalationRecord, "escalation.json")
    yield "escalation-command.json", model_schema(EscalationCommand, "escalation-command.json")
    yield "agent-guidance.json", model_schema(AgentGuidance, "agent-guidance.json")
    yield (
        "recommendation-request.json",
        model_schema(RecommendationRequest, "recommendation-request.json"),
    )
    yield (
        "recommendation-response.json",
        model_schema(RecommendationResponse, "recommendation-response.json"),
    )
    yield "outbound-command.json", model_schema(OutboundCommand, "outbound-command.json")
    yield "outbound-decision.json", model_schema(OutboundDecision, "outbound-decision.json")
    for family in FAMILIES:
        yield f"events/{family}.json", family_schema(family)


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export(target: Path = DEFAULT_SCHEMA_DIR) -> list[Path]:
    written = []
    for relative, schema in all_schemas():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written
