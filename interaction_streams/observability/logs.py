"""Structured logs: JSON lines with personal data (phone numbers, emails) masked, and the
correlation ids of the record a stage is processing (stage, topic, partition, offset, event
id, interaction id, party id) on every line it logs.

The record loop binds the record to a context variable (``bind_record``: one assignment per
record); the ids are read from the record's bytes only when a line is actually logged."""

from __future__ import annotations

import contextvars
import logging
import re
import time
from typing import Any, Protocol

import orjson

_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")
# International (+44 20 7946 0018), bracketed ((020) 7946 0018) and national (020 7946 0018)
# numbers; plain digit runs are left alone, so offsets, ids, dates and addresses stay readable.
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d[\d ()-]{6,}\d"
    r"|\(\d{2,5}\)\s?\d[\d -]{4,}\d"
    r"|0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4}"
    r")(?!\w)"
)


def mask_personal_data(text: str) -> str:
    """Hide emails (keep the first letter and domain) and phone numbers (keep the last 2 digits)."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE.sub(lambda m: "***" + re.sub(r"\D", "", m.group(0))[-2:], text)


class _Record(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> tuple[tuple[str, bytes], ...]: ...


_current: contextvars.ContextVar[tuple[str, _Record] | None] = contextvars.ContextVar(
    "cim_log_record", default=None
)
CORRELATION_FIELDS = (
    "stage",
    "topic",
    "partition",
    "offset",
    "event_id",
    "interaction_id",
    "party_id",
)


def bind_record(stage: str, record: _Record) -> None:
    """The record ``stage`` processes now, in this task: its log lines carry its ids."""
    _current.set((stage, record))


def unbind_record() -> None:
    _current.set(None)


def correlation_ids(stage: str, record: _Record) -> dict[str, Any]:
    """Ids of a record: where it is, and from a CloudEvent (structured or binary mode) or a
    command, the event id, interaction id and party id."""
    ids: dict[str, Any] = {
        "stage": stage,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
    }
    headers = dict(record.headers)
    try:
        body = orjson.loads(record.value) if record.value else None
    except orjson.JSONDecodeError:
        body = None
    binary = "ce_id" in headers  # CloudEvents binary mode: the value is the data
    if isinstance(body, dict):
        data = body if binary else body.get("data")
        data = data if isinstance(data, dict) else {}
        if "specversion" in body:
            event_id = body.get("id")
        else:  # a command or an output of a stage
            event_id = body.get("commandId") or body.get("eventId") or body.get("id")
        found = {
            "event_id": event_id,
            "interaction_id": data.get("interactionId") or body.get("interactionId"),
            "party_id": data.get("partyId") or body.get("partyId"),
        }
        ids.update({k: v for k, v in found.items() if isinstance(v, str)})
    if binary:
        ids["event_id"] = headers["ce_id"].decode(errors="replace")
    return {k: mask_personal_data(v) if isinstance(v, str) else v for k, v in ids.items()}


class CorrelationFilter(logging.Filter):
    """Adds the correlation ids of the record being processed to each log record (fields
    set explicitly with ``extra=`` win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        bound = _current.get()
        if bound is not None:
            for field, value in correlation_ids(*bound).items():
                if getattr(record, field, None) is None:
                    setattr(record, field, value)
        return True


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_personal_data(record.getMessage())
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra ``interaction_id``/``event_id`` become correlation ids."""

    converter = time.gmtime  # type: ignore[assignment]  # UTC timestamps

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": mask_personal_data(record.getMessage()),
        }
        for field in CORRELATION_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = mask_personal_data(self.formatException(record.exc_info))
        return orjson.dumps(entry).decode()


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    """A dictConfig for the worker: every handler masks personal data."""
    formatter = (
        {"()": JsonFormatter}
        if fmt == "json"
        else {"format": "[%(asctime)s] [%(levelname)s] %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"mask": {"()": MaskingFilter}, "correlate": {"()": CorrelationFilter}},
        "formatters": {"main": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "filters": ["correlate", "mask"],
            }
        },
        "root": {"level": level, "handlers": ["console"]},
    }
