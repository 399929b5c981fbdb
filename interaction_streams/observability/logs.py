"""Structured logs: JSON lines with personal data (phone numbers, emails) masked."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

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
        for field in ("interaction_id", "event_id", "party_id"):
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
        "filters": {"mask": {"()": MaskingFilter}},
        "formatters": {"main": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "filters": ["mask"],
            }
        },
        "root": {"level": level, "handlers": ["console"]},
    }
