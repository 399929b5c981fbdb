"""Every input event type of the contract: its family and its payload model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, ValidationError

from interaction_streams.contract.envelope import CloudEvent
from interaction_streams.contract.errors import InvalidEvent, summarise_validation_error
from interaction_streams.contract.events.agent import AGENT_EVENT_TYPES
from interaction_streams.contract.events.business import BUSINESS_EVENT_TYPES
from interaction_streams.contract.events.channel import CHANNEL_EVENT_TYPES
from interaction_streams.contract.events.health import HEALTH_EVENT_TYPES
from interaction_streams.contract.events.outbound import OUTBOUND_EVENT_TYPES
from interaction_streams.contract.events.profile import PROFILE_EVENT_TYPES

Family = Literal["channel", "agent", "business", "profile", "outbound", "health"]
FAMILIES: tuple[Family, ...] = ("channel", "agent", "business", "profile", "outbound", "health")


class Payload(Protocol):
    """A validated payload knows the key of the stage that handles it next."""

    def routing_key(self) -> str: ...


@dataclass(frozen=True)
class EventType:
    name: str
    family: Family
    model: type[BaseModel]


def _build() -> dict[str, EventType]:
    by_family: Mapping[Family, Mapping[str, type[BaseModel]]] = {
        "channel": CHANNEL_EVENT_TYPES,
        "agent": AGENT_EVENT_TYPES,
        "business": BUSINESS_EVENT_TYPES,
        "profile": PROFILE_EVENT_TYPES,
        "outbound": OUTBOUND_EVENT_TYPES,
        "health": HEALTH_EVENT_TYPES,
    }
    return {
        name: EventType(name, family, model)
        for family, types in by_family.items()
        for name, model in types.items()
    }


EVENT_TYPES: Mapping[str, EventType] = _build()


@dataclass(frozen=True)
class TypedEvent:
    """A CloudEvent whose payload has been validated against its type's model."""

    envelope: CloudEvent
    event_type: EventType
    payload: BaseModel

    @property
    def routing_key(self) -> str:
        key: str = self.payload.routing_key()  # type: ignore[attr-defined]
        return key

    def canonical(self) -> CloudEvent:
        """The envelope with its data normalised by the payload model (camelCase, no nulls)."""
        data = self.payload.model_dump(mode="json", by_alias=True, exclude_none=True)
        return self.envelope.model_copy(update={"data": data})


def type_payload(event: CloudEvent, expected: Family | None = None) -> TypedEvent:
    """Validate the payload of ``event``; ``expected`` is the family its topic carries.

    Raises InvalidEvent with reason ``unknown-type``, ``wrong-topic`` or ``invalid-data``.
    """
    event_type = EVENT_TYPES.get(event.type)
    if event_type is None:
        raise InvalidEvent("unknown-type", f"event type {event.type!r} is not in the contract")
    if expected is not None and event_type.family != expected:
        raise InvalidEvent(
            "wrong-topic",
            f"{event.type!r} is a {event_type.family} event; this topic carries {expected} events",
        )
    try:
        payload = event_type.model.model_validate(event.data)
    except ValidationError as exc:
        raise InvalidEvent("invalid-data", summarise_validation_error(exc)) from None
    return TypedEvent(event, event_type, payload)
