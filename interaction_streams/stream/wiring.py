"""What every stage shell shares: typed topics, the record loop, the stage clock, and the
check that a timer may run."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust
from faust.types import StreamT
from pydantic import BaseModel

from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.ingest import RawRecord, Rejected
from interaction_streams.observability.logs import bind_record
from interaction_streams.observability.metrics import Metrics
from interaction_streams.stream.codec import ModelCodec
from interaction_streams.stream.deadletters import DeadLetterSink, raw_record

log = logging.getLogger(__name__)


def raw_topic(app: faust.App, *names: str) -> Any:
    """One or several topics read or written as raw bytes (JSON-string keys)."""
    return app.topic(*names, key_serializer="raw", value_serializer="raw")


class ModelSink:
    """A contract topic a stage sends one pydantic model to, straight to the worker's
    producer: Faust's per-message machinery (pending and future messages, sensors,
    callbacks) cost about 80 µs a send in the routing-stage bench, and a stage sends several
    records per input. Offsets stay at-least-once: Faust flushes the producer before it
    commits them. Under ``exactly_once`` a send must join the partition's transaction, so it
    goes through the Faust topic."""

    def __init__(
        self, app: faust.App, contract: TopicContract, topic_id: str, model: type[BaseModel]
    ) -> None:
        self.app = app
        self.name = contract[topic_id].name
        self.codec = ModelCodec(model)
        self.topic = app.topic(self.name, key_serializer="raw", value_serializer=self.codec)

    async def send(self, *, key: bytes | None, value: BaseModel) -> Awaitable[Any]:
        """Hand the record to the producer; the result completes on the broker's
        acknowledgement (as Faust's ``Topic.send``)."""
        if self.app.in_transaction:
            sent: Awaitable[Any] = await self.topic.send(key=key, value=value)
            return sent
        body = self.codec.dumps(value)
        producer = await self.app.maybe_start_producer()
        acknowledged: Awaitable[Any] = await producer.send(self.name, key, body, None, None, None)
        return acknowledged


def model_topic(
    app: faust.App, contract: TopicContract, topic_id: str, model: type[BaseModel]
) -> ModelSink:
    """A contract topic whose values are one pydantic model, written by a stage."""
    return ModelSink(app, contract, topic_id, model)


Handler = Callable[[RawRecord], Awaitable[None]]


async def each_record(
    stream: StreamT[Any],
    stage: str,
    metrics: Metrics,
    deadletters: DeadLetterSink,
    handle: Handler,
    riders: list[Handler] | None = None,
) -> None:
    """Run ``handle`` on every record; a failure dead-letters the record, never the stream.
    ``riders``: stages keyed alike that read some of the same topics and ride along on this
    agent's records (one Faust hop for both; each rider filters and isolates its own)."""
    async for event in stream.events():
        record = raw_record(event)
        await handle_record(stage, metrics, deadletters, handle, record)
        for ride in riders or ():
            await ride(record)


async def handle_record(
    stage: str, metrics: Metrics, deadletters: DeadLetterSink, handle: Handler, record: RawRecord
) -> None:
    """``handle`` one record of ``stage``: correlation ids bound, failures dead-lettered, the
    processing time measured."""
    started = time.perf_counter()
    bind_record(stage, record)  # log lines carry the record's correlation ids
    try:
        await handle(record)
    except Exception as exc:  # a bug must not stall the partition
        log.exception(
            "%s stage failed on %s[%s]@%s", stage, record.topic, record.partition, record.offset
        )
        await deadletters.send(record, Rejected("processing-error", repr(exc)))
    metrics.processing.labels(stage).observe(time.perf_counter() - started)


@dataclass
class StageClock:
    """The clock of a stage: the newest event time it has seen, advanced by the wall clock
    in live mode (``CIM_CLOCK=live``), so timers fire the same way in a replay."""

    live: bool
    newest: dict[int, int] = field(default_factory=dict)  # partition -> newest event time

    def tick(self, partition: int, event_ms: int) -> None:
        self.newest[partition] = max(self.newest.get(partition, 0), event_ms)

    def now_ms(self) -> int:
        newest = max(self.newest.values(), default=0)
        return max(newest, int(time.time() * 1000)) if self.live else newest

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ms() / 1000, tz=UTC)


@dataclass
class DueIndex:
    """When time alone changes an entity of a stage's table (key -> due time on the stage
    clock), in memory and rebuilt from the table after each recovery, so that a timer never
    scans the table; and the keys whose tick is on its way through Kafka, sent once."""

    due: dict[str, int] = field(default_factory=dict)
    sent: set[str] = field(default_factory=set)

    def note(self, key: str, due_ms: int | None) -> None:
        if due_ms is None:
            self.due.pop(key, None)
        else:
            self.due[key] = due_ms

    def reset(self) -> None:
        """Before a rebuild from the table (after a recovery)."""
        self.due.clear()
        self.sent.clear()

    def arrived(self, key: str) -> None:
        """The tick of ``key`` came back: a later one may be sent."""
        self.sent.discard(key)

    def take(self, now_ms: int, also: Mapping[str, int] | None = None) -> list[str]:
        """The keys due at ``now_ms`` (here or in ``also``) whose tick is not out yet, now
        marked as sent."""
        dues = dict(also or {})
        for key, due in self.due.items():
            dues[key] = min(due, dues.get(key, due))
        ready = [k for k, due in dues.items() if due <= now_ms and k not in self.sent]
        self.sent.update(ready)
        return ready


def may_run_timer(app: faust.App) -> bool:
    """Timers must not scan tables during a rebalance or before recovery completes."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    return bool(not app.rebalancing and recovery.completed.is_set())
