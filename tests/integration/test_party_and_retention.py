"""Party identification, erasure and retention on the real broker."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.party import prospect_id
from interaction_streams.harness import WorkerProcess, cloud_event, produce, read_topic
from tests.conftest import WorkerFactory
from tests.e2e.test_interaction_scenarios import index_customer, tmf_events
from tests.scenarios import CUSTOMER, T0_MS, Step, records
from tests.tmf import TMF683, assert_valid

pytestmark = pytest.mark.kafka

PATH = "/tmf-api/partyInteractionManagement/v5/partyInteraction/"


def get_resource(worker: WorkerProcess, interaction: str) -> tuple[int, dict[str, Any]]:
    status, body = worker.get(PATH + interaction)
    return status, (orjson.loads(body) if body else {})


def wait_status(worker: WorkerProcess, interaction: str, wanted: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if get_resource(worker, interaction)[0] == wanted:
            return
        time.sleep(0.2)
    raise AssertionError(f"GET {interaction} never answered {wanted}")


def steps(interaction: str, raw: list[tuple[str, dict[str, Any], float]]) -> list[Step]:
    return [Step(t, {"interactionId": interaction, **d}, s) for t, d, s in raw]


def test_prospect_identified_later_then_erased_with_its_party(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    worker = worker_factory()
    asyncio.run(index_customer(kafka_bootstrap, topics))
    call = steps(
        "call-9",
        [
            ("cim.voice.offered", {"contact": {"phone": "+1 415 555 0100"}}, 0),
            ("cim.voice.ivr.started", {}, 1),
            ("cim.voice.ivr.completed", {"identifiedPartyId": CUSTOMER, "intent": "roaming"}, 30),
        ],
    )
    asyncio.run(produce(kafka_bootstrap, topics["channel-events"].name, records("call-9", call)))
    events = asyncio.run(tmf_events(kafka_bootstrap, topics, 4))["call-9"]
    first, last = events[0]["event"]["partyInteraction"], events[-1]["event"]["partyInteraction"]
    prospect = prospect_id("tel:+14155550100")
    assert [p["partyOrPartyRole"]["id"] for p in first["relatedParty"]] == [prospect]
    assert [(p["partyOrPartyRole"]["id"], p["role"]) for p in last["relatedParty"]] == [
        (CUSTOMER, "customer")
    ]
    wait_status(worker, "call-9", 200)

    erasure = cloud_event(
        "cim.customer.profile.erased", {"partyId": CUSTOMER}, "erase-1", "2026-11-26T10:00:00Z"
    )
    asyncio.run(
        produce(
            kafka_bootstrap, topics["customer-profile"].name, [(CUSTOMER.encode(), erasure, [])]
        )
    )
    after = asyncio.run(tmf_events(kafka_bootstrap, topics, len(events) + 1))["call-9"]
    deleted = after[-1]
    assert deleted["eventType"] == "PartyInteractionDeleteEvent"
    assert_valid(TMF683, "PartyInteractionDeleteEvent", deleted)
    wait_status(worker, "call-9", 404)
    index = asyncio.run(read_topic(kafka_bootstrap, topics["contact-index"].name, 6, 1.0))
    tombstones = {r.key for r in index if r.value is None}
    assert tombstones == {b'"tel:+442079460018"', b'"email:ada@example.com"', b'"login:ada.l"'}


def test_closed_interaction_leaves_the_table_after_its_retention(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    worker = worker_factory(
        cim_interaction_retention_seconds="3", cim_sweep_interval_seconds="0.5", cim_clock="event"
    )
    now_s = (time.time() * 1000 - T0_MS) / 1000  # event times near now
    abandoned = steps(
        "call-7",
        [
            ("cim.voice.offered", {"contact": {"phone": "+44 20 7946 0999"}}, now_s),
            ("cim.interaction.abandoned", {}, now_s + 1),
        ],
    )
    still_open = steps("call-8", [("cim.voice.offered", {}, now_s)])
    channel = topics["channel-events"].name
    asyncio.run(produce(kafka_bootstrap, channel, records("call-7", abandoned)))
    asyncio.run(produce(kafka_bootstrap, channel, records("call-8", still_open)))
    deadline = time.monotonic() + 30
    while get_resource(worker, "call-7")[1].get("status") != "disrupted":
        assert time.monotonic() < deadline, "call-7 never became disrupted"
        time.sleep(0.2)
    # Event time moves on: 3 s after the end, the closed interaction is purged, the open one stays.
    later = steps("call-6", [("cim.voice.offered", {}, now_s + 5)])
    asyncio.run(produce(kafka_bootstrap, channel, records("call-6", later)))
    wait_status(worker, "call-7", 404)
    assert get_resource(worker, "call-8")[0] == 200
    history = asyncio.run(tmf_events(kafka_bootstrap, topics, 4))
    assert [e["eventType"] for e in history["call-7"]][-1] != "PartyInteractionDeleteEvent"
