"""Personal data never reaches the logs."""

from __future__ import annotations

import logging

import orjson
import pytest

from interaction_streams.observability.logs import JsonFormatter, mask_personal_data


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("caller +44 20 7946 0018 waiting", "caller ***18 waiting"),
        ("sms from +14155550100", "sms from ***00"),
        ("call (020) 7946 0018", "call ***18"),
        ("mail to ada.lovelace@example.com", "mail to a***@example.com"),
        # left readable: addresses, timestamps, offsets, ids
        (
            "broker 127.0.0.1:9092 at 2026-11-26T09:00:00Z offset 123456789 id call-1001",
            "broker 127.0.0.1:9092 at 2026-11-26T09:00:00Z offset 123456789 id call-1001",
        ),
    ],
)
def test_masking(text: str, masked: str) -> None:
    assert mask_personal_data(text) == masked


def test_json_log_line_is_masked_and_carries_correlation_ids() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "caller %s", ("+442079460018",), None
    )
    record.interaction_id = "call-1"
    line = orjson.loads(JsonFormatter().format(record))
    assert line["message"] == "caller ***18"
    assert line["interaction_id"] == "call-1"
    assert line["level"] == "INFO"
    assert line["time"].endswith("Z")
