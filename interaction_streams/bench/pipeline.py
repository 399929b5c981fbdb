"""The pipeline benchmark (``make bench``, ``interaction-streams bench``).

Each simulated contact is three channel events (``cim.voice.offered`` with a known party,
``cim.interaction.queued``, ``cim.interaction.abandoned``): ingest → interaction → customer
context → routing, which answers a ``queued`` and a ``dequeued`` decision on
``cim.routing.decisions.v1``. Contacts spread over routing pools (so a second worker gets
partitions of every stage), against a one-queue policy without agents.

1. Sustained throughput: all the events produced at once (as fast as aiokafka goes) while one
   worker, then two, run; channel events per second from the first send to the last decision.
2. The ceilings in the same run, on the same channel events, broker and partitions: plain
   aiokafka consume → produce (the raw ceiling), and one Faust agent that only consumes and
   sends each record on (the Faust one-hop ceiling: every stage is at least such a hop). The
   records each stage of the one-worker run handled per channel event (its
   ``cim_processing_seconds`` count) tell how many hops an event costs.
3. Latency at fixed offered loads (one worker): contacts paced to ``load`` channel events per
   second for ``step`` seconds; latency from the send of each ``queued`` event to the arrival
   of its ``queued`` decision; p50, p95, p99. A load the worker cannot sustain shows as
   growing latency (and contacts still undecided when the step drained).

Figures are printed, written to ``bench-results/pipeline.json`` and plotted to
``bench-results/pipeline.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.table import Table

from interaction_streams.admin.topics import apply_topics
from interaction_streams.bench.context import (
    Broker,
    FastProducer,
    console,
    create_scratch,
    end_offsets,
    kafka_broker,
    machine,
    parse_metrics,
    raw_ceiling,
)
from interaction_streams.bench.faust_hop import faust_hop_ceiling
from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import WorkerProcess, cloud_event
from interaction_streams.settings import KafkaSettings

POLICY = """\
version: "bench-1"
queues:
  bench:
    channel: voice
rules:
  - name: all
    when: "true"
    target:
      queue: bench
"""
WORKER_ENV = {"CIM_CLOCK": "event", "CIM_LOG_LEVEL": "WARNING", "CIM_SWEEP_INTERVAL_SECONDS": "5"}
EVENTS_PER_CONTACT = 3
SOURCE = "/bench/pipeline"
TARGET_RATE = 5000.0  # channel events per second per worker (the product's target)
TARGET_P99_MS = 50.0  # at 1,000 channel events per second
CREATED: list[str] = []  # the topics this run created (deleted at the end on a shared broker)


@dataclass
class Options:
    contacts: int = 2000
    workers: tuple[int, ...] = (1, 2)
    # Throughput runs with the stages split over workers (CIM_STAGES): each a tuple of sets.
    splits: tuple[tuple[str, ...], ...] = ()
    loads: tuple[int, ...] = (100, 300, 1000)
    step_seconds: float = 10.0
    drain_seconds: float = 20.0
    pools: int = 8
    parties: int = 500
    out: Path = Path("bench-results/pipeline.json")
    plot: Path = Path("bench-results/pipeline.png")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def contact_events(
    run: str, i: int, opts: Options, kinds: tuple[str, ...]
) -> list[tuple[bytes, bytes]]:
    iid = f"{run}-{i:07d}"
    base = {"interactionId": iid, "routingPool": f"pool-{i % opts.pools}"}
    data: dict[str, dict[str, Any]] = {
        "cim.voice.offered": {**base, "partyId": f"party-{i % opts.parties}", "intent": "bench"},
        "cim.interaction.queued": {**base, "queue": "inbound"},
        "cim.interaction.abandoned": base,
    }
    at = now_iso()
    return [(iid.encode(), cloud_event(k, data[k], f"{iid}/{k}", at, source=SOURCE)) for k in kinds]


ALL = ("cim.voice.offered", "cim.interaction.queued", "cim.interaction.abandoned")


class Decisions:
    """Reads ``cim.routing.decisions.v1`` from the start; the wall time each decision arrived."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
        )
        self.topic = topic
        self.queued: dict[str, float] = {}
        self.dequeued: dict[str, float] = {}
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        tps = list(await end_offsets(self.consumer, [self.topic]))
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=50, max_records=5000)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    d = orjson.loads(r.value or b"{}")
                    kind, iid = d.get("kind"), d.get("interactionId")
                    if kind == "queued":
                        self.queued.setdefault(iid, now)
                    elif kind == "dequeued":
                        self.dequeued.setdefault(iid, now)

    @property
    def last(self) -> float:
        return max([*self.queued.values(), *self.dequeued.values()], default=0.0)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        await self.consumer.stop()


async def wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return bool(predicate())


@dataclass
class Run:
    """A fresh topic prefix, its topics and one worker per set of stages (``CIM_STAGES``) of
    one application."""

    broker: Broker
    workdir: Path
    stage_sets: tuple[str, ...]
    policy: Path
    prefix: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:6]}.")
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.stage_sets)

    @property
    def contract(self) -> TopicContract:
        return TopicContract.load(prefix=self.prefix)

    async def start(self) -> None:
        CREATED.extend(t.name for t in self.contract.active())
        settings = KafkaSettings(bootstrap_servers=self.broker.bootstrap)
        await apply_topics(self.contract, settings, include_planned=False)
        env = {**WORKER_ENV, "CIM_ROUTING_POLICY": str(self.policy)}
        app = f"cim-{self.prefix[:-1]}"
        for k, stages in enumerate(self.stage_sets):
            w = WorkerProcess(
                self.broker.bootstrap,
                app,
                self.prefix,
                self.workdir / f"{self.prefix}w{k}",
                extra_env={**env, "CIM_STAGES": stages},
            )
            await asyncio.to_thread(w.start, 120.0)
            self.workers.append(w)
        if self.n > 1:  # let the group settle after the last join
            await asyncio.sleep(8.0)
            for w in self.workers:
                await asyncio.to_thread(w.wait_ready, 120.0)

    def stop(self) -> None:
        for w in self.workers:
            w.stop()


async def throughput(
    broker: Broker, workdir: Path, policy: Path, stage_sets: tuple[str, ...], opts: Options
) -> dict[str, Any]:
    run = Run(broker, workdir, stage_sets, policy)
    n = run.n
    with console.status(f"Throughput, {n} worker(s): starting..."):
        await run.start()
    c = run.contract
    decisions = Decisions(broker.bootstrap, c["routing-decisions"].name)
    await decisions.start()
    tag = uuid.uuid4().hex[:4]
    records = [r for i in range(opts.contacts) for r in contact_events(tag, i, opts, ALL)]
    try:
        with console.status(
            f"Throughput, {n} worker(s): {len(records):,} channel events through the pipeline..."
        ):
            started = time.perf_counter()
            async with FastProducer(broker.bootstrap) as producer:
                await producer.send_all(c["channel-events"].name, records)
            produced = time.perf_counter() - started
            done = await wait_for(
                lambda: len(decisions.dequeued) >= opts.contacts,
                timeout=max(120.0, len(records) / 50),
            )
        seconds = (decisions.last or time.perf_counter()) - started
        decided = len(decisions.dequeued)
        handled = await asyncio.to_thread(records_by_stage, run.workers)
        result: dict[str, Any] = {
            "workers": n,
            "stages": list(stage_sets),
            "channel_events": len(records),
            "contacts_decided": decided,
            "complete": done,
            "seconds": round(seconds, 3),
            "produce_seconds": round(produced, 3),
            "events_per_second": round(decided * EVENTS_PER_CONTACT / seconds, 1),
            "partitions": c["channel-events"].partitions,
            "records_per_event_by_stage": {
                stage: round(n / len(records), 2) for stage, n in sorted(handled.items())
            },
        }
    finally:
        await decisions.stop()
        run.stop()
    console.print(
        f"Throughput with {n} worker(s): [bold]{result['events_per_second']:,.0f}[/] channel "
        f"events/s ({decided:,} contacts in {seconds:.1f} s)"
    )
    result["source_topic"] = c["channel-events"].name
    return result


def records_by_stage(workers: list[WorkerProcess]) -> dict[str, float]:
    """Records handled per stage, summed over the workers (``cim_processing_seconds_count``)."""
    handled: dict[str, float] = {}
    for w in workers:
        with urllib.request.urlopen(f"{w.url}/metrics", timeout=10) as response:
            values = parse_metrics(response.read().decode())
        for key, value in values.items():
            if key.startswith("cim_processing_seconds_count{"):
                stage = key.split('stage="', 1)[1].split('"', 1)[0]
                handled[stage] = handled.get(stage, 0.0) + value
    return handled


HOP_RECORDS = 30_000  # the Faust hop runs for seconds, not a fraction of one


async def hop_ceiling(broker: Broker, partitions: int) -> dict[str, Any]:
    """The Faust one-hop ceiling on ``HOP_RECORDS`` channel events of the benchmark's kind, in
    scratch topics with the pipeline's partition count."""
    source = f"bench-faust-hop-in-{uuid.uuid4().hex[:6]}"
    sink = f"bench-faust-hop-out-{uuid.uuid4().hex[:6]}"
    CREATED.extend((source, sink))
    await create_scratch(broker.bootstrap, [source, sink], partitions)
    opts = Options()
    tag = uuid.uuid4().hex[:4]
    records = [
        r
        for i in range(HOP_RECORDS // EVENTS_PER_CONTACT)
        for r in contact_events(tag, i, opts, ALL)
    ]
    async with FastProducer(broker.bootstrap) as producer:
        await producer.send_all(source, records)
    c = await faust_hop_ceiling(broker.bootstrap, source, sink, len(records))
    console.print(f"Faust one-hop ceiling (consume → send): [bold]{c.rate:,.0f}[/] records/s")
    return {
        "records": c.records,
        "seconds": round(c.seconds, 3),
        "records_per_second": round(c.rate, 1),
    }


async def ceiling(broker: Broker, source: str, partitions: int, expected: int) -> dict[str, Any]:
    scratch = f"bench-ceiling-{uuid.uuid4().hex[:6]}"
    CREATED.append(scratch)
    await create_scratch(broker.bootstrap, [scratch], partitions)
    c = await raw_ceiling(broker.bootstrap, source, scratch, expected)
    console.print(f"Raw ceiling (aiokafka consume → produce): [bold]{c.rate:,.0f}[/] records/s")
    return {
        "records": c.records,
        "seconds": round(c.seconds, 3),
        "records_per_second": round(c.rate, 1),
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


async def latency(
    broker: Broker, workdir: Path, policy: Path, opts: Options
) -> list[dict[str, Any]]:
    run = Run(broker, workdir, ("all",), policy)
    with console.status("Latency: starting one worker..."):
        await run.start()
    c = run.contract
    topic = c["channel-events"].name
    decisions = Decisions(broker.bootstrap, c["routing-decisions"].name)
    await decisions.start()
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=0)
    await producer.start()
    steps = []
    try:
        for load in opts.loads:
            tag = f"l{load}-{uuid.uuid4().hex[:4]}"
            sent: dict[str, float] = {}
            ends: deque[tuple[float, int]] = deque()
            contacts_per_s = load / EVENTS_PER_CONTACT
            with console.status(
                f"Latency at {load:,} channel events/s for {opts.step_seconds:g} s..."
            ):
                started = time.perf_counter()
                i = 0
                while (now := time.perf_counter()) - started < opts.step_seconds:
                    due = int((now - started) * contacts_per_s)
                    while i < due:
                        iid = f"{tag}-{i:07d}"
                        for key, value in contact_events(tag, i, opts, ALL[:2]):
                            await producer.send(topic, key=key, value=value)
                        sent[iid] = time.perf_counter()
                        ends.append((sent[iid] + 1.0, i))
                        i += 1
                    while ends and ends[0][0] <= now:
                        _, j = ends.popleft()
                        for key, value in contact_events(tag, j, opts, ALL[2:]):
                            await producer.send(topic, key=key, value=value)
                    await asyncio.sleep(0.005)
                elapsed = time.perf_counter() - started
                for _, j in ends:
                    for key, value in contact_events(tag, j, opts, ALL[2:]):
                        await producer.send(topic, key=key, value=value)
                await producer.flush()
                await wait_for(
                    lambda sent=sent: all(k in decisions.queued for k in sent), opts.drain_seconds
                )
            lat = sorted(
                (decisions.queued[k] - t) * 1000 for k, t in sent.items() if k in decisions.queued
            )
            step = {
                "offered_events_per_second": load,
                "sent_events_per_second": round(i * EVENTS_PER_CONTACT / elapsed, 1),
                "contacts": len(sent),
                "decided": len(lat),
                "p50_ms": round(percentile(lat, 50), 1),
                "p95_ms": round(percentile(lat, 95), 1),
                "p99_ms": round(percentile(lat, 99), 1),
                "max_ms": round(lat[-1], 1) if lat else None,
            }
            steps.append(step)
            console.print(
                f"  {load:>6,}/s: p50 {step['p50_ms']} ms, p95 {step['p95_ms']} ms, "
                f"p99 {step['p99_ms']} ms ({len(lat)}/{len(sent)} decided)"
            )
            await wait_for(lambda: len(decisions.dequeued) >= len(decisions.queued), 30)
    finally:
        await producer.stop()
        await decisions.stop()
        run.stop()
    return steps


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = results["latency"]
    loads = [s["offered_events_per_second"] for s in steps]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for q, style in (("p50", "o-"), ("p95", "s--"), ("p99", "^-")):
        ax.plot(loads, [s[f"{q}_ms"] for s in steps], style, label=q)
    ax.axhline(TARGET_P99_MS, color="grey", linestyle=":", label="p99 target (50 ms)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered load (channel events per second)")
    ax.set_ylabel("produce → routing decision latency (ms)")
    rates = ", ".join(
        f"{t['workers']} worker{'s' if t['workers'] > 1 else ''}: {t['events_per_second']:,.0f}/s"
        for t in results["throughput"]
    )
    ax.set_title(f"interaction-streams pipeline, one worker\nsustained {rates}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_table(results: dict[str, Any]) -> None:
    t = Table(title="Pipeline benchmark: channel events → routing decisions")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("note")
    ceil = results["ceiling"]["records_per_second"]
    for r in results["throughput"]:
        layout = " / ".join(r["stages"]) if r.get("stages", ["all"])[0] != "all" else ""
        t.add_row(
            f"sustained, {r['workers']} worker(s)" + (f", stages {layout}" if layout else ""),
            f"{r['events_per_second']:,.0f} events/s",
            f"{100 * r['events_per_second'] / ceil:.1f} % of the raw ceiling; target "
            f"{TARGET_RATE * r['workers']:,.0f}",
        )
    t.add_row(
        "raw ceiling (aiokafka consume→produce)",
        f"{ceil:,.0f} records/s",
        "same broker, partitions",
    )
    hop = results["faust_hop_ceiling"]["records_per_second"]
    t.add_row(
        "Faust one-hop ceiling (agent: consume→send)",
        f"{hop:,.0f} records/s",
        f"{100 * hop / ceil:.1f} % of the raw ceiling",
    )
    by_stage = results["throughput"][0]["records_per_event_by_stage"]
    t.add_row(
        "records handled per channel event (1 worker)",
        f"{sum(by_stage.values()):.2f}",
        ", ".join(f"{k} {v}" for k, v in by_stage.items()),
    )
    for s in results["latency"]:
        t.add_row(
            f"latency at {s['offered_events_per_second']:,}/s",
            f"p50 {s['p50_ms']} / p95 {s['p95_ms']} / p99 {s['p99_ms']} ms",
            f"{s['decided']}/{s['contacts']} decided",
        )
    console.print(t)


async def run_all(opts: Options, broker: Broker, workdir: Path) -> dict[str, Any]:
    policy = workdir / "bench-routing.yaml"
    policy.write_text(POLICY)
    results: dict[str, Any] = {
        "benchmark": "pipeline",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "broker": {"bootstrap": broker.bootstrap, "version": broker.version},
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()},
        "targets": {"events_per_second_per_worker": TARGET_RATE, "p99_ms_at_1000": TARGET_P99_MS},
        "throughput": [],
    }
    for n in opts.workers:
        results["throughput"].append(await throughput(broker, workdir, policy, ("all",) * n, opts))
    for split in opts.splits:
        results["throughput"].append(await throughput(broker, workdir, policy, split, opts))
    first = results["throughput"][0]
    with console.status("Raw ceiling: plain aiokafka consume → produce on the same broker..."):
        results["ceiling"] = await ceiling(
            broker, first["source_topic"], first["partitions"], first["channel_events"]
        )
    with console.status("Faust one-hop ceiling: one agent consume → send on the same broker..."):
        results["faust_hop_ceiling"] = await hop_ceiling(broker, first["partitions"])
    first.pop("source_topic")
    for r in results["throughput"][1:]:
        r.pop("source_topic", None)
    results["latency"] = await latency(broker, workdir, policy, opts)
    return results


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--contacts", type=int, default=2000, help="contacts (3 events each) per run")
    p.add_argument("--workers", default="1,2", help="worker counts of the throughput runs")
    p.add_argument(
        "--split",
        action="append",
        default=[],
        metavar="STAGES/STAGES[/...]",
        help="a throughput run with one worker per set of stages (CIM_STAGES), sets separated "
        "by '/', e.g. ingest,interactions,customers,routing/areas,channels,escalation,outbound,hub",
    )
    p.add_argument("--loads", default="100,300,1000", help="offered loads, channel events/s")
    p.add_argument("--step-seconds", type=float, default=10.0, help="length of a load step")
    p.add_argument("--drain-seconds", type=float, default=20.0)
    p.add_argument("--out", type=Path, default=Path("bench-results/pipeline.json"))
    p.add_argument("--plot", type=Path, default=Path("bench-results/pipeline.png"))


def options(a: argparse.Namespace) -> Options:
    return Options(
        contacts=a.contacts,
        workers=tuple(int(x) for x in a.workers.split(",")),
        splits=tuple(tuple(split.split("/")) for split in a.split),
        loads=tuple(int(x) for x in a.loads.split(",")),
        step_seconds=a.step_seconds,
        drain_seconds=a.drain_seconds,
        out=a.out,
        plot=a.plot,
    )


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m interaction_streams.bench.pipeline")
    add_arguments(p)
    return options(p.parse_args(argv))


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        mine = [n for n in names if n in existing]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    return run_bench(parse_args(argv))


def run_bench(opts: Options) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="interaction-streams-bench-"))
    with kafka_broker() as broker:
        try:
            results = asyncio.run(run_all(opts, broker, workdir))
        finally:
            if not broker.local:  # only the topics of this run, on a broker others may use
                asyncio.run(delete_topics(broker.bootstrap, CREATED))
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(results, indent=2) + "\n")
    plot(results, opts.plot)
    print_table(results)
    console.print(f"Written: {opts.out} and {opts.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
