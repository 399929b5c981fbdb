"""The customer-context benchmark: context updates per second, and the memory and disk each
customer costs, with N customers in the ``customers`` table (RocksDB store).

    python -m interaction_streams.bench.context [--customers N] [--updates M] [--out FILE]

1. A local Apache Kafka (or ``KAFKA_BOOTSTRAP_SERVERS``), the topics under a fresh prefix and
   ONE worker (``rocksdb://``, ``CIM_CLOCK=event``, RocksDB options as the worker's defaults).
2. Load: N ``cim.customer.profile.updated`` events (a phone, an email, a tier, one of 100
   service areas, three consents) sent with aiokafka batches, paced only so that the backlog
   stays bounded; timed until the customer stage (``cim_processing_seconds_count{stage=
   "customers"}`` on ``/metrics``) has processed them all: profiles/s end to end, ingest and
   customer stage both in the worker.
3. Once every stage of the worker is idle: its RSS (process tree) minus the RSS right after it
   became ready, and the size of its data dir and of the ``customers`` table's RocksDB
   folders, per customer.
4. Updates: M business events (payment overdue, order delayed, over-consumption) for random
   loaded customers: context updates/s.
5. With the worker stopped, the raw ceiling on the same broker: a plain aiokafka consumer
   (no group) reads each input topic from the start and produces every record to a scratch
   topic with the same partitions; the stage rates are reported as a ratio to it.

The driver generates events lazily and keeps no per-customer state. Everything it starts
(Kafka, the worker, temporary folders) is stopped or removed at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from interaction_streams.admin.topics import apply_topics
from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import WorkerProcess, cloud_event
from interaction_streams.settings import KafkaSettings, Settings

console = Console(width=None if sys.stdout.isatty() else 120)

APP_ID = "cim-bench"
WORKER_ENV = {"CIM_STORE": "rocksdb://", "CIM_CLOCK": "event", "CIM_LOG_LEVEL": "WARNING"}
AREAS = 100
TIERS = ("bronze",) * 5 + ("silver",) * 3 + ("gold", "platinum")
LANGUAGES = ("en", "en", "en", "cy", "pl", "ur")
BUSINESS_TYPES = (
    "cim.business.payment.overdue",
    "cim.business.order.delayed",
    "cim.business.usage.over-consumption",
)
PROFILE_SPACING_MS = 1  # event time between two profiles (a bulk load from the CRM)
UPDATE_SPACING_MS = 10  # event time between two business events
UPDATE_GAP_MS = 60_000  # event time between the last profile and the first business event

# The driver's producer: batches built with aiokafka's BatchBuilder, no compression (lz4 is
# not installed; gzip would cost the driver more CPU than it saves on loopback).
LINGER_MS = 20
BATCH_BYTES = 512 * 1024
CHUNK = 10_000  # records sent (and acknowledged) at a time
MAX_AHEAD = 20_000  # at most this many sent but not yet processed by the customer stage
POLL_SECONDS = 0.5
STALL_SECONDS = 1.0  # /metrics unanswered longer than this: the worker's event loop was busy
CEILING_BATCH = 2000

_METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)")


# ------------------------------------------------------------------------- events


def party_id(i: int) -> str:
    return f"party-{i:07d}"


def iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _mix(i: int) -> int:
    return (i * 2654435761) & 0xFFFFFFFF


def profile_data(i: int) -> dict[str, object]:
    h = _mix(i)
    return {
        "partyId": party_id(i),
        "name": f"Customer {i}",
        "phones": [f"+4474{i:08d}"],
        "emails": [f"customer{i}@example.com"],
        "language": LANGUAGES[h % len(LANGUAGES)],
        "timeZone": "Europe/London",
        "tier": TIERS[(h >> 8) % len(TIERS)],
        "segment": "business" if (h >> 12) % 5 == 0 else "consumer",
        "serviceArea": f"area-{(h >> 16) % AREAS:03d}",
        "consents": [
            {"channel": "sms", "purpose": "alert", "granted": True},
            {"channel": "email", "purpose": "marketing", "granted": (h >> 20) % 2 == 0},
            {"channel": "voice", "purpose": "collections", "granted": True},
        ],
    }


def profiles(n: int, t0_ms: int) -> Iterator[tuple[bytes, bytes]]:
    """N profile events (key: the party id, as the CRM would key them), generated lazily."""
    for i in range(n):
        data = profile_data(i)
        yield (
            party_id(i).encode(),
            cloud_event(
                "cim.customer.profile.updated",
                data,
                f"bench-profile-{i}",
                iso(t0_ms + i * PROFILE_SPACING_MS),
                source="/bench/crm",
            ),
        )


def business_data(kind: str, j: int, party: str, at_ms: int) -> dict[str, object]:
    if kind == "cim.business.payment.overdue":
        due = datetime.fromtimestamp(at_ms / 1000, tz=UTC).date() - timedelta(days=12)
        return {
            "partyId": party,
            "billId": f"bill-{j}",
            "amount": "42.50",
            "currency": "GBP",
            "dueDate": due.isoformat(),
            "daysOverdue": 12,
        }
    if kind == "cim.business.order.delayed":
        return {
            "partyId": party,
            "orderId": f"order-{j}",
            "expectedCompletion": iso(at_ms + 3 * 86_400_000),
            "reason": "awaiting equipment",
        }
    return {"partyId": party, "metric": "data", "usedPercent": 112.5, "productId": "mobile-plan"}


def business_events(m: int, customers: int, t0_ms: int, seed: int) -> Iterator[tuple[bytes, bytes]]:
    """M business events for random loaded customers, the three kinds in turn."""
    rng = random.Random(seed)
    for j in range(m):
        party = party_id(rng.randrange(customers))
        kind = BUSINESS_TYPES[j % len(BUSINESS_TYPES)]
        at_ms = t0_ms + j * UPDATE_SPACING_MS
        yield (
            party.encode(),
            cloud_event(
                kind,
                business_data(kind, j, party, at_ms),
                f"bench-update-{j}",
                iso(at_ms),
                source="/bench/bss",
            ),
        )


# ------------------------------------------------------------------------- processes and disk


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def process_tree(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(tree.get(p, []))
    return found


def _status_kb(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss(pid: int) -> int:
    """Resident memory of a process and its descendants, in bytes (VmRSS)."""
    return sum(_status_kb(p, "VmRSS") for p in process_tree(pid)) * 1024


def peak_rss(pid: int) -> int:
    return _status_kb(pid, "VmHWM") * 1024


_TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a process and its live descendants."""
    if pid is None:
        return 0.0
    total = 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


def machine_busy() -> float:
    """CPU seconds every core of the machine has been busy (``/proc/stat``)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


def dir_size(path: Path, allocated: bool = False, suffix: str = "") -> int:
    """Apparent size of every file under ``path`` (``du -sb`` without the directories), or
    the disk space allocated to them (``du -s``); only files ending in ``suffix``."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            if not name.endswith(suffix):
                continue
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(root, name))
                total += st.st_blocks * 512 if allocated else st.st_size
    return total


def rocksdb_tables(data_dir: Path) -> dict[str, dict[str, int]]:
    """Per table (RocksDB folders ``<table>-<partition>.db``): bytes in SST files, in
    write-ahead logs, in the rest, and the partition folders found."""
    tables: dict[str, dict[str, int]] = {}
    for db in sorted(data_dir.rglob("*.db")):
        if not db.is_dir():
            continue
        name = re.sub(r"-\d+$", "", db.name.removesuffix(".db"))
        entry = tables.setdefault(name, {"sst": 0, "wal": 0, "other": 0, "partitions": 0})
        entry["partitions"] += 1
        for file in db.rglob("*"):
            if not file.is_file():
                continue
            size = file.lstat().st_size
            kind = "sst" if file.suffix == ".sst" else "wal" if file.suffix == ".log" else "other"
            entry[kind] += size
    return tables


def kafka_topic_bytes(log_dir: Path, prefix: str) -> dict[str, int]:
    """Bytes of log segments (the records, not the preallocated indexes) per topic of the
    run on the broker's disk (local broker only), largest first."""
    sizes: dict[str, int] = {}
    if not log_dir.is_dir():
        return sizes
    for part in log_dir.iterdir():
        if part.is_dir() and part.name.startswith(prefix):
            topic = re.sub(r"-\d+$", "", part.name).removeprefix(prefix)
            sizes[topic] = sizes.get(topic, 0) + dir_size(part, suffix=".log")
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


# ------------------------------------------------------------------------- progress


class Meter:
    """A rich progress bar on a terminal; a line every ``every`` seconds otherwise."""

    def __init__(self, description: str, total: int, every: float = 15.0) -> None:
        self.description = description
        self.total = total
        self.every = every
        self.started = time.monotonic()
        self.last_line = self.started
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        if console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
                TextColumn("{task.fields[note]}"),
                TimeElapsedColumn(),
                console=console,
            )
            self.progress.start()
            self.task = self.progress.add_task(description, total=total, note="")

    def update(self, done: float, note: str = "") -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=done, note=note)
            return
        now = time.monotonic()
        if now - self.last_line >= self.every:
            self.last_line = now
            pct = 100.0 * done / self.total if self.total else 100.0
            console.print(
                f"  {self.description}: {done:,.0f}/{self.total:,} ({pct:.1f} %) "
                f"{note} [{now - self.started:,.0f} s]"
            )

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


# ------------------------------------------------------------------------- Kafka clients


class FastProducer:
    """aiokafka as fast as it goes: records appended to per-partition BatchBuilders (Kafka's
    murmur2 partitioner on the key, as any producer), each full batch sent with
    ``send_batch`` (it waits while the partition's previous batch is in flight)."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=LINGER_MS,
            max_batch_size=BATCH_BYTES,
            max_request_size=4 * BATCH_BYTES,
        )
        self.partitioner = DefaultPartitioner()
        self.sent = 0
        self.seconds = 0.0

    async def __aenter__(self) -> FastProducer:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send_all(self, topic: str, records: Iterable[tuple[bytes, bytes]]) -> int:
        """Send every record and wait for every acknowledgement; returns the count."""
        started = time.perf_counter()
        partitions = sorted(await self.producer.partitions_for(topic))
        batches: dict[int, Any] = {}
        futures: list[asyncio.Future[Any]] = []
        count = 0
        for key, value in records:
            p = self.partitioner(key, partitions, partitions)
            batch = batches.get(p)
            if batch is None:
                batch = batches[p] = self.producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                futures.append(await self.producer.send_batch(batch, topic, partition=p))
                batch = batches[p] = self.producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is None:
                    raise ValueError(f"a record of {len(value)} bytes does not fit a batch")
            count += 1
        for p, batch in batches.items():
            if batch.record_count():
                futures.append(await self.producer.send_batch(batch, topic, partition=p))
        await asyncio.gather(*futures)
        self.sent += count
        self.seconds += time.perf_counter() - started
        return count


async def end_offsets(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> dict[Any, int]:
    tps = []
    for topic in topics:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()  # the topic may be new to us
            partitions = consumer.partitions_for_topic(topic) or set()
        tps += [TopicPartition(topic, p) for p in sorted(partitions)]
    ends: dict[Any, int] = await consumer.end_offsets(tps)
    return ends


async def group_lag(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str, topics: list[str]
) -> int:
    """Records of ``topics`` not yet committed by the worker's consumer group."""
    committed = await admin.list_consumer_group_offsets(group)
    done = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
    ends = await end_offsets(consumer, topics)
    return sum(max(0, end - done.get(tp, 0)) for tp, end in ends.items())


@dataclass
class Ceiling:
    topic: str
    records: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


async def raw_ceiling(bootstrap: str, source: str, scratch: str, expected: int) -> Ceiling:
    """Plain aiokafka consume → produce: read ``source`` from the start (no group) and send
    each record to the same partition of ``scratch``, until ``expected`` are acknowledged."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    meter = Meter(f"ceiling {source}", expected)
    try:
        ends = await end_offsets(consumer, [source])
        tps = list(ends)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        started: float | None = None  # from the first record: no connection set-up
        futures: list[asyncio.Future[Any]] = []
        count = 0
        while count < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=CEILING_BATCH)
            if batch and started is None:
                started = time.perf_counter()
            for tp, records in batch.items():
                for r in records:
                    futures.append(
                        await producer.send(
                            scratch, key=r.key, value=r.value, partition=tp.partition
                        )
                    )
                count += len(records)
            if len(futures) >= 20_000:
                await asyncio.gather(*futures)
                futures.clear()
                meter.update(count)
        await asyncio.gather(*futures)
        return Ceiling(source, count, time.perf_counter() - (started or time.perf_counter()))
    finally:
        meter.close()
        await producer.stop()
        await consumer.stop()


# ------------------------------------------------------------------------- the worker, watched


def parse_metrics(text: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = _METRIC_LINE.match(line)
        if match:
            with contextlib.suppress(ValueError):
                values[match.group(1)] = float(match.group(2))
    return values


def metric_sum(values: dict[str, float], name: str) -> float:
    """The sum of a series over all its labels."""
    return sum(v for k, v in values.items() if k == name or k.startswith(name + "{"))


CUSTOMERS_COUNT = 'cim_processing_seconds_count{stage="customers"}'
CUSTOMERS_SUM = 'cim_processing_seconds_sum{stage="customers"}'
INGEST_COUNT = 'cim_processing_seconds_count{stage="ingest"}'
INGEST_SUM = 'cim_processing_seconds_sum{stage="ingest"}'


class Watch:
    """Polls the worker's /metrics and the customer-commands topic in the background.

    The customer stage counts every record it processes: the events of the phase and the
    commands it receives (debounced snapshot flushes); commands are counted from the end
    offsets of their topic, so that ``processed`` counts the events only.
    """

    def __init__(self, worker: WorkerProcess, bootstrap: str, commands_topic: str) -> None:
        self.worker = worker
        self.bootstrap = bootstrap
        self.commands_topic = commands_topic
        self.values: dict[str, float] = {}
        self.commands = 0
        self.stalls: list[float] = []  # seconds /metrics went unanswered (beyond a poll)
        self.rss_max = 0
        self._last_answer = time.monotonic()
        self._base_count = 0.0
        self._base_commands = 0
        self._task: asyncio.Task[None] | None = None
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)

    async def start(self) -> None:
        await self._consumer.start()
        await self._poll_once()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _poll_once(self) -> None:
        status, body = await asyncio.to_thread(self.worker.get, "/metrics")
        if status == 200:
            now = time.monotonic()
            gap = now - self._last_answer - POLL_SECONDS
            if gap > STALL_SECONDS:
                self.stalls.append(gap)
            self._last_answer = now
            self.values = parse_metrics(body.decode())
        ends = await end_offsets(self._consumer, [self.commands_topic])
        self.commands = sum(ends.values())
        if self.worker.process is not None:
            self.rss_max = max(self.rss_max, tree_rss(self.worker.process.pid))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self._poll_once()
            except Exception as exc:  # keep watching: a slow answer is a figure, not a failure
                console.print(f"[yellow]watch: {exc!r}[/]")

    def mark(self) -> None:
        """Count ``processed`` from now on."""
        self._base_count = self.values.get(CUSTOMERS_COUNT, 0.0)
        self._base_commands = self.commands

    @property
    def processed(self) -> int:
        count = self.values.get(CUSTOMERS_COUNT, 0.0) - self._base_count
        return int(count) - (self.commands - self._base_commands)

    def get(self, name: str) -> float:
        return self.values.get(name, 0.0)


@dataclass
class Cpu:
    """CPU seconds of the worker, the broker, the driver and the whole machine over a phase
    (``other``: everything else running meanwhile, which would skew the figures)."""

    pids: tuple[int | None, int | None]
    start: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        self.start = self.now()

    def now(self) -> tuple[float, float, float, float]:
        return tree_cpu(self.pids[0]), tree_cpu(self.pids[1]), own_cpu(), machine_busy()

    def spent(self) -> dict[str, float]:
        end = self.now()
        worker, kafka, driver, busy = (e - s for e, s in zip(end, self.start, strict=True))
        return {
            "worker": round(worker, 2),
            "kafka": round(kafka, 2),
            "driver": round(driver, 2),
            "other": round(max(0.0, busy - worker - kafka - driver), 2),
        }


@dataclass
class Phase:
    name: str
    requested: int
    sent: int = 0
    processed: int = 0
    seconds: float = 0.0
    producer_seconds: float = 0.0
    stopped_early: bool = False
    cpu: dict[str, float] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    timeline: list[tuple[float, int]] = field(default_factory=list)
    commands: int = 0
    stage_records: int = 0
    metrics_stalls: int = 0
    longest_stall: float = 0.0

    @property
    def rate(self) -> float:
        return self.processed / self.seconds if self.seconds else 0.0

    @property
    def producer_rate(self) -> float:
        return self.sent / self.producer_seconds if self.producer_seconds else 0.0

    def segment_rates(self, parts: int = 10) -> list[float]:
        """Events/s in each tenth of the phase (by events processed): does it slow down?"""
        if len(self.timeline) < 2 or self.processed == 0:
            return []
        rates = []
        step = self.processed / parts
        marks = [step * k for k in range(parts + 1)]

        def time_at(done: float) -> float:
            for (t0, d0), (t1, d1) in itertools.pairwise(self.timeline):
                if d1 >= done:
                    return t0 + (t1 - t0) * ((done - d0) / (d1 - d0) if d1 > d0 else 1.0)
            return self.timeline[-1][0]

        times = [time_at(m) for m in marks]
        for k in range(parts):
            dt = times[k + 1] - times[k]
            rates.append(round(step / dt, 1) if dt > 0 else 0.0)
        return rates

    def as_json(self) -> dict[str, Any]:
        per_event = {k: round(v / self.processed * 1e6, 1) for k, v in self.cpu.items()}
        return {
            "requested": self.requested,
            "sent": self.sent,
            "processed": self.processed,
            "stopped_early_at_budget": self.stopped_early,
            "seconds": round(self.seconds, 2),
            "events_per_second": round(self.rate, 1),
            "producer": {
                "records_per_second": round(self.producer_rate, 1),
                "seconds_sending": round(self.producer_seconds, 2),
            },
            "rate_by_tenth": self.segment_rates(),
            "cpu_seconds": self.cpu,
            "cpu_microseconds_per_event": per_event if self.processed else {},
            "stage_handler_microseconds_per_event": self.stage_seconds,
            "customer_commands": self.commands,
            "customer_stage_records": self.stage_records,
            "metrics_stalls": {"count": self.metrics_stalls, "longest_seconds": self.longest_stall},
            "timeline": [[round(t, 1), d] for t, d in self.timeline],
        }


async def run_phase(
    phase: Phase,
    watch: Watch,
    producer: FastProducer,
    topic: str,
    events: Iterator[tuple[bytes, bytes]],
    budget: float,
    pids: tuple[int | None, int | None],
) -> Phase:
    """Send the events in chunks (never more than MAX_AHEAD ahead of the customer stage)
    and time from the first send until the stage has processed every event sent. Past
    ``budget`` seconds no more events are sent."""
    watch.mark()
    stalls_before = len(watch.stalls)
    base = {k: watch.get(k) for k in (CUSTOMERS_COUNT, CUSTOMERS_SUM, INGEST_COUNT, INGEST_SUM)}
    cpu = Cpu(pids)
    meter = Meter(phase.name, phase.requested)
    sent_seconds = producer.seconds
    started = time.monotonic()
    last_sample = started
    last_progress = (started, 0)

    def tick() -> None:
        nonlocal last_sample, last_progress
        now = time.monotonic()
        done = watch.processed
        if now - last_sample >= 5.0:
            last_sample = now
            phase.timeline.append((now - started, done))
        if done != last_progress[1]:
            last_progress = (now, done)
        elif now - last_progress[0] > 600:
            raise TimeoutError(f"{phase.name}: no progress for 10 min: {watch.worker.tail()}")
        elapsed = now - started
        rate = done / elapsed if elapsed else 0.0
        meter.update(done, f"sent {phase.sent:,}, {rate:,.0f}/s")

    try:
        phase.timeline.append((0.0, 0))
        while phase.sent < phase.requested:
            if time.monotonic() - started > budget:
                phase.stopped_early = True
                break
            if phase.sent - watch.processed > MAX_AHEAD - CHUNK:
                tick()
                await asyncio.sleep(0.1)
                continue
            count = min(CHUNK, phase.requested - phase.sent)
            phase.sent += await producer.send_all(topic, itertools.islice(events, count))
            tick()
        while watch.processed < phase.sent:
            tick()
            await asyncio.sleep(0.05)
        phase.seconds = time.monotonic() - started
        phase.processed = phase.sent  # every event sent is processed (and maybe a command
        # held back before the phase began, counted in stage_records)
        phase.timeline.append((phase.seconds, phase.processed))
    finally:
        meter.close()
    phase.producer_seconds = producer.seconds - sent_seconds
    phase.cpu = cpu.spent()
    phase.commands = watch.commands - watch._base_commands
    phase.stage_records = int(watch.get(CUSTOMERS_COUNT) - base[CUSTOMERS_COUNT])
    for stage, count_name, sum_name in (
        ("customers", CUSTOMERS_COUNT, CUSTOMERS_SUM),
        ("ingest", INGEST_COUNT, INGEST_SUM),
    ):
        n = watch.get(count_name) - base[count_name]
        if n:
            spent = watch.get(sum_name) - base[sum_name]
            phase.stage_seconds[stage] = round(spent / n * 1e6, 1)
    stalls = watch.stalls[stalls_before:]
    phase.metrics_stalls = len(stalls)
    phase.longest_stall = round(max(stalls, default=0.0), 1)
    return phase


async def wait_idle(
    bootstrap: str, group: str, topics: list[str], timeout: float
) -> tuple[float, int]:
    """Wait until the worker's group has committed every record of ``topics`` (the area
    stage and the commands included); returns (seconds waited, lag left)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    started = time.monotonic()
    lag = await group_lag(admin, consumer, group, topics)
    meter = Meter("stages catching up (lag)", max(lag, 1))
    try:
        first = lag
        while lag > 0 and time.monotonic() - started < timeout:
            meter.update(first - lag, f"lag {lag:,}")
            await asyncio.sleep(1.0)
            lag = await group_lag(admin, consumer, group, topics)
        meter.update(first, "idle")
        return time.monotonic() - started, lag
    finally:
        meter.close()
        await consumer.stop()
        await admin.close()


@dataclass
class Footprint:
    customers: int
    rss_samples: list[int]
    rss_empty: int
    data_dir_bytes: int
    data_dir_allocated: int
    tables: dict[str, dict[str, int]]
    peak_rss: int
    idle_cpu_seconds: float
    window_seconds: float

    @property
    def rss(self) -> int:
        return int(statistics.median(self.rss_samples))

    def table_bytes(self, name: str) -> int:
        t = self.tables.get(name, {})
        return t.get("sst", 0) + t.get("wal", 0) + t.get("other", 0)

    def as_json(self) -> dict[str, Any]:
        n = max(self.customers, 1)
        return {
            "customers": self.customers,
            "rss_bytes": {
                "median": self.rss,
                "min": min(self.rss_samples),
                "max": max(self.rss_samples),
                "samples": len(self.rss_samples),
                "empty_table": self.rss_empty,
                "peak_vmhwm_worker": self.peak_rss,
            },
            "rss_bytes_per_customer": round((self.rss - self.rss_empty) / n, 1),
            "rss_bytes_per_customer_max": round((max(self.rss_samples) - self.rss_empty) / n, 1),
            "data_dir_bytes": self.data_dir_bytes,
            "data_dir_allocated_bytes": self.data_dir_allocated,
            "data_dir_bytes_per_customer": round(self.data_dir_bytes / n, 1),
            "customers_table_bytes": self.table_bytes("customers"),
            "customers_table_bytes_per_customer": round(self.table_bytes("customers") / n, 1),
            "rocksdb_tables": self.tables,
            "idle_worker_cpu": {
                "seconds": round(self.idle_cpu_seconds, 2),
                "window_seconds": round(self.window_seconds, 1),
                "share_of_a_core": round(self.idle_cpu_seconds / self.window_seconds, 3)
                if self.window_seconds
                else None,
            },
        }


async def footprint(
    worker: WorkerProcess, customers: int, rss_empty: int, seconds: float
) -> Footprint:
    """RSS sampled every second for ``seconds`` (a sweep interval: the timers scan the
    tables), then the data dir."""
    assert worker.process is not None
    pid = worker.process.pid
    samples: list[int] = []
    meter = Meter("sampling RSS (idle worker)", int(seconds))
    began = time.monotonic()
    cpu_before = tree_cpu(pid)
    try:
        while not samples or time.monotonic() - began < seconds:
            samples.append(tree_rss(pid))
            meter.update(time.monotonic() - began, f"{samples[-1] / 2**20:,.0f} MiB")
            await asyncio.sleep(1.0)
    finally:
        meter.close()
    idle_cpu = tree_cpu(pid) - cpu_before
    return Footprint(
        customers=customers,
        rss_samples=samples,
        rss_empty=rss_empty,
        data_dir_bytes=dir_size(worker.data_dir),
        data_dir_allocated=dir_size(worker.data_dir, allocated=True),
        tables=rocksdb_tables(worker.data_dir),
        peak_rss=peak_rss(pid),
        idle_cpu_seconds=idle_cpu,
        window_seconds=time.monotonic() - began,
    )


# ------------------------------------------------------------------------- the run


@dataclass
class Options:
    customers: int
    updates: int
    out: Path
    load_budget: float
    update_budget: float
    idle_timeout: float
    rss_seconds: float
    seed: int
    keep: bool


@dataclass
class Broker:
    bootstrap: str
    version: str
    local: bool
    pid: int | None = None
    log_dir: Path | None = None


async def create_scratch(bootstrap: str, names: list[str], partitions: int) -> None:
    """Create the ceiling's scratch topics and wait until every partition has a leader."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
        )
        for _ in range(100):
            described = await admin.describe_topics(names)
            leaders = [p["leader"] for d in described for p in d.get("partitions", [])]
            if len(leaders) == partitions * len(names) and all(x >= 0 for x in leaders):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)  # the leader is named before it accepts produce requests
    finally:
        await admin.close()


async def delete_run_topics(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


def rocksdb_settings() -> dict[str, Any]:
    """The RocksDB options every table of a worker opens with (the worker's defaults)."""
    from faust.stores import rocksdb as faust_rocksdb

    from interaction_streams.stream.tables import table_options

    options = table_options(Settings(store="rocksdb://"))
    return {
        "per_partition_database": True,
        "block_cache_size": options.get("block_cache_size"),
        "write_buffer_size": options.get("write_buffer_size"),
        "max_write_buffer_number": options.get("max_write_buffer_number"),
        "target_file_size_base": faust_rocksdb.DEFAULT_TARGET_FILE_SIZE_BASE,
        "bloom_filter_bits": faust_rocksdb.DEFAULT_BLOOM_FILTER_SIZE,
        "max_open_files": faust_rocksdb.DEFAULT_MAX_OPEN_FILES,
        "source": "interaction_streams.stream.tables.table_options (CIM_ROCKSDB_* defaults)",
    }


def machine() -> dict[str, Any]:
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_total = _meminfo("MemTotal")
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_bytes": mem_total,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _meminfo(name: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("faust-streaming", "aiokafka", "rocksdict", "pydantic")}


def _finite(x: float) -> float | None:
    return x if x != float("inf") else None


async def run(opts: Options, broker: Broker, workdir: Path) -> dict[str, Any]:
    prefix = f"bench-{uuid.uuid4().hex[:6]}."
    contract = TopicContract.load(prefix=prefix)
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap)
    with console.status("Creating the topics..."):
        report = await apply_topics(contract, kafka)
    console.print(f"Topics: {len(report.created)} created under the prefix [bold]{prefix}[/]")
    profile_topic = contract["customer-profile"].name
    business_topic = contract["business-events"].name
    group = prefix + APP_ID
    stage_topics = [
        profile_topic,
        business_topic,
        contract["ingested-profile"].name,
        contract["ingested-business"].name,
        contract["customer-commands"].name,
        contract["area-commands"].name,
    ]
    worker = WorkerProcess(
        broker.bootstrap,
        APP_ID,
        prefix,
        workdir / "worker-data",
        extra_env=WORKER_ENV,
        log_path=workdir / "worker.log",
    )
    results: dict[str, Any] = {
        "benchmark": "customer-context",
        "command": "python -m interaction_streams.bench.context " + " ".join(sys.argv[1:]),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "customers_requested": opts.customers,
        "updates_requested": opts.updates,
        "machine": machine(),
        "kafka": {"version": broker.version, "local": broker.local},
        "versions": _versions(),
        "settings": {
            "worker_env": WORKER_ENV,
            "app_id": group,
            "rocksdb": rocksdb_settings(),
            "partitions": {
                t: contract[t].partitions
                for t in (
                    "customer-profile",
                    "business-events",
                    "ingested-profile",
                    "ingested-business",
                    "customer-commands",
                    "area-commands",
                    "contact-index",
                )
            },
            "driver_producer": {
                "api": "BatchBuilder + send_batch, murmur2 partitioner",
                "acks": "all",
                "linger_ms": LINGER_MS,
                "max_batch_bytes": BATCH_BYTES,
                "compression": "none (lz4 not installed)",
                "chunk": CHUNK,
                "max_ahead_of_customer_stage": MAX_AHEAD,
            },
            "ceiling": {
                "consumer": f"no group, getmany(max_records={CEILING_BATCH})",
                "producer": "send per record to the same partition, acks=all, linger_ms=5",
            },
            "events": {
                "profile_spacing_ms": PROFILE_SPACING_MS,
                "update_spacing_ms": UPDATE_SPACING_MS,
                "service_areas": AREAS,
                "tiers": sorted(set(TIERS)),
                "business_types": list(BUSINESS_TYPES),
            },
            "load_budget_seconds": _finite(opts.load_budget),
            "update_budget_seconds": _finite(opts.update_budget),
            "seed": opts.seed,
        },
    }
    t0_ms = int(time.time() * 1000) - opts.customers * PROFILE_SPACING_MS - 3_600_000
    try:
        with console.status("Starting the worker and waiting until it is ready..."):
            began = time.monotonic()
            worker.start(ready_timeout=180)
            ready_seconds = time.monotonic() - began
        assert worker.process is not None
        pid = worker.process.pid
        await asyncio.sleep(3.0)
        rss_empty = tree_rss(pid)
        console.print(
            f"[green]Worker ready[/] in {ready_seconds:.1f} s (pid {pid}), "
            f"RSS {rss_empty / 2**20:,.0f} MiB with empty tables"
        )
        results["worker"] = {"ready_seconds": round(ready_seconds, 1), "rss_empty": rss_empty}
        watch = Watch(worker, broker.bootstrap, contract["customer-commands"].name)
        await watch.start()
        pids = (pid, broker.pid)
        try:
            async with FastProducer(broker.bootstrap) as producer:
                console.rule(f"Load: {opts.customers:,} profiles")
                load = await run_phase(
                    Phase("load", opts.customers),
                    watch,
                    producer,
                    profile_topic,
                    profiles(opts.customers, t0_ms),
                    opts.load_budget,
                    pids,
                )
                loaded = load.processed
                console.print(
                    f"Loaded {loaded:,} profiles in {load.seconds:,.1f} s: "
                    f"[bold]{load.rate:,.0f} profiles/s[/] end to end "
                    f"(producer {load.producer_rate:,.0f} records/s)"
                )
                results["load"] = load.as_json()
                idle_seconds, lag = await wait_idle(
                    broker.bootstrap, group, stage_topics, opts.idle_timeout
                )
                console.print(f"Every stage idle {idle_seconds:,.1f} s later (lag left {lag:,})")
                results["load"]["idle_after_seconds"] = round(idle_seconds, 1)
                results["load"]["lag_left"] = lag
                after_load = await footprint(worker, loaded, rss_empty, opts.rss_seconds)
                results["after_load"] = after_load.as_json()
                console.print(
                    f"RSS {after_load.rss / 2**20:,.0f} MiB, data dir "
                    f"{after_load.data_dir_bytes / 2**20:,.0f} MiB"
                )

                console.rule(f"Updates: {opts.updates:,} business events")
                t_updates = t0_ms + loaded * PROFILE_SPACING_MS + UPDATE_GAP_MS
                updates = await run_phase(
                    Phase("updates", opts.updates),
                    watch,
                    producer,
                    business_topic,
                    business_events(opts.updates, loaded, t_updates, opts.seed),
                    opts.update_budget,
                    pids,
                )
                console.print(
                    f"{updates.processed:,} context updates in {updates.seconds:,.1f} s: "
                    f"[bold]{updates.rate:,.0f} updates/s[/]"
                )
                results["updates"] = updates.as_json()
                idle_seconds, lag = await wait_idle(
                    broker.bootstrap, group, stage_topics, opts.idle_timeout
                )
                results["updates"]["idle_after_seconds"] = round(idle_seconds, 1)
                results["updates"]["lag_left"] = lag
                after_updates = await footprint(worker, loaded, rss_empty, opts.rss_seconds)
                results["after_updates"] = after_updates.as_json()
            results["worker_metrics"] = {
                "snapshots": watch.get("cim_context_snapshots_total"),
                "moments": metric_sum(watch.values, "cim_business_moments_total"),
                "dead_letters": metric_sum(watch.values, "cim_dead_letters_total"),
                "duplicates": metric_sum(watch.values, "cim_duplicates_dropped_total"),
            }
        finally:
            await watch.stop()
    finally:
        with console.status("Stopping the worker..."):
            worker.stop()

    console.rule("Raw ceiling: plain aiokafka consume → produce on the same broker")
    scratch = {t: f"{prefix}bench.scratch.{t}" for t in (profile_topic, business_topic)}
    await create_scratch(
        broker.bootstrap, list(scratch.values()), contract["business-events"].partitions
    )
    ceilings = {}
    for topic, count, key in (
        (profile_topic, results["load"]["sent"], "load"),
        (business_topic, results["updates"]["sent"], "updates"),
    ):
        ceiling = await raw_ceiling(broker.bootstrap, topic, scratch[topic], count)
        ceilings[key] = ceiling
        phase_rate = results[key]["events_per_second"]
        results[key]["ceiling"] = {
            "topic": topic,
            "records": ceiling.records,
            "seconds": round(ceiling.seconds, 2),
            "records_per_second": round(ceiling.rate, 1),
            "ratio": round(phase_rate / ceiling.rate, 4) if ceiling.rate else None,
        }
        console.print(f"{topic}: {ceiling.rate:,.0f} records/s")
    if broker.log_dir is not None:
        results["kafka"]["topic_bytes"] = kafka_topic_bytes(broker.log_dir, prefix)
    if not broker.local:
        with console.status("Deleting the run's topics..."):
            await delete_run_topics(broker.bootstrap, prefix)
    extrapolate(results, opts)
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return results


def extrapolate(results: dict[str, Any], opts: Options) -> None:
    """When the load stopped at its budget: what N customers would take, linearly, said so."""
    load, after = results["load"], results["after_load"]
    n, target = load["processed"], opts.customers
    if n >= target or n == 0:
        results["extrapolated"] = None
        return
    rate = load["events_per_second"]
    at_average = target / rate
    rss = after["rss_bytes"]["empty_table"] + after["rss_bytes_per_customer"] * target
    disk = after["data_dir_bytes_per_customer"] * target
    table = after["customers_table_bytes_per_customer"] * target
    results["extrapolated"] = {
        "measured_customers": n,
        "target_customers": target,
        "load_seconds_at_average_rate": round(at_average),
        "rss_bytes_linear": round(rss),
        "data_dir_bytes_linear": round(disk),
        "customers_table_bytes_linear": round(table),
        "note": (
            f"NOT MEASURED at {target:,}: the load reached its budget "
            f"({opts.load_budget:,.0f} s) with {n:,} customers, and every figure above is "
            f"measured at {n:,}. Linear extrapolation to {target:,}: the load would take "
            f"{at_average / 60:,.0f} min at the measured average rate; RSS "
            f"{rss / 2**30:,.2f} GiB, data dir "
            f"{disk / 2**30:,.2f} GiB, customers table {table / 2**30:,.2f} GiB. Linear is an "
            "assumption: see the rate by tenth for the trend; area buckets (written whole on "
            "every join) grow with N, and RocksDB caches are capped, so RSS grows less."
        ),
    }


# ------------------------------------------------------------------------- report


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def print_report(r: dict[str, Any]) -> None:
    load, upd, a, b = r["load"], r["updates"], r["after_load"], r["after_updates"]
    n = a["customers"]
    table = Table(title=f"Customer-context benchmark: {n:,} customers in the table (RocksDB)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("note")
    rows: list[tuple[str, str, str]] = [
        (
            "profiles/s (ingest + customer stage)",
            f"{load['events_per_second']:,.0f}",
            f"{load['processed']:,} in {load['seconds']:,.0f} s, one worker",
        ),
        (
            "  raw ceiling (consume → produce)",
            f"{load['ceiling']['records_per_second']:,.0f}",
            f"ratio {load['ceiling']['ratio']:.4f}",
        ),
        (
            "  driver's producer",
            f"{load['producer']['records_per_second']:,.0f}",
            "records/s while sending, sharing the cores with the worker",
        ),
        ("  rate by tenth of the load", "", " ".join(f"{x:,.0f}" for x in load["rate_by_tenth"])),
        ("  every stage idle after", f"{load['idle_after_seconds']:,.0f} s", "(area stage lag)"),
        (
            "context updates/s (business events)",
            f"{upd['events_per_second']:,.0f}",
            f"{upd['processed']:,} in {upd['seconds']:,.0f} s",
        ),
        (
            "  raw ceiling (consume → produce)",
            f"{upd['ceiling']['records_per_second']:,.0f}",
            f"ratio {upd['ceiling']['ratio']:.4f}",
        ),
        (
            "RSS per customer",
            f"{a['rss_bytes_per_customer']:,.0f} B",
            f"({_mib(a['rss_bytes']['median'])} minus {_mib(a['rss_bytes']['empty_table'])} "
            f"empty) / {n:,}; max sample {a['rss_bytes_per_customer_max']:,.0f} B",
        ),
        (
            "  after the updates",
            f"{b['rss_bytes_per_customer']:,.0f} B",
            f"peak RSS of the worker {_mib(b['rss_bytes']['peak_vmhwm_worker'])} (VmHWM)",
        ),
        (
            "disk per customer (worker data dir)",
            f"{a['data_dir_bytes_per_customer']:,.0f} B",
            f"{_mib(a['data_dir_bytes'])} (allocated {_mib(a['data_dir_allocated_bytes'])}); "
            f"after the updates {b['data_dir_bytes_per_customer']:,.0f} B",
        ),
        (
            "  customers table only",
            f"{a['customers_table_bytes_per_customer']:,.0f} B",
            f"{_mib(a['customers_table_bytes'])}; after the updates "
            f"{b['customers_table_bytes_per_customer']:,.0f} B",
        ),
        (
            "idle worker CPU (timers)",
            f"{a['idle_worker_cpu']['share_of_a_core']:.2f}",
            f"of a core over {a['idle_worker_cpu']['window_seconds']:,.0f} s with {n:,} "
            "customers and no input",
        ),
        (
            "/metrics unanswered > 1 s",
            f"{load['metrics_stalls']['count']} / {upd['metrics_stalls']['count']}",
            f"load / updates; longest {load['metrics_stalls']['longest_seconds']} / "
            f"{upd['metrics_stalls']['longest_seconds']} s (event loop blocked)",
        ),
    ]
    for phase_name, phase in (("load", load), ("updates", upd)):
        cpu = phase["cpu_microseconds_per_event"]
        handlers = phase["stage_handler_microseconds_per_event"]
        rows.append(
            (
                f"CPU µs per event ({phase_name})",
                f"{cpu.get('worker', 0):,.0f}",
                f"worker; Kafka {cpu.get('kafka', 0):,.0f}, driver {cpu.get('driver', 0):,.0f}, "
                f"other processes {cpu.get('other', 0):,.0f}. "
                f"Handler wall µs: ingest {handlers.get('ingest', 0):,.0f}, "
                f"customers {handlers.get('customers', 0):,.0f}",
            )
        )
    for row in rows:
        table.add_row(*row)
    console.print(table)

    stores = Table(title="Worker data dir after the load / after the updates, by RocksDB table")
    for col in ("table", "partitions", "SST", "WAL", "other", "total after updates"):
        stores.add_column(col, justify="left" if col == "table" else "right")
    for name, t in a["rocksdb_tables"].items():
        t2 = b["rocksdb_tables"].get(name, {})
        stores.add_row(
            name,
            str(t["partitions"]),
            _mib(t["sst"]),
            _mib(t["wal"]),
            _mib(t["other"]),
            _mib(t2.get("sst", 0) + t2.get("wal", 0) + t2.get("other", 0)),
        )
    console.print(stores)
    topics = r["kafka"].get("topic_bytes") or {}
    if topics:
        biggest = ", ".join(f"{t} {_mib(v)}" for t, v in list(topics.items())[:6])
        console.print(f"Largest topics on the broker (log segments): {biggest}")
    if r.get("extrapolated"):
        console.print(f"[yellow]Extrapolated:[/] {r['extrapolated']['note']}")
    m = r["machine"]
    console.print(
        f"{m['cpu_count']} CPUs ({m['cpu_model']}), {m['memory_bytes'] / 2**30:,.0f} GiB, "
        f"Python {m['python']}, Kafka {r['kafka']['version']}, "
        f"faust-streaming {r['versions']['faust-streaming']}, "
        f"aiokafka {r['versions']['aiokafka']}, rocksdict {r['versions']['rocksdict']}"
    )


# ------------------------------------------------------------------------- main


@contextlib.contextmanager
def kafka_broker() -> Iterator[Broker]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        console.print(f"Using the Kafka at {bootstrap}")
        yield Broker(bootstrap, "unknown (external broker)", local=False)
        return
    from interaction_streams.localkafka import LocalKafka, LocalKafkaConfig, kafka_version

    with console.status(f"Starting Apache Kafka {kafka_version()} (KRaft, one node)..."):
        kafka = LocalKafka(LocalKafkaConfig())  # a fresh temporary data dir
        address = kafka.start()
    console.print(f"[green]Kafka ready[/] at {address} in {kafka.startup_seconds:.1f} s")
    try:
        data = kafka.data_dir
        yield Broker(
            address,
            kafka.version,
            local=True,
            pid=kafka.pid,
            log_dir=data / "kraft" if data is not None else None,
        )
    finally:
        with console.status("Stopping Kafka..."):
            kafka.stop()


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m interaction_streams.bench.context",
        description="Context updates per second, and memory and disk per customer.",
    )
    parser.add_argument("--customers", type=int, default=1_000_000, help="N (1,000,000)")
    parser.add_argument("--updates", type=int, default=200_000, help="M (200,000)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/context.json"))
    parser.add_argument(
        "--load-budget",
        type=float,
        default=1200.0,
        help="seconds after which the load sends no more profiles; the figures are then "
        "measured at the size reached and extrapolated to N, said so (0: no budget)",
    )
    parser.add_argument("--update-budget", type=float, default=1200.0, help="(0: none)")
    parser.add_argument("--idle-timeout", type=float, default=1800.0)
    parser.add_argument(
        "--rss-seconds",
        type=float,
        default=35.0,
        help="how long RSS is sampled (at least one 30 s sweep of the tables)",
    )
    parser.add_argument("--seed", type=int, default=683)
    parser.add_argument("--keep", action="store_true", help="keep the worker's data dir")
    args = parser.parse_args(argv)
    if args.customers < 1 or args.updates < 1:
        parser.error("--customers and --updates must be positive")
    return Options(
        customers=args.customers,
        updates=args.updates,
        out=args.out,
        load_budget=args.load_budget or float("inf"),
        update_budget=args.update_budget or float("inf"),
        idle_timeout=args.idle_timeout,
        rss_seconds=args.rss_seconds,
        seed=args.seed,
        keep=args.keep,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="bench-context-"))
    began = time.monotonic()
    try:
        with kafka_broker() as broker:
            results = asyncio.run(run(opts, broker, workdir))
    finally:
        if opts.keep:
            console.print(f"Worker data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["total_seconds"] = round(time.monotonic() - began, 1)
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(results, indent=2) + "\n")
    print_report(results)
    console.print(
        f"Total {results['total_seconds']:,.0f} s; figures written to [bold]{opts.out}[/]"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
