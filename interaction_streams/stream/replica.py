"""An in-memory replica of a compacted topic, read whole by every worker (no consumer group).

Faust tables are partitioned: a worker holds only its own partitions. Some state is small
and needed everywhere (hub subscriptions, the contact index); for it each worker reads the
whole compacted topic with a plain aiokafka consumer, from the beginning, and keeps tailing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import ConsumerStoppedError, KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from mode import Service

from interaction_streams.kafka_options import consumer_options
from interaction_streams.settings import KafkaSettings, Settings

if TYPE_CHECKING:
    import faust
    from pydantic import BaseModel

    from interaction_streams.contract.topics import TopicContract

log = logging.getLogger(__name__)

V = TypeVar("V")
M = TypeVar("M", bound="BaseModel")
ChangeCallback = Callable[[str, V | None, V | None], None]

_POLL_MS = 250
_RETRY_SECONDS = 1.0


class CompactedReplica(Service, Generic[V]):
    """All records of one compacted topic, by key, on every worker.

    Keys are JSON strings (``"sub-1"``); values are decoded by ``decode`` (for example a
    pydantic model's ``model_validate_json``); a null value (tombstone) deletes the key.
    A record whose key or value cannot be decoded is logged and ignored (the previous
    value of the key stays).

    At start the replica assigns every partition of the topic, seeks to the beginning and
    notes the end offsets; ``ready`` is set once it has read up to them, and it keeps
    tailing afterwards. Partitions added to the topic later are not picked up before a
    restart. ``on_change`` callbacks run for every change, the initial load included
    (check ``ready`` to tell them apart); an exception in a callback is logged.
    """

    def __init__(
        self,
        topic: str,
        decode: Callable[[bytes], V],
        kafka: KafkaSettings,
        *,
        client_id: str = "interaction-streams-replica",
        **kwargs: Any,
    ) -> None:
        self.topic = topic
        self.decode = decode
        self.kafka = kafka
        self.client_id = client_id
        self.ready = asyncio.Event()
        self.on_change: list[ChangeCallback[V]] = []
        self._data: dict[str, V] = {}
        self._positions: dict[int, int] = {}  # partition -> next offset to read
        self._progress = asyncio.Condition()
        self._consumer: AIOKafkaConsumer | None = None
        super().__init__(**kwargs)

    # ---- reading ----

    def get(self, key: str) -> V | None:
        return self._data.get(key)

    def items(self) -> Iterator[tuple[str, V]]:
        """A snapshot: safe to iterate across awaits."""
        return iter(list(self._data.items()))

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the initial load is complete; False if ``timeout`` passed first."""
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def wait_for_offset(self, partition: int, offset: int, timeout: float) -> bool:
        """Wait until the record at ``offset`` of ``partition`` is applied (read your writes)."""

        def applied() -> bool:
            return self._positions.get(partition, 0) > offset

        try:
            async with self._progress:
                await asyncio.wait_for(self._progress.wait_for(applied), timeout)
        except TimeoutError:
            return False
        return True

    # ---- service ----

    async def on_start(self) -> None:
        self._consumer = AIOKafkaConsumer(**consumer_options(self.kafka, client_id=self.client_id))
        await self._consumer.start()

    async def on_shutdown(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    @Service.task
    async def _tail(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        partitions, ends = await self._assign_all(consumer)
        log.info("replica of %s: loading %s records at most", self.topic, sum(ends.values()))
        while not self.should_stop:
            try:
                batch = await consumer.getmany(timeout_ms=_POLL_MS, max_records=5000)
                for records in batch.values():
                    for record in records:
                        self._apply(record)
                for tp in partitions:
                    self._positions[tp.partition] = await consumer.position(tp)
            except ConsumerStoppedError:
                return
            except KafkaError as exc:  # transient broker trouble: the consumer reconnects
                log.warning("replica of %s: %r; retrying", self.topic, exc)
                await self.sleep(_RETRY_SECONDS)
                continue
            async with self._progress:
                self._progress.notify_all()
            if not self.ready.is_set() and all(
                self._positions.get(tp.partition, 0) >= end for tp, end in ends.items()
            ):
                self.ready.set()
                log.info("replica of %s ready: %s keys", self.topic, len(self._data))

    async def _assign_all(
        self, consumer: AIOKafkaConsumer
    ) -> tuple[list[TopicPartition], dict[TopicPartition, int]]:
        """Assign every partition from its beginning; the end offsets to load up to."""
        attempt = 0
        while True:
            try:
                # aiokafka has no public call that fetches one topic's metadata for a consumer.
                await consumer._client.force_metadata_update()
                found = consumer.partitions_for_topic(self.topic)
                if found:
                    partitions = [TopicPartition(self.topic, p) for p in sorted(found)]
                    consumer.assign(partitions)
                    await consumer.seek_to_beginning(*partitions)
                    return partitions, await consumer.end_offsets(partitions)
                problem = "not found"
            except KafkaError as exc:
                problem = repr(exc)
            if attempt % 10 == 0:
                log.warning("replica: topic %s: %s; retrying", self.topic, problem)
            attempt += 1
            await self.sleep(_RETRY_SECONDS)

    def _apply(self, record: ConsumerRecord[bytes, bytes]) -> None:
        self._positions[record.partition] = record.offset + 1
        try:
            key = orjson.loads(record.key) if record.key is not None else None
            if not isinstance(key, str):
                raise ValueError("the key is not a JSON string")
            new = None if record.value is None else self.decode(record.value)
        except Exception as exc:
            log.warning(
                "replica of %s: record %s@%s ignored: %s",
                self.topic,
                record.partition,
                record.offset,
                str(exc)[:300],
            )
            return
        old = self._data.get(key)
        if new is None:
            if old is None:
                return
            del self._data[key]
        else:
            self._data[key] = new
        for callback in self.on_change:
            try:
                callback(key, old, new)
            except Exception:
                log.exception("replica of %s: on_change callback failed", self.topic)


def worker_replica(
    app: faust.App, settings: Settings, contract: TopicContract, topic_id: str, model: type[M]
) -> CompactedReplica[M]:
    """A replica of a compacted contract topic of ``model`` values that starts and stops with
    the worker's application."""
    replica: CompactedReplica[M] = CompactedReplica(
        contract[topic_id].name,
        model.model_validate_json,
        settings.kafka,
        client_id=f"{settings.app_id}-{topic_id}",
    )
    app.add_dependency(replica)
    return replica
