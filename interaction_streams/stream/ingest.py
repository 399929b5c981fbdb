"""The ingest agent: every input topic → validated, de-duplicated, keyed stage topics.

Refused records go to the dead-letter topic; nothing stops a partition.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import faust
import orjson
from faust.types import StreamT

from interaction_streams.contract.events.registry import FAMILIES, Family
from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.ingest import (
    Accepted,
    ExpiryQueue,
    RawRecord,
    Rejected,
    Sighting,
    is_duplicate,
    validate,
)
from interaction_streams.observability.logs import bind_record
from interaction_streams.observability.metrics import Metrics
from interaction_streams.settings import Settings
from interaction_streams.stream.deadletters import DeadLetterSink, raw_record
from interaction_streams.stream.tables import model_table

log = logging.getLogger(__name__)

EXPIRE_PER_EVENT = 64  # sightings expired per input record, so expiry never stalls a partition


def stage_key(key: str) -> bytes:
    """Stage topics carry JSON string keys, as Faust's table_route and changelogs encode them."""
    return orjson.dumps(key)


@dataclass
class IngestShell:
    """Faust wiring of the ingest step; state lives in the ``ingest-dedup`` table."""

    app: faust.App
    contract: TopicContract
    settings: Settings
    metrics: Metrics

    def __post_init__(self) -> None:
        c = self.contract
        self.family_of: dict[str, Family] = {c.input_for(f).name: f for f in FAMILIES}
        self.window_ms = self.settings.dedup_window_seconds * 1000
        self.inputs = self.app.topic(
            *self.family_of, key_serializer="raw", value_serializer="raw", acks=True
        )
        self.outputs = {
            f: self.app.topic(c.ingested_for(f).name, key_serializer="raw", value_serializer="raw")
            for f in FAMILIES
        }
        self.deadletters = DeadLetterSink(self.app, c, self.metrics)
        self.seen = model_table(
            self.app,
            "ingest-dedup",
            Sighting,
            self.settings,
            partitions=c.input_for("channel").partitions,
            help="(source, id) of input events seen in the de-duplication window",
        )
        self.expiry = ExpiryQueue()
        self.clocks: dict[int, int] = {}
        self.seen.on_recover(self._rebuild_expiry)
        self.app.agent(self.inputs, name="ingest")(self._run)

    async def _rebuild_expiry(self) -> None:
        self.expiry.rebuild((k.decode(), v) for k, v in self.seen.items())
        self.metrics.table_entries.labels("ingest-dedup").set(len(self.expiry))

    async def _run(self, stream: StreamT[Any]) -> None:
        async for event in stream.events():
            started = time.perf_counter()
            record = raw_record(event)
            bind_record("ingest", record)  # log lines carry the record's correlation ids
            try:
                await self._ingest(record)
            except Exception as exc:  # a bug must not stall the partition: dead-letter it
                log.exception(
                    "ingest failed on %s[%s]@%s", record.topic, record.partition, record.offset
                )
                await self.deadletters.send(record, Rejected("processing-error", repr(exc)))
            self.metrics.processing.labels("ingest").observe(time.perf_counter() - started)
            self.metrics.event_age.labels("ingest").observe(
                max(0.0, time.time() - record.timestamp_ms / 1000)
            )

    async def _ingest(self, record: RawRecord) -> None:
        family = self.family_of[record.topic]
        outcome = validate(record, family)
        event_type = (
            outcome.event.envelope.type
            if isinstance(outcome, Accepted)
            else (outcome.envelope.type if outcome.envelope else None)
        )
        self.metrics.events_in.labels(record.topic, self.metrics.type_label(event_type)).inc()
        if isinstance(outcome, Rejected):
            await self.deadletters.send(record, outcome)
            return
        now_ms = max(self.clocks.get(record.partition, 0), record.timestamp_ms)
        self.clocks[record.partition] = now_ms
        key = outcome.event.envelope.event_key
        if is_duplicate(self.seen.get(key.encode()), now_ms, self.window_ms):
            self.metrics.duplicates.labels(record.topic).inc()
            return
        sighting = Sighting(seen_at_ms=now_ms, partition=record.partition)
        self.seen[key.encode()] = sighting
        self.expiry.push(key, sighting)
        target = self.outputs[family]
        await target.send(
            key=stage_key(outcome.event.routing_key), value=outcome.event.canonical().to_json()
        )
        self.metrics.events_out.labels(
            target.get_topic_name(), self.metrics.type_label(event_type)
        ).inc()
        self._expire(record.partition, now_ms)

    def _expire(self, partition: int, now_ms: int) -> None:
        """Delete sightings older than the window (tombstones reach the changelog)."""
        for key, seen_at in self.expiry.pop_expired(
            partition, now_ms, self.window_ms, EXPIRE_PER_EVENT
        ):
            current = self.seen.get(key.encode())
            if current is not None and current.seen_at_ms == seen_at:
                del self.seen[key.encode()]
        self.metrics.table_entries.labels("ingest-dedup").set(len(self.expiry))
