"""The dead-letter sink shared by every stage."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust

from interaction_streams.contract.deadletter import DeadLetter
from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.ingest import RawRecord, Rejected, dead_letter
from interaction_streams.observability.metrics import Metrics
from interaction_streams.stream.codec import ModelCodec

log = logging.getLogger(__name__)


@dataclass
class DeadLetterSink:
    app: faust.App
    contract: TopicContract
    metrics: Metrics

    def __post_init__(self) -> None:
        self.topic = self.app.topic(
            self.contract["deadletter"].name,
            key_serializer="raw",
            value_serializer=ModelCodec(DeadLetter),
        )

    async def send(self, record: RawRecord, rejected: Rejected) -> None:
        letter = dead_letter(record, rejected, datetime.now(UTC))
        await self.topic.send(key=record.key, value=letter)
        self.metrics.dead_letters.labels(rejected.reason, record.topic).inc()
        log.warning(
            "dead-lettered %s[%s]@%s: %s: %s",
            record.topic,
            record.partition,
            record.offset,
            rejected.reason,
            rejected.detail,
        )


def raw_record(event: Any) -> RawRecord:
    """The RawRecord of a Faust event (topic, partition, offset, time, key, value, headers)."""
    message = event.message
    raw_headers = message.headers or ()
    pairs = raw_headers.items() if isinstance(raw_headers, dict) else raw_headers
    return RawRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=int(message.timestamp * 1000),
        key=message.key,
        value=message.value,
        headers=tuple((str(k), _as_bytes(v)) for k, v in pairs),
    )


def _as_bytes(value: bytes | str | None) -> bytes:
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else bytes(value)
