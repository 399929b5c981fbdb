"""Event types: every type has a payload model; wrong family and bad data are refused."""

from __future__ import annotations

import pytest

from interaction_streams.contract.envelope import decode_envelope
from interaction_streams.contract.errors import InvalidEvent
from interaction_streams.contract.events.registry import (
    EVENT_TYPES,
    FAMILIES,
    Family,
    TypedEvent,
    type_payload,
)
from interaction_streams.harness import cloud_event

T = "2026-11-26T09:00:00Z"


def typed(event_type: str, data: dict[str, object], family: Family | None = None) -> TypedEvent:
    return type_payload(decode_envelope(cloud_event(event_type, data, "e", T), []), family)


def test_every_family_has_types_and_every_type_names_its_family() -> None:
    assert {t.family for t in EVENT_TYPES.values()} == set(FAMILIES)
    for name, event_type in EVENT_TYPES.items():
        assert name.startswith("cim."), name
        assert event_type.name == name


def test_channel_event_is_keyed_by_interaction_and_canonicalised() -> None:
    event = typed(
        "cim.voice.offered",
        {"interactionId": "c-1", "contact": {"phone": "+4420"}, "unknownField": 1},
        "channel",
    )
    assert event.routing_key == "c-1"
    assert event.canonical().data == {
        "interactionId": "c-1",
        "routingPool": "default",
        "contact": {"phone": "+4420"},
        "direction": "inbound",
    }


@pytest.mark.parametrize(
    ("event_type", "data", "key"),
    [
        ("cim.agent.logged-in", {"agentId": "a-1", "routingPool": "north"}, "north"),
        ("cim.business.payment.overdue", {"partyId": "p-1"}, "p-1"),
        ("cim.business.incident.opened", {"incidentId": "i-1", "serviceArea": "N1"}, "i-1"),
        ("cim.customer.profile.updated", {"partyId": "p-2"}, "p-2"),
        (
            "cim.outbound.requested",
            {"partyId": "p-3", "requestId": "r", "purpose": "service", "template": "t"},
            "p-3",
        ),
        ("cim.channel.heartbeat", {"channel": "sms", "component": "gw-1"}, "sms"),
    ],
)
def test_each_family_is_keyed_for_its_next_stage(
    event_type: str, data: dict[str, object], key: str
) -> None:
    assert typed(event_type, data).routing_key == key


def test_unknown_type_is_refused() -> None:
    with pytest.raises(InvalidEvent) as refused:
        typed("cim.voice.teleported", {"interactionId": "c"}, "channel")
    assert refused.value.reason == "unknown-type"


def test_type_on_the_wrong_topic_is_refused() -> None:
    with pytest.raises(InvalidEvent) as refused:
        typed("cim.agent.logged-out", {"agentId": "a"}, "channel")
    assert refused.value.reason == "wrong-topic"


@pytest.mark.parametrize(
    ("event_type", "data", "fragment"),
    [
        ("cim.voice.offered", {}, "interactionId"),
        ("cim.interaction.csat.recorded", {"interactionId": "c", "score": 9}, "score"),
        ("cim.agent.skills.updated", {"agentId": "a", "skills": {"billing": 7}}, "1..5"),
        ("cim.interaction.transferred", {"interactionId": "c", "mode": "blind"}, "toAgentId"),
        ("cim.business.incident.opened", {"incidentId": "i"}, "serviceArea"),
        ("cim.voice.offered", {"interactionId": "c", "contact": {}}, "contact"),
    ],
)
def test_invalid_payload_is_refused_with_the_field(
    event_type: str, data: dict[str, object], fragment: str
) -> None:
    with pytest.raises(InvalidEvent) as refused:
        typed(event_type, data)
    assert refused.value.reason == "invalid-data"
    assert fragment in refused.value.detail
