"""The dead-letter record: why an input was refused, where it came from, and its original bytes."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from interaction_streams.contract.base import WireModel
from interaction_streams.contract.errors import DeadLetterReason


class DeadLetterHeader(WireModel):
    key: str
    value_base64: str


class DeadLetter(WireModel):
    reason: DeadLetterReason
    detail: str = Field(max_length=4000)
    source_topic: str
    partition: int
    offset: int
    record_time: AwareDatetime = Field(description="the Kafka timestamp of the refused record")
    dead_lettered_at: AwareDatetime
    key_base64: str | None = None
    value_base64: str | None = Field(default=None, description="the original bytes, base64")
    headers: tuple[DeadLetterHeader, ...] = ()
    event_id: str | None = None
    event_source: str | None = None
    event_type: str | None = None
