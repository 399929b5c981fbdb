"""CloudEvents 1.0 input envelope, in structured JSON and binary (``ce_*`` headers) mode."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from interaction_streams.contract.errors import InvalidEvent, summarise_validation_error

CE_HEADER_PREFIX = "ce_"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event; ``time`` is required because the product runs on event time.

    Extension attributes (lower-case names) are kept as extra fields.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=1024)
    type: str = Field(min_length=1, max_length=256)
    time: AwareDatetime
    subject: str | None = None
    datacontenttype: str | None = "application/json"
    dataschema: str | None = None
    data: dict[str, Any]

    @property
    def event_key(self) -> str:
        """The pair (source, id) that identifies an event, for de-duplication."""
        return f"{self.source}\x1f{self.id}"

    @property
    def time_ms(self) -> int:
        return int(self.time.timestamp() * 1000)

    def to_json(self) -> bytes:
        """Canonical structured-mode JSON (UTC time, no null attributes)."""
        body = self.model_dump(mode="json", exclude_none=True)
        body["time"] = format_time(self.time)
        return orjson.dumps(body)


def decode_envelope(value: bytes | None, headers: Iterable[tuple[str, bytes]]) -> CloudEvent:
    """Read a CloudEvent from a Kafka record, in binary mode when ``ce_`` headers are present.

    Raises InvalidEvent with reason ``unreadable`` or ``invalid-envelope``.
    """
    header_map = {k.lower(): v for k, v in headers}
    if value is None:
        raise InvalidEvent("unreadable", "record has no value")
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("unreadable", f"value is not JSON: {exc}") from None
    if f"{CE_HEADER_PREFIX}specversion" in header_map:
        body = _binary_mode_attributes(header_map, body)
    if not isinstance(body, dict):
        raise InvalidEvent("invalid-envelope", "a structured CloudEvent must be a JSON object")
    try:
        return CloudEvent.model_validate(body)
    except ValidationError as exc:
        raise InvalidEvent("invalid-envelope", summarise_validation_error(exc)) from None


def _binary_mode_attributes(headers: dict[str, bytes], data: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for name, raw in headers.items():
        if name.startswith(CE_HEADER_PREFIX):
            try:
                attributes[name[len(CE_HEADER_PREFIX) :]] = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidEvent("unreadable", f"header {name} is not UTF-8") from None
    content_type = headers.get("content-type")
    if content_type is not None:
        attributes["datacontenttype"] = content_type.decode("utf-8", "replace")
    attributes["data"] = data
    return attributes


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as every output of the product writes time."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
