"""Ingest: turn a raw Kafka record into an accepted event or a dead letter, and de-duplicate.

Pure: the caller passes the record, the previous sighting of the event and the clock.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.deadletter import DeadLetter, DeadLetterHeader
from interaction_streams.contract.envelope import CloudEvent, decode_envelope
from interaction_streams.contract.errors import DeadLetterReason, InvalidEvent
from interaction_streams.contract.events.registry import Family, TypedEvent, type_payload


@dataclass(frozen=True)
class RawRecord:
    """A Kafka record as it arrived, before anything is trusted."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Accepted:
    event: TypedEvent


@dataclass(frozen=True)
class Rejected:
    reason: DeadLetterReason
    detail: str
    envelope: CloudEvent | None = None


def validate(record: RawRecord, family: Family) -> Accepted | Rejected:
    """Decode the envelope and validate the payload against the family the topic carries."""
    envelope: CloudEvent | None = None
    try:
        envelope = decode_envelope(record.value, record.headers)
        return Accepted(type_payload(envelope, family))
    except InvalidEvent as exc:
        return Rejected(exc.reason, exc.detail, envelope)


def dead_letter(record: RawRecord, rejected: Rejected, now: datetime) -> DeadLetter:
    envelope = rejected.envelope
    return DeadLetter(
        reason=rejected.reason,
        detail=rejected.detail[:4000],
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        record_time=datetime.fromtimestamp(record.timestamp_ms / 1000, tz=UTC),
        dead_lettered_at=now,
        key_base64=_b64(record.key),
        value_base64=_b64(record.value),
        headers=tuple(
            DeadLetterHeader(key=k, value_base64=_b64(v) or "") for k, v in record.headers
        ),
        event_id=envelope.id if envelope else None,
        event_source=envelope.source if envelope else None,
        event_type=envelope.type if envelope else None,
    )


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode("ascii")


class Sighting(WireModel):
    """When ingest first saw an event (Kafka record time), and in which input partition."""

    seen_at_ms: int
    partition: int


def is_duplicate(previous: Sighting | None, now_ms: int, window_ms: int) -> bool:
    """An event is a duplicate when the same (source, id) was seen less than a window ago."""
    return previous is not None and now_ms - previous.seen_at_ms < window_ms


class ExpiryQueue:
    """Sightings in the order they were recorded, per partition, to expire them cheaply.

    The clock of a partition is the highest record time it has seen, so each queue is
    ordered by time and expiry only looks at its head.
    """

    def __init__(self) -> None:
        self._queues: dict[int, deque[tuple[int, str]]] = {}

    def push(self, key: str, sighting: Sighting) -> None:
        self._queues.setdefault(sighting.partition, deque()).append((sighting.seen_at_ms, key))

    def rebuild(self, entries: Iterable[tuple[str, Sighting]]) -> None:
        """Start again from the table's content (after a recovery or rebalance)."""
        self._queues.clear()
        for key, sighting in sorted(entries, key=lambda e: e[1].seen_at_ms):
            self.push(key, sighting)

    def pop_expired(
        self, partition: int, now_ms: int, window_ms: int, limit: int
    ) -> list[tuple[str, int]]:
        """Up to ``limit`` (key, seen_at_ms) of ``partition`` older than the window."""
        queue = self._queues.get(partition)
        expired: list[tuple[str, int]] = []
        while queue and len(expired) < limit and now_ms - queue[0][0] >= window_ms:
            seen_at, key = queue.popleft()
            expired.append((key, seen_at))
        return expired

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())
