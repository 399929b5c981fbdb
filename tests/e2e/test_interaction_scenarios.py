"""Every kind of contact, driven through Kafka as a platform would: PartyInteractions, their
timings, parties and relationships, and the exact TMF683 event sequence, valid against the
official specification; then the same with disorder and duplicates."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from typing import Any

import aiohttp
import orjson
import pytest

from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.party import prospect_id
from interaction_streams.harness import cloud_event, produce, read_topic
from tests.conftest import WorkerFactory
from tests.integration.test_hub import Listener
from tests.scenarios import CUSTOMER, CUSTOMER_PHONE, SCENARIOS, records
from tests.tmf import TMF683, assert_valid

pytestmark = pytest.mark.kafka

C, A, D = (
    "PartyInteractionCreateEvent",
    "PartyInteractionAttributeValueChangeEvent",
    ("PartyInteractionDeleteEvent"),
)
S = "PartyInteractionStatusChangeEvent"
SCHEMA = {C: C, A: A, D: D, S: "PartyInteractionStatusChange"}
EXPECTED_SEQUENCE = {
    "call-1": [C, S, A, A, A, A, A, A, A, A, A, A, S, A, A, A],
    "chat-1": [C, S, A, A, A, A, S, A],
    "mail-1": [C, S, A, A, A, A, S, A],
    "call-2": [C, S, A, S, A],
    "web-1": [C, A, A, S, A],
}
LATENESS_S = 60


def profile() -> list[Any]:
    data = {
        "partyId": CUSTOMER,
        "phones": [CUSTOMER_PHONE],
        "emails": ["ada@example.com"],
        "loginIds": ["ada.l"],
        "tier": "gold",
    }
    event = cloud_event("cim.customer.profile.updated", data, "profile-1", "2026-11-26T08:00:00Z")
    return [(CUSTOMER.encode(), event, [])]


async def index_customer(bootstrap: str, topics: TopicContract) -> None:
    await produce(bootstrap, topics["customer-profile"].name, profile())
    entries = await read_topic(bootstrap, topics["contact-index"].name, 3, idle_seconds=0.5)
    assert {r.key for r in entries} == {
        b'"tel:+442079460018"',
        b'"email:ada@example.com"',
        b'"login:ada.l"',
    }


async def tmf_events(bootstrap: str, topics: TopicContract, count: int) -> dict[str, list[Any]]:
    out = await read_topic(bootstrap, topics["party-interaction-events"].name, count)
    by_interaction: dict[str, list[Any]] = defaultdict(list)
    for r in out:
        body = orjson.loads(r.value or b"")
        assert r.key == orjson.dumps(body["event"]["partyInteraction"]["id"])
        by_interaction[body["event"]["partyInteraction"]["id"]].append(body)
    return by_interaction


def party_roles(resource: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["partyOrPartyRole"]["id"], p["role"]) for p in resource["relatedParty"]]


def assert_final_interactions(final: dict[str, dict[str, Any]]) -> None:
    call = final["call-1"]
    assert (call["status"], call["subStatus"], call["direction"], call["reason"]) == (
        "completed",
        "closed",
        "inbound",
        "billing",
    )
    assert call["relatedChannel"][0]["channel"]["id"] == "voice"
    assert call["interactionDate"] == {
        "startDateTime": "2026-11-26T09:00:00.000Z",
        "endDateTime": "2026-11-26T09:05:15.000Z",
    }
    assert call["timing"] == {
        "selfServiceMs": 21_000,
        "queueMs": 30_000,
        "offerMs": 8_250,
        "talkMs": 194_750,
        "holdMs": 30_000,
        "holdCount": 1,
        "wrapUpMs": 30_000,
        "handleMs": 254_750,
    }
    assert party_roles(call) == [(CUSTOMER, "customer"), ("agent-1", "agent"), ("agent-2", "agent")]
    assert call["disposition"] == "resolved"
    assert [i["interactionItemType"] for i in call["interactionItem"]] == [
        "ivrSelection",
        "transfer",
        "survey",
    ]
    assert call["interactionItem"][2]["value"] == {"score": 4}
    assert call["note"][0]["text"] == "refund issued"
    assert call["attachment"][0]["url"] == "s3://rec/call-1.wav"

    chat = final["chat-1"]
    assert (chat["status"], chat["contained"], chat["queue"]) == (
        "completed",
        False,
        "chat-support",
    )
    assert party_roles(chat) == [(CUSTOMER, "customer"), ("bot-7", "bot"), ("agent-3", "agent")]
    assert chat["messageCount"] == {"inbound": 2, "outbound": 2}

    mail = final["mail-1"]
    assert mail["timing"]["queueMs"] == 599_000 and mail["status"] == "completed"
    assert party_roles(mail) == [
        (prospect_id("email:bob@example.org"), "prospect"),
        ("agent-4", "agent"),
    ]

    abandoned = final["call-2"]
    assert (abandoned["status"], abandoned["statusChangeReason"]) == ("disrupted", "abandoned")
    assert abandoned["timing"]["queueMs"] == 42_500
    assert party_roles(abandoned) == [(prospect_id("tel:+33123456789"), "prospect")]

    web = final["web-1"]
    assert (web["status"], web["contained"], web["statusChangeReason"]) == (
        "completed",
        True,
        "contained",
    )
    assert party_roles(web)[0] == (CUSTOMER, "customer")


def test_every_channel_end_to_end_with_the_exact_tmf683_events(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    worker_factory(cim_lateness_seconds=str(LATENESS_S))
    asyncio.run(index_customer(kafka_bootstrap, topics))
    for name, steps in SCENARIOS.items():
        asyncio.run(produce(kafka_bootstrap, topics["channel-events"].name, records(name, steps)))
    total = sum(len(v) for v in EXPECTED_SEQUENCE.values())
    events = asyncio.run(tmf_events(kafka_bootstrap, topics, total))
    assert {k: [e["eventType"] for e in v] for k, v in events.items()} == EXPECTED_SEQUENCE
    assert_final_interactions({k: v[-1]["event"]["partyInteraction"] for k, v in events.items()})
    # Last, as it needs the official specification (skipped, with a message, without it).
    for sequence in events.values():
        for event in sequence:
            assert_valid(TMF683, SCHEMA[event["eventType"]], event)
            assert_valid(TMF683, "PartyInteraction", event["event"]["partyInteraction"])


def test_disorder_within_the_lateness_bound_and_duplicates_end_in_the_same_interactions(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    worker_factory(cim_lateness_seconds=str(LATENESS_S))
    asyncio.run(index_customer(kafka_bootstrap, topics))
    rnd = random.Random(42)
    for name, steps in SCENARIOS.items():
        sent = records(name, steps)
        timed = list(zip(sent, (s.time_ms for s in steps), strict=True))
        doubled = timed + timed  # every event twice
        doubled.sort(key=lambda rt: rt[1] + rnd.uniform(0, LATENESS_S * 900))
        asyncio.run(
            produce(kafka_bootstrap, topics["channel-events"].name, [r for r, _ in doubled])
        )
    events = asyncio.run(tmf_events(kafka_bootstrap, topics, len(SCENARIOS)))
    assert set(events) == set(SCENARIOS)
    for sequence in events.values():
        assert sequence[0]["eventType"] == C
        assert len({e["eventId"] for e in sequence}) == len(sequence)  # nothing emitted twice
    assert_final_interactions({k: v[-1]["event"]["partyInteraction"] for k, v in events.items()})


def test_hub_listener_receives_exactly_the_filtered_events_of_real_contacts(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    worker = worker_factory(cim_api_tokens="hub-token=hub:write")
    asyncio.run(_hub_scenario(kafka_bootstrap, topics, worker.url))


async def _hub_scenario(bootstrap: str, topics: TopicContract, base: str) -> None:
    listener = Listener()
    runner = await listener.serve()
    auth = {"Authorization": "Bearer hub-token"}
    try:
        async with aiohttp.ClientSession(base) as http:
            for who, query in (("status", f"eventType={S}"), ("all", None)):
                body = {"callback": listener.url(who), **({"query": query} if query else {})}
                async with http.post("/hub", json=body, headers=auth) as response:
                    assert response.status == 201, await response.text()
        for name, steps in SCENARIOS.items():
            await produce(bootstrap, topics["channel-events"].name, records(name, steps))
        total = sum(len(v) for v in EXPECTED_SEQUENCE.values())
        published = await tmf_events(bootstrap, topics, total)
        deadline = asyncio.get_running_loop().time() + 30
        while len(listener.got("all")) < total:  # the unfiltered one: everything delivered
            assert asyncio.get_running_loop().time() < deadline, len(listener.got("all"))
            await asyncio.sleep(0.1)
        wanted = {e["eventId"] for v in published.values() for e in v if e["eventType"] == S}
        got = [orjson.loads(body) for _, body in listener.got("status")]
        assert sorted(e["eventId"] for e in got) == sorted(wanted)  # each exactly once
        assert {name for name, _ in listener.got("status")} == {"partyInteractionStatusChangeEvent"}
    finally:
        await runner.cleanup()
