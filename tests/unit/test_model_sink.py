"""``ModelSink``: a stage's records straight to the worker's producer, and through the Faust
topic (its transaction) under exactly_once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
import pytest

from interaction_streams.contract.routing import RoutingDecision
from interaction_streams.contract.topics import TopicContract
from interaction_streams.stream.codec import ModelCodec
from interaction_streams.stream.wiring import ModelSink

DECISION = RoutingDecision(
    id="c1|0|position|3|1000",
    kind="position",
    interaction_id="c1",
    routing_pool="p1",
    queue="billing",
    queues=("billing",),
    priority=0,
    skills=(),
    rule="billing",
    step=0,
    position=3,
    estimated_wait_ms=45_000,
    reason="position",
    at=datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
)


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []

    async def send(self, *args: Any) -> str:
        self.sent.append(args)
        return "acknowledgement"


@pytest.mark.parametrize("transactions", [False, True])
def test_a_record_goes_to_the_producer_unless_transactions_are_on(
    monkeypatch: pytest.MonkeyPatch, transactions: bool
) -> None:
    app = faust.App("direct-topic-test")
    contract = TopicContract.load(prefix="t.")
    sink = ModelSink(app, contract, "routing-positions", RoutingDecision)
    producer, via_faust = Producer(), []

    async def faust_send(**kwargs: Any) -> str:
        via_faust.append(kwargs)
        return "acknowledgement"

    monkeypatch.setattr(type(app), "in_transaction", property(lambda self: transactions))

    async def started() -> Producer:
        return producer

    monkeypatch.setattr(app, "maybe_start_producer", started)
    monkeypatch.setattr(sink.topic, "send", faust_send)
    acknowledgement: Any = asyncio.run(sink.send(key=b'"c1"', value=DECISION))
    assert acknowledgement == "acknowledgement"
    if transactions:
        assert producer.sent == [] and via_faust == [{"key": b'"c1"', "value": DECISION}]
        return
    assert via_faust == []
    [(topic, key, body, partition, timestamp, headers)] = producer.sent
    assert (topic, key, partition, timestamp, headers) == (
        "t.cim.routing.positions.v1",
        b'"c1"',
        None,
        None,
        None,
    )
    # the same bytes as the topic's codec: camelCase, no nulls
    assert orjson.loads(body) == orjson.loads(ModelCodec(RoutingDecision).dumps(DECISION))
    assert orjson.loads(body)["estimatedWaitMs"] == 45_000
