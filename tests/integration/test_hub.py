"""The TMF630 hub on the real broker: subscribe, filtered delivery, retries, unsubscribe.

The worker is a real ``interaction-streams worker``; TMF683 events are produced straight
onto the events topic, as the interaction stage would.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer

from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.hub import Breakers, Subscription
from interaction_streams.harness import WorkerProcess, free_port, produce, read_topic
from interaction_streams.kafka_options import producer_options
from interaction_streams.observability.metrics import Metrics
from interaction_streams.settings import KafkaSettings
from interaction_streams.stream.hub_delivery import HubMetrics, HubSettings, Notifier
from interaction_streams.stream.replica import CompactedReplica
from tests.conftest import WorkerFactory
from tests.waiting import wait_until_async

pytestmark = pytest.mark.kafka

WRITER, READER = "writer-token-1", "reader-token-2"
TOKENS = f"{WRITER}=hub:write partyInteraction:write;{READER}=partyInteraction:read"
STATUS_CHANGE = "PartyInteractionStatusChangeEvent"


@dataclass
class Listener:
    """A TMF630 listener server: records every POST; ``script`` sets answers per subscriber."""

    port: int = field(default_factory=free_port)
    received: list[tuple[str, str, bytes, int]] = field(default_factory=list)
    script: dict[str, list[int]] = field(default_factory=dict)
    slow: set[str] = field(default_factory=set)  # these answer after 1 s

    def url(self, subscriber: str) -> str:
        return f"http://127.0.0.1:{self.port}/{subscriber}"

    def got(self, subscriber: str, status: int | None = 200) -> list[tuple[str, bytes]]:
        return [
            (name, body)
            for who, name, body, answered in self.received
            if who == subscriber and (status is None or answered == status)
        ]

    async def handle(self, request: web.Request) -> web.Response:
        subscriber = request.match_info["subscriber"]
        answers = self.script.get(subscriber, [])
        status = answers.pop(0) if answers else 200
        body = await request.read()
        assert request.content_type == "application/json"
        self.received.append((subscriber, request.match_info["name"], body, status))
        if subscriber in self.slow:
            await asyncio.sleep(1.0)
        return web.Response(status=status)

    async def serve(self) -> web.AppRunner:
        server = web.Application()
        server.router.add_post("/{subscriber}/listener/{name}", self.handle)
        runner = web.AppRunner(server)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        return runner


def tmf_event(event_type: str, n: int) -> bytes:
    return orjson.dumps(
        {
            "@type": event_type,
            "eventId": f"ev-{n}",
            "eventTime": "2026-11-26T09:00:00.000Z",
            "eventType": event_type,
            "timeOccurred": "2026-11-26T09:00:00.000Z",
            "event": {"partyInteraction": {"id": f"call-{n}", "@type": "PartyInteraction"}},
        }
    )


def metric(body: bytes, name: str, **labels: str) -> float:
    lines = [line for line in body.decode().splitlines() if line.startswith(name + "{")]
    chosen = [line for line in lines if all(f'{k}="{v}"' in line for k, v in labels.items())]
    return sum(float(line.rsplit(" ", 1)[1]) for line in chosen)


# this module waits up to 15 s, polled every 0.05 s without blocking the event loop
until = partial(wait_until_async, timeout=15.0, interval=0.05)


@pytest.fixture
def hub_worker(worker_factory: WorkerFactory) -> WorkerProcess:
    return worker_factory(cim_api_tokens=TOKENS, cim_hub_backoff_seconds="0.1")


def test_hub_subscribe_filter_retry_and_unsubscribe(
    kafka_bootstrap: str, topics: TopicContract, hub_worker: WorkerProcess
) -> None:
    asyncio.run(_scenario(kafka_bootstrap, topics, hub_worker))
    _, body = hub_worker.get("/metrics")
    # a: 2 status changes; b: 3 + 1 + 1 events; c: 2 status changes (the first after retries)
    assert metric(body, "cim_hub_deliveries_total", outcome="delivered") == 2 + 5 + 2
    assert metric(body, "cim_hub_deliveries_total", outcome="failed") == 0
    assert "cim_hub_subscriptions 2.0" in body.decode()


async def _scenario(bootstrap: str, topics: TopicContract, worker: WorkerProcess) -> None:
    listener = Listener()
    runner = await listener.serve()
    events = topics["party-interaction-events"].name
    try:
        async with aiohttp.ClientSession(base_url=worker.url) as http:
            a, b = await _refusals_then_subscriptions(http, listener)
            await produce(
                bootstrap,
                events,
                [
                    (b'"call-1"', tmf_event("PartyInteractionCreateEvent", 1), []),
                    (b'"call-2"', tmf_event(STATUS_CHANGE, 2), []),
                    (b'"call-3"', tmf_event("PartyInteractionAttributeValueChangeEvent", 3), []),
                ],
            )
            # b selects everything: once b has all three, a had its chance at each of them.
            await until(lambda: len(listener.got("b")) == 3)
            await until(lambda: len(listener.got("a")) == 1)
            await asyncio.sleep(0.5)
            assert listener.got("a") == [
                ("partyInteractionStatusChangeEvent", tmf_event(STATUS_CHANGE, 2))
            ]
            assert sorted(name for name, _ in listener.got("b")) == [
                "partyInteractionAttributeValueChangeEvent",
                "partyInteractionCreateEvent",
                "partyInteractionStatusChangeEvent",
            ]

            # c answers 503 twice, then 200: one event, three attempts, delivered once.
            listener.script["c"] = [503, 503]
            await _subscribe(http, listener.url("c"), f"eventType={STATUS_CHANGE}")
            await produce(bootstrap, events, [(b'"call-4"', tmf_event(STATUS_CHANGE, 4), [])])
            await until(lambda: len(listener.got("c")) == 1)
            await until(lambda: len(listener.got("b")) == 4 and len(listener.got("a")) == 2)
            await asyncio.sleep(0.5)
            assert [status for who, _, _, status in listener.received if who == "c"] == [
                503,
                503,
                200,
            ]
            assert listener.got("c") == [
                ("partyInteractionStatusChangeEvent", tmf_event(STATUS_CHANGE, 4))
            ]

            # DELETE a: 204, then 404; a unknown id is 404; a gets nothing more.
            headers = {"Authorization": f"Bearer {WRITER}"}
            async with http.delete(f"/hub/{a['id']}") as response:
                assert response.status == 401
            async with http.delete(f"/hub/{a['id']}", headers=headers) as response:
                assert response.status == 204
            async with http.delete(f"/hub/{a['id']}", headers=headers) as response:
                assert response.status == 404
                assert (await response.json())["code"] == "notFound"
            async with http.delete(
                "/tmf-api/partyInteractionManagement/v5/hub/no-such-id", headers=headers
            ) as response:
                assert response.status == 404
            await produce(bootstrap, events, [(b'"call-5"', tmf_event(STATUS_CHANGE, 5), [])])
            await until(lambda: len(listener.got("b")) == 5 and len(listener.got("c")) == 2)
            await asyncio.sleep(0.5)
            assert len(listener.got("a", status=None)) == 2
    finally:
        await runner.cleanup()

    # The subscriptions live on the compacted topic: three values and a's tombstone.
    records = await read_topic(bootstrap, topics["hub-subscriptions"].name, 4, idle_seconds=0.5)
    by_key: dict[bytes | None, list[bytes | None]] = {}
    for record in records:
        by_key.setdefault(record.key, []).append(record.value)
    assert by_key[orjson.dumps(a["id"])] == [orjson.dumps(a_value(a)), None]
    assert len(by_key) == 3 and by_key[orjson.dumps(b["id"])][0] is not None


def a_value(hub: dict[str, Any]) -> dict[str, Any]:
    return {"id": hub["id"], "callback": hub["callback"], "query": hub["query"]}


async def _subscribe(
    http: aiohttp.ClientSession, callback: str, query: str | None, path: str = "/hub"
) -> dict[str, Any]:
    body = {"callback": callback} if query is None else {"callback": callback, "query": query}
    headers = {"Authorization": f"Bearer {WRITER}"}
    async with http.post(path, json=body, headers=headers) as response:
        assert response.status == 201, await response.text()
        created: dict[str, Any] = await response.json()
        assert response.headers["Location"] == f"{path}/{created['id']}"
        return created


async def _refusals_then_subscriptions(
    http: aiohttp.ClientSession, listener: Listener
) -> tuple[dict[str, Any], dict[str, Any]]:
    body = {"callback": listener.url("a"), "query": f"eventType={STATUS_CHANGE}"}
    async with http.post("/hub", json=body) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        error = await response.json()
        assert error["@type"] == "Error" and error["status"] == "401"
    async with http.post(
        "/hub", json=body, headers={"Authorization": f"Bearer {READER}"}
    ) as response:
        assert response.status == 403
        assert (await response.json())["code"] == "insufficientScope"
    writer = {"Authorization": f"Bearer {WRITER}"}
    for wrong, code in (
        ({"callback": listener.url("a"), "query": "eventType=NoSuchEvent"}, "invalidQuery"),
        ({"callback": "ftp://example.com/x"}, "invalidCallback"),
    ):
        async with http.post("/hub", json=wrong, headers=writer) as response:
            assert response.status == 400
            assert (await response.json())["code"] == code

    tmf = "/tmf-api/partyInteractionManagement/v5/hub"
    a = await _subscribe(http, listener.url("a"), f"eventType={STATUS_CHANGE}", tmf)
    assert a["@type"] == "Hub" and a["query"] == f"eventType={STATUS_CHANGE}"
    assert a["callback"] == listener.url("a")
    b = await _subscribe(http, listener.url("b"), None)
    return a, b


def test_replica_loads_the_compacted_topic_then_tails_it(
    kafka_bootstrap: str, topics: TopicContract
) -> None:
    asyncio.run(_replica_scenario(kafka_bootstrap, topics["hub-subscriptions"].name))


async def _replica_scenario(bootstrap: str, topic: str) -> None:
    await produce(
        bootstrap,
        topic,
        [
            (b'"k1"', b'{"v": 1}', []),
            (b'"k2"', b'{"v": 2}', []),
            (b'"k1"', None, []),  # tombstone
            (b"not-a-json-key", b'{"v": 0}', []),  # ignored
            (b'"k3"', b"not a value", []),  # ignored
            (b'"k4"', b'{"v": 4}', []),
        ],
    )
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    replica: CompactedReplica[int] = CompactedReplica(topic, lambda b: orjson.loads(b)["v"], kafka)
    changes: list[tuple[str, int | None, int | None]] = []
    replica.on_change.append(lambda key, old, new: changes.append((key, old, new)))
    producer = AIOKafkaProducer(**producer_options(kafka))
    await producer.start()
    await replica.start()
    try:
        assert await replica.wait_ready(20.0)
        assert dict(replica.items()) == {"k2": 2, "k4": 4} and len(replica) == 2
        assert replica.get("k1") is None and replica.get("k3") is None
        assert set(changes) >= {("k2", None, 2), ("k4", None, 4), ("k1", 1, None)}
        changes.clear()

        sent = await producer.send_and_wait(topic, b'{"v": 5}', key=b'"k2"')
        assert await replica.wait_for_offset(sent.partition, sent.offset, 10.0)
        assert replica.get("k2") == 5 and changes == [("k2", 2, 5)]
        sent = await producer.send_and_wait(topic, None, key=b'"k4"')
        assert await replica.wait_for_offset(sent.partition, sent.offset, 10.0)
        assert "k4" not in replica and changes[-1] == ("k4", 4, None)
        assert not await replica.wait_for_offset(sent.partition, sent.offset + 1, 0.3)
    finally:
        await replica.stop()
        await producer.stop()


def test_notifier_retries_gives_up_and_then_skips_a_dead_listener() -> None:
    asyncio.run(_notifier_scenario())


async def _notifier_scenario() -> None:
    listener = Listener(script={"gone": [404] * 5, "busy": [429]}, slow={"slow"})
    runner = await listener.serve()
    settings = HubSettings(
        delivery_timeout_seconds=0.3, max_attempts=3, backoff_seconds=0.01, breaker_failures=2
    )
    metrics = Metrics()
    timeout = aiohttp.ClientTimeout(total=settings.delivery_timeout_seconds)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            notifier = Notifier(session, settings, HubMetrics(metrics), Breakers(2, 60.0))
            subscribers = [
                Subscription(id=name, callback=listener.url(name))
                for name in ("gone", "busy", "slow")
            ]
            dead = Subscription(id="dead", callback=f"http://127.0.0.1:{free_port()}/dead")
            event = tmf_event(STATUS_CHANGE, 1)
            outcomes = await notifier.notify_all([*subscribers, dead], STATUS_CHANGE, event)
            assert outcomes == ["failed", "delivered", "failed", "failed"]
            # 404 is not retried, 429 is, no answer in time is retried up to max_attempts
            assert Counter(who for who, *_ in listener.received) == {
                "gone": 1,
                "busy": 2,
                "slow": 3,
            }
            assert listener.got("busy") == [("partyInteractionStatusChangeEvent", event)]
            # A second delivery given up in a row opens the breaker: the next one is skipped.
            assert await notifier.notify(dead, STATUS_CHANGE, event) == "failed"
            assert await notifier.notify(dead, STATUS_CHANGE, event) == "skipped"
            assert await notifier.notify(subscribers[1], STATUS_CHANGE, event) == "delivered"
    finally:
        await runner.cleanup()
    body = metrics.exposition()
    assert metric(body, "cim_hub_deliveries_total", outcome="delivered") == 2
    assert metric(body, "cim_hub_deliveries_total", outcome="failed") == 4
    assert metric(body, "cim_hub_deliveries_total", outcome="skipped") == 1
