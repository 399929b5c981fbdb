"""The thin async driver: runs the deterministic core against Kafka in (scaled) real time.

Every tick the simulated clock moves to ``start + wall elapsed x speed``; what the core emits
up to then is produced as structured CloudEvents (their ``time`` is the simulated time), and
the product's outputs read meanwhile are fed back: work assignments to the simulated agents,
decisions, dead letters and escalations to the dashboard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from interaction_streams.contract.routing import WorkAssignment
from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import cloud_event
from interaction_streams.simulator.core import Emitted, Simulation
from interaction_streams.simulator.dashboard import Dashboard

OUTPUTS = (
    "work-assignments",
    "routing-decisions",
    "routing-positions",
    "deadletter",
    "escalations",
)


@dataclass
class RunSummary:
    produced: int = 0
    wall_seconds: float = 0.0
    simulated_seconds: float = 0.0
    inputs: list[Emitted] = field(default_factory=list)  # kept only when asked


Tick = Callable[[Simulation, Dashboard, RunSummary], None]


async def _output_consumer(
    bootstrap: str, contract: TopicContract, from_beginning: bool = False
) -> tuple[AIOKafkaConsumer, dict[str, str]]:
    """A consumer of the product's outputs, from their current end (our run starts now), or
    from the beginning (topics of this run only)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    names: dict[str, str] = {}
    tps = []
    for topic_id in OUTPUTS:
        try:
            name = contract[topic_id].name
        except KeyError:
            continue
        parts = consumer.partitions_for_topic(name)
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(name)
        if not parts:
            continue  # not on the broker (a planned topic never applied)
        names[name] = topic_id
        tps += [TopicPartition(name, p) for p in sorted(parts)]
    consumer.assign(tps)
    if from_beginning:
        await consumer.seek_to_beginning(*tps)
        return consumer, names
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    return consumer, names


async def drive(
    sim: Simulation,
    bootstrap: str,
    contract: TopicContract,
    speed: float,
    wall_seconds: float | None = None,
    dashboard: Dashboard | None = None,
    on_tick: Tick | None = None,
    tick_seconds: float = 0.1,
    keep_inputs: bool = False,
    group_id: str | None = None,
    on_status: Callable[[str], None] | None = None,
    from_beginning: bool = False,
) -> tuple[RunSummary, Dashboard]:
    """Run until the scenario ends or ``wall_seconds`` pass; returns what was produced.

    With ``group_id`` (the workers' application id), the traffic starts once the product has
    read the population (profiles, logins): its consumer group has no lag left."""
    dashboard = dashboard or Dashboard()
    summary = RunSummary()
    consumer, names = await _output_consumer(bootstrap, contract, from_beginning)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    await producer.start()
    topic_names = {t: contract[t].name for t in ("channel-events", "agent-events")} | {
        t: contract[t].name for t in ("business-events", "customer-profile")
    }
    loop = asyncio.get_running_loop()
    began = loop.time()
    start_ms = sim.scenario.start_ms
    try:
        # The profiles and the first logins go first, and are acknowledged, before traffic.
        first = sim.advance(start_ms)
        await _send(producer, topic_names, first, sim.source, summary, keep_inputs)
        await producer.flush()
        if group_id is not None:
            if on_status is not None:
                on_status(f"Waiting for the product to read {len(first)} profiles and logins...")
            # The workers' consumer group is named by the topic prefix and the app id.
            await wait_caught_up(bootstrap, contract.prefix + group_id, contract.prefix)
        began = loop.time()
        while not sim.finished:
            elapsed = loop.time() - began
            if wall_seconds is not None and elapsed >= wall_seconds:
                break
            batch = await consumer.getmany(timeout_ms=int(tick_seconds * 1000), max_records=5000)
            for tp, records in batch.items():
                topic_id = names.get(tp.topic)
                for r in records:
                    _feed(sim, dashboard, topic_id, r.value or b"{}")
            now_ms = start_ms + int((loop.time() - began) * speed * 1000)
            emitted = sim.advance(now_ms)
            await _send(producer, topic_names, emitted, sim.source, summary, keep_inputs)
            summary.wall_seconds = loop.time() - began
            summary.simulated_seconds = (sim.now_ms - start_ms) / 1000
            if on_tick is not None:
                on_tick(sim, dashboard, summary)
        await producer.flush()
        # Let the product's last outputs arrive for the report (without new input).
        settle = loop.time() + 3.0
        while loop.time() < settle:
            batch = await consumer.getmany(timeout_ms=250)
            for tp, records in batch.items():
                for r in records:
                    _feed(sim, dashboard, names.get(tp.topic), r.value or b"{}", react=False)
    finally:
        await producer.stop()
        await consumer.stop()
    return summary, dashboard


def _feed(
    sim: Simulation, dashboard: Dashboard, topic_id: str | None, value: bytes, react: bool = True
) -> None:
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError:
        return
    if topic_id == "work-assignments":
        dashboard.on_assignment(body)
        if react:
            sim.on_assignment(WorkAssignment.model_validate(body))
    elif topic_id in ("routing-decisions", "routing-positions"):
        dashboard.on_decision(body)
    elif topic_id == "deadletter":
        dashboard.on_dead_letter(body)
    elif topic_id == "escalations":
        dashboard.on_escalation(body)


async def _send(
    producer: AIOKafkaProducer,
    topic_names: dict[str, str],
    events: list[Emitted],
    source: str,
    summary: RunSummary,
    keep: bool,
) -> None:
    for e in events:
        value = cloud_event(e.type, e.data, e.id, e.time_iso, source=source)
        await producer.send(topic_names[e.topic], key=e.key.encode(), value=value)
    summary.produced += len(events)
    if keep:
        summary.inputs.extend(events)


async def group_lag(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str, prefix: str
) -> int:
    """Records not yet committed by ``group`` on its topics under ``prefix``."""
    committed = await admin.list_consumer_group_offsets(group)
    tps = [tp for tp in committed if tp.topic.startswith(prefix)]
    if not tps:
        return -1
    ends = await consumer.end_offsets(tps)
    return sum(max(0, ends[tp] - committed[tp].offset) for tp in tps)


async def wait_caught_up(bootstrap: str, group: str, prefix: str, timeout: float = 180.0) -> bool:
    """Until the consumer group ``group`` has committed up to the end of its topics (twice in a
    row, a commit interval apart), or ``timeout``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        zero = 0
        while loop.time() < deadline:
            lag = await group_lag(admin, consumer, group, prefix)
            zero = zero + 1 if lag == 0 else 0
            if zero >= 2:
                return True
            await asyncio.sleep(1.5)
        return False
    finally:
        await consumer.stop()
        await admin.close()
