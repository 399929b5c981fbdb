"""The routing-stage benchmark: decision latency through the routing stage on a real broker,
for one routing pool with N agents (default 1,000) and M waiting interactions (default 5,000).

    python -m interaction_streams.bench.routing_stage [--agents N] [--waiting M]
        [--cycles C] [--position-interval S] [--out FILE]

1. ``KAFKA_BOOTSTRAP_SERVERS`` (else a local Apache Kafka), the topics under a fresh prefix
   and ONE worker (RocksDB store, ``CIM_CLOCK=event``, a one-queue policy with skills)
   running the routing stage alone (``--stages routing``, as a deployment that gives the
   stage processes of its own) or every stage (``--stages all``).
2. Fill: N agent logins, N + M enqueues; the N offers made are accepted, so every agent is
   busy and M interactions wait.
3. Measure C cycles, one record in flight at a time (the driver waits for the output before
   sending the next input): an agent completes its work (``cim.agent.work.completed``): the
   stage offers it the interaction first in order of service (a ``work-assignment`` offer);
   the agent accepts (an ``assign``); a new interaction is enqueued (its ``queued``
   decision), so M stay waiting. Latency of each = from just before the input is produced to
   the driver's receipt of the output record: the producer, the broker, the worker's fetch,
   the stage's step, its send and the driver's fetch. Inputs go straight to the stage's own
   topics (``cim.routing.requests.v1`` and ``cim.ingested.agent-events.v1``): one Faust hop.
4. Raw ceiling of the same run, on the same broker with the worker stopped: the same
   sequential round trip through a plain aiokafka relay (consume a record, produce it to a
   second topic) in place of the stage; and through one Faust agent that only consumes and
   sends each record on (``bench.faust_hop``): the floor of any Faust stage here.

``BENCH_WORKER_LOG``: a path where the worker's log is kept (else it goes with the run's
temporary directory).

Figures: p50, p99 and max per kind and overall, twice: the driver's round trip, and the time
through the stage on the broker's clock (the bench's input and output topics are stamped
with ``LogAppendTime``: the output's append time minus the input's, whole milliseconds),
which leaves out the driver's own produce and fetch; the stage's own processing time per record
(``cim_processing_seconds{stage="routing"}`` of the worker, mean over the cycles), and the
ratio to the ceiling. Times are wall clock on a shared machine: read them as an upper bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import ConsumerRecord, TopicPartition

from interaction_streams.admin.topics import apply_topics
from interaction_streams.bench.faust_hop import hop_process
from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import WorkerProcess, cloud_event
from interaction_streams.settings import KafkaSettings

POOL = "bench"
BROKER_MS = "__broker_ms"  # the broker's append time of an output, added by Outputs.wait_for
APPEND = "LogAppendTime"  # the bench's input and output topics: the broker stamps records
T0 = 1_795_683_600_000  # event time of the first record; each record adds STEP_MS
STEP_MS = 10  # event time between two records (100 events per second of event time)
SKILLS = ("billing", "tech", "sales", "retention")
POLICY = """\
version: bench
queues:
  billing: {channel: voice}
  tech: {channel: voice, strategy: best-skill-match}
  sales: {channel: voice, strategy: fewest-contacts-today}
  retention: {channel: voice, strategy: least-occupied}
rules:
  - name: billing
    when: 'intent == "billing"'
    target: {queue: billing, skills: [{skill: billing}]}
  - {name: tech, when: 'intent == "tech"', target: {queue: tech, skills: [{skill: tech}]}}
  - {name: sales, when: 'intent == "sales"', target: {queue: sales, skills: [{skill: sales}]}}
  - name: retention
    when: "true"
    target: {queue: retention, skills: [{skill: retention}]}
"""


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


class Clock:
    def __init__(self) -> None:
        self.ms = T0

    def next(self) -> int:
        self.ms += STEP_MS
        return self.ms


def agent_event(kind: str, agent_id: str, at_ms: int, **data: Any) -> bytes:
    body = {"agentId": agent_id, "routingPool": POOL, **data}
    return cloud_event(f"cim.agent.{kind}", body, f"{agent_id}-{kind}-{at_ms}", iso(at_ms))


def enqueue(iid: str, n: int, at_ms: int) -> bytes:
    body = {
        "command": "enqueue",
        "interactionId": iid,
        "routingPool": POOL,
        "time": iso(at_ms),
        "channel": "voice",
        "intent": SKILLS[n % len(SKILLS)],
    }
    return orjson.dumps(body)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {
        "count": len(ms),
        "p50_ms": round(percentile(ms, 0.50), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
        "max_ms": round(max(ms), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


class Outputs:
    """A consumer of the stage's output topics from their end, with a wait for the next
    record that satisfies a predicate."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=5,
        )
        self.backlog: list[ConsumerRecord[bytes, bytes]] = []

    async def start(self) -> None:
        await self.consumer.start()
        await self.consumer._client.force_metadata_update()
        tps = [
            TopicPartition(t, p)
            for t in self.topics
            for p in sorted(self.consumer.partitions_for_topic(t) or ())
        ]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the positions now, not at the first fetch
            await self.consumer.position(tp)

    async def stop(self) -> None:
        await self.consumer.stop()

    async def wait_for(self, wanted: Any, timeout: float = 60.0) -> dict[str, Any]:
        """The next output that satisfies ``wanted``; its broker append time (``LogAppendTime``
        topics) under the key ``BROKER_MS``."""
        deadline = time.monotonic() + timeout
        while True:
            for i, record in enumerate(self.backlog):
                value = orjson.loads(record.value or b"{}")
                if wanted(value):
                    del self.backlog[: i + 1]
                    return {**value, BROKER_MS: record.timestamp}
            self.backlog.clear()
            if time.monotonic() > deadline:
                raise TimeoutError("no output came")
            batch = await self.consumer.getmany(timeout_ms=50)
            for records in batch.values():
                self.backlog.extend(records)

    async def drain(self, count: int, wanted: Any, timeout: float) -> int:
        """Read until ``count`` records satisfy ``wanted``; the number seen."""
        seen = 0
        deadline = time.monotonic() + timeout
        while seen < count and time.monotonic() < deadline:
            batch = await self.consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batch.values():
                seen += sum(1 for r in records if wanted(orjson.loads(r.value or b"{}")))
        return seen


async def fill(
    producer: AIOKafkaProducer,
    contract: TopicContract,
    out: Outputs,
    agents: int,
    waiting: int,
    clock: Clock,
) -> dict[str, str]:
    """Log the agents in, enqueue agents + waiting interactions, accept every offer: every
    agent busy, ``waiting`` interactions left waiting. The offers by agent."""
    agent_topic = contract["ingested-agent"].name
    requests = contract["routing-requests"].name
    key = orjson.dumps(POOL)
    for n in range(agents):
        skills = {s: 1 + (n + i) % 5 for i, s in enumerate(SKILLS) if (n + i) % 3 != 0}
        skills[SKILLS[n % len(SKILLS)]] = 3  # every agent has at least one skill
        event = agent_event(
            "logged-in", f"agent-{n:04d}", clock.next(), skills=skills, wrapUpSeconds=0
        )
        await producer.send(agent_topic, key=key, value=event)
    for n in range(agents + waiting):
        await producer.send(requests, key=key, value=enqueue(f"fill-{n:05d}", n, clock.next()))
    await producer.flush()
    held: dict[str, str] = {}  # agent -> offer
    offer_of: dict[str, str] = {}
    deadline = time.monotonic() + 300
    while len(held) < agents and time.monotonic() < deadline:
        batch = await out.consumer.getmany(timeout_ms=200, max_records=5000)
        for records in batch.values():
            for r in records:
                v = orjson.loads(r.value or b"{}")
                if v.get("kind") == "offer":
                    held[v["agentId"]] = v["interactionId"]
                    offer_of[v["agentId"]] = v["offerId"]
    if len(held) < agents:
        raise RuntimeError(f"only {len(held)} of {agents} agents got an offer during the fill")
    for aid, offer in offer_of.items():
        event = agent_event(
            "offer.accepted", aid, clock.next(), offerId=offer, interactionId=held[aid]
        )
        await producer.send(agent_topic, key=key, value=event)
    await producer.flush()
    got = await out.drain(agents, lambda v: v.get("kind") == "assign", 300)
    if got < agents:
        raise RuntimeError(f"only {got} of {agents} offers were accepted during the fill")
    return held


Samples = dict[str, list[float]]


async def measure(
    producer: AIOKafkaProducer,
    contract: TopicContract,
    out: Outputs,
    held: dict[str, str],
    cycles: int,
    clock: Clock,
) -> tuple[Samples, Samples]:
    """Round trips seen by the driver, and the time through the stage on the broker's clock
    (append of the input to append of the output), per kind of output."""
    agent_topic = contract["ingested-agent"].name
    requests = contract["routing-requests"].name
    key = orjson.dumps(POOL)
    trips: Samples = {"offer": [], "assign": [], "queued": []}
    through: Samples = {k: [] for k in trips}

    async def step(kind: str, topic: str, value: bytes, wanted: Any) -> dict[str, Any]:
        started = time.perf_counter()
        sent = await producer.send_and_wait(topic, key=key, value=value)
        output = await out.wait_for(wanted)
        trips[kind].append(time.perf_counter() - started)
        through[kind].append((output[BROKER_MS] - sent.timestamp) / 1000)
        return output

    agents = sorted(held)
    for n in range(cycles):
        aid = agents[n % len(agents)]
        done = agent_event("work.completed", aid, clock.next(), interactionId=held[aid])
        offer = await step("offer", agent_topic, done, lambda v: v.get("kind") == "offer")
        taker, iid = offer["agentId"], offer["interactionId"]
        accept = agent_event(
            "offer.accepted", taker, clock.next(), offerId=offer["offerId"], interactionId=iid
        )
        await step(
            "assign",
            agent_topic,
            accept,
            lambda v, iid=iid: v.get("kind") == "assign" and v.get("interactionId") == iid,
        )
        held[taker] = iid
        new = f"new-{n:06d}"
        await step(
            "queued",
            requests,
            enqueue(new, n, clock.next()),
            lambda v, new=new: v.get("kind") == "queued" and v.get("interactionId") == new,
        )
    return trips, through


async def round_trips(
    bootstrap: str, into: str, out_of: str, cycles: int, ready_timeout: float = 0.0
) -> tuple[list[float], list[float]]:
    """Sequential round trips through a relay from ``into`` to ``out_of``: produce a record,
    wait for it to come out, again (after one record came through within ``ready_timeout``,
    when the relay has to join its group first)."""
    driver = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    out = Outputs(bootstrap, [out_of])
    await driver.start()
    await out.start()
    key = orjson.dumps(POOL)
    samples: list[float] = []
    through: list[float] = []  # on the broker's clock
    try:
        deadline = time.monotonic() + ready_timeout
        while ready_timeout:
            await driver.send_and_wait(into, key=key, value=orjson.dumps({"n": -1}))
            try:
                await out.wait_for(lambda v: v.get("n") == -1, timeout=2.0)
                break
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
        for n in range(cycles):
            value = orjson.dumps({"n": n, "pad": "x" * 300})
            started = time.perf_counter()
            sent = await driver.send_and_wait(into, key=key, value=value)
            output = await out.wait_for(lambda v, n=n: v.get("n") == n)
            samples.append(time.perf_counter() - started)
            through.append((output[BROKER_MS] - sent.timestamp) / 1000)
    finally:
        await out.stop()
        await driver.stop()
    return samples, through


STAGE_TOPICS = ("ingested-agent", "routing-requests", "work-assignments", "routing-decisions")


async def stamp_by_broker(bootstrap: str, contract: TopicContract, topic_ids: Any) -> None:
    """Records of these topics get the broker's append time (their other settings kept)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resources = []
        for topic_id in topic_ids:
            topic = contract[topic_id]
            configs = {**topic.kafka_config(), "message.timestamp.type": APPEND}
            resources.append(ConfigResource(ConfigResourceType.TOPIC, topic.name, configs))
        await admin.alter_configs(resources)
    finally:
        await admin.close()


async def relay_topics(bootstrap: str, prefix: str, name: str) -> tuple[str, str]:
    a, b = f"{prefix}bench.{name}-in", f"{prefix}bench.{name}-out"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t, 4, 1, topic_configs={"message.timestamp.type": APPEND}) for t in (a, b)]
        )
    finally:
        await admin.close()
    return a, b


async def ceiling(bootstrap: str, prefix: str, cycles: int) -> tuple[list[float], list[float]]:
    """The same sequential round trip through a plain aiokafka relay on the same broker."""
    a, b = await relay_topics(bootstrap, prefix, "relay")
    relay_in = AIOKafkaConsumer(
        a,
        bootstrap_servers=bootstrap,
        group_id=None,
        fetch_max_wait_ms=5,
        auto_offset_reset="latest",
    )
    relay_out = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await asyncio.gather(relay_in.start(), relay_out.start())
    for tp in relay_in.assignment():
        await relay_in.position(tp)

    async def relay() -> None:
        async for record in relay_in:
            await relay_out.send_and_wait(b, key=record.key, value=record.value)

    task = asyncio.create_task(relay())
    try:
        await asyncio.sleep(1.0)
        return await round_trips(bootstrap, a, b, cycles)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.gather(relay_in.stop(), relay_out.stop())


async def faust_ceiling(
    bootstrap: str, prefix: str, cycles: int
) -> tuple[list[float], list[float]]:
    """The same sequential round trip through one Faust agent that only consumes a record and
    sends it on (``bench.faust_hop``): the floor of any Faust stage on this machine."""
    a, b = await relay_topics(bootstrap, prefix, "faust-hop")
    with hop_process(bootstrap, a, b):
        return await round_trips(bootstrap, a, b, cycles, ready_timeout=90.0)


def processing(worker: WorkerProcess) -> tuple[float, float]:
    """(sum, count) of the worker's routing processing-time histogram."""
    status, body = worker.get("/metrics")
    total = count = 0.0
    for line in body.decode().splitlines() if status == 200 else ():
        if line.startswith('cim_processing_seconds_sum{stage="routing"}'):
            total = float(line.split()[-1])
        elif line.startswith('cim_processing_seconds_count{stage="routing"}'):
            count = float(line.split()[-1])
    return total, count


@contextlib.contextmanager
def broker() -> Iterator[str]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        yield bootstrap
        return
    from interaction_streams.localkafka import LocalKafka

    local = LocalKafka()
    try:
        yield local.start()
    finally:
        local.stop()


async def run(opts: argparse.Namespace, bootstrap: str, workdir: Path) -> dict[str, Any]:
    prefix = f"b{uuid.uuid4().hex[:8]}."
    contract = TopicContract.load(prefix=prefix)
    report = await apply_topics(contract, KafkaSettings(bootstrap_servers=bootstrap), False, False)
    if not report.ok:
        raise RuntimeError(f"topics: {report.drift}")
    await stamp_by_broker(bootstrap, contract, STAGE_TOPICS)
    policy = workdir / "routing.yaml"
    policy.write_text(POLICY)
    worker = WorkerProcess(
        bootstrap,
        "cim-bench-routing",
        prefix,
        workdir / "worker-data",
        extra_env={
            "CIM_CLOCK": "event",
            "CIM_LOG_LEVEL": "WARNING",
            "CIM_ROUTING_POLICY": str(policy),
            "CIM_ROUTING_OFFER_TIMEOUT_SECONDS": "3600",
            "CIM_ROUTING_POSITION_INTERVAL_SECONDS": str(opts.position_interval),
            "CIM_SWEEP_INTERVAL_SECONDS": "1",
            "CIM_STAGES": opts.stages,
        },
        log_path=Path(os.environ.get("BENCH_WORKER_LOG", workdir / "worker.log")),
    )
    result: dict[str, Any] = {}
    worker.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    out = Outputs(
        bootstrap, [contract["work-assignments"].name, contract["routing-decisions"].name]
    )
    await producer.start()
    await out.start()
    try:
        clock = Clock()
        began = time.perf_counter()
        held = await fill(producer, contract, out, opts.agents, opts.waiting, clock)
        result["fill_seconds"] = round(time.perf_counter() - began, 1)
        await asyncio.sleep(2.0)
        out.backlog.clear()
        await out.drain(10**9, lambda v: False, 2.0)  # skip what the fill left behind
        before = processing(worker)
        trips, through = await measure(producer, contract, out, held, opts.cycles, clock)
        after = processing(worker)
        records = after[1] - before[1]
        result["stage_processing_ms_per_record"] = (
            round((after[0] - before[0]) / records * 1000, 3) if records else None
        )
        for name, samples in (("latency", trips), ("through_stage", through)):
            result[name] = {k: figures(v) for k, v in samples.items()}
            result[name]["all"] = figures([s for v in samples.values() for s in v])
    finally:
        await out.stop()
        await producer.stop()
        worker.stop()
    raw, raw_through = await ceiling(bootstrap, prefix, opts.cycles)
    result["ceiling"], result["ceiling_through"] = figures(raw), figures(raw_through)
    hop, hop_through = await faust_ceiling(bootstrap, prefix, opts.cycles)
    result["faust_hop"], result["faust_hop_through"] = figures(hop), figures(hop_through)
    result["ratio_p50"] = round(result["ceiling"]["p50_ms"] / result["latency"]["all"]["p50_ms"], 3)
    result["ratio_p99"] = round(result["ceiling"]["p99_ms"] / result["latency"]["all"]["p99_ms"], 3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interaction_streams.bench.routing_stage")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--waiting", type=int, default=5000)
    parser.add_argument("--cycles", type=int, default=500, help="offer, accept, enqueue each")
    parser.add_argument(
        "--position-interval", type=float, default=5.0, help="CIM_ROUTING_POSITION_INTERVAL_SECONDS"
    )
    parser.add_argument(
        "--stages",
        default="routing",
        help="CIM_STAGES of the worker: routing (the stage in a process of its own) or all",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results/routing-stage.json"))
    opts = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-routing-") as tmp, broker() as bootstrap:
        result = asyncio.run(run(opts, bootstrap, Path(tmp)))
    result.update(
        {
            "benchmark": "routing-stage",
            "command": "python -m interaction_streams.bench.routing_stage "
            + " ".join(argv if argv is not None else sys.argv[1:]),
            "agents": opts.agents,
            "waiting": opts.waiting,
            "cycles": opts.cycles,
            "position_interval_seconds": opts.position_interval,
            "worker_stages": opts.stages,
            "event_time_step_ms": STEP_MS,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
            "load_average": os.getloadavg(),
            "seconds": round(time.perf_counter() - started, 1),
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"routing stage, one pool: {opts.agents} agents, {opts.waiting} waiting")
    print(f"worker stages (CIM_STAGES): {opts.stages}; fill: {result['fill_seconds']} s")
    for title, suffix in (
        ("round trip seen by the driver", ""),
        ("through the stage, broker append to broker append", "_through"),
    ):
        stage = result["latency" if not suffix else "through_stage"]
        print(f"-- {title}")
        print(f"{'kind':<9} {'count':>6} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
        rows = [
            *stage.items(),
            ("ceiling", result["ceiling" + suffix]),
            ("faust-hop", result["faust_hop" + suffix]),
        ]
        for kind, f in rows:
            print(f"{kind:<9} {f['count']:>6} {f['p50_ms']:>9} {f['p99_ms']:>9} {f['max_ms']:>9}")
    per_record = result["stage_processing_ms_per_record"]
    print(f"stage processing per record (worker's histogram): {per_record} ms")
    print(f"ratio ceiling/stage (round trip): p50 {result['ratio_p50']}, p99 {result['ratio_p99']}")
    print(f"written to {opts.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
