"""The CloudEvents envelope: structured and binary mode, and what is refused."""

from __future__ import annotations

import orjson
import pytest

from interaction_streams.contract.envelope import decode_envelope
from interaction_streams.contract.errors import InvalidEvent
from interaction_streams.harness import cloud_event

DATA = {"interactionId": "call-1"}


def test_structured_event_is_read_with_its_attributes() -> None:
    raw = cloud_event("cim.voice.offered", DATA, "e-1", "2026-11-26T10:00:00+01:00")
    event = decode_envelope(raw, [])
    assert (event.id, event.source, event.type) == ("e-1", "/sample/platform", "cim.voice.offered")
    assert event.time_ms == 1_795_683_600_000  # 09:00 UTC
    assert event.data == DATA


def test_binary_mode_takes_attributes_from_ce_headers() -> None:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"e-2"),
        ("ce_source", b"/twilio"),
        ("ce_type", b"cim.voice.held"),
        ("ce_time", b"2026-11-26T09:00:00Z"),
        ("ce_traceparent", b"00-abc-def-01"),
        ("content-type", b"application/json"),
    ]
    event = decode_envelope(orjson.dumps(DATA), headers)
    assert (event.id, event.source, event.type) == ("e-2", "/twilio", "cim.voice.held")
    assert event.data == DATA
    assert event.model_extra == {"traceparent": "00-abc-def-01"}


def test_canonical_json_is_utc_with_milliseconds() -> None:
    raw = cloud_event("cim.voice.offered", DATA, "e-1", "2026-11-26T10:00:00.5+01:00")
    body = orjson.loads(decode_envelope(raw, []).to_json())
    assert body["time"] == "2026-11-26T09:00:00.500Z"


@pytest.mark.parametrize(
    ("value", "reason", "fragment"),
    [
        (None, "unreadable", "no value"),
        (b"\xff\xfe not json", "unreadable", "not JSON"),
        (b"[1, 2]", "invalid-envelope", "JSON object"),
        (
            b'{"specversion": "1.0", "id": "x", "source": "s", "type": "t", "data": {}}',
            "invalid-envelope",
            "time",
        ),
        (
            b'{"specversion": "0.3", "id": "x", "source": "s", "type": "t", '
            b'"time": "2026-11-26T09:00:00Z", "data": {}}',
            "invalid-envelope",
            "specversion",
        ),
        (
            b'{"specversion": "1.0", "id": "", "source": "s", "type": "t", '
            b'"time": "2026-11-26T09:00:00Z", "data": {}}',
            "invalid-envelope",
            "id",
        ),
        (
            b'{"specversion": "1.0", "id": "x", "source": "s", "type": "t", '
            b'"time": "2026-11-26T09:00:00", "data": {}}',
            "invalid-envelope",
            "time",
        ),
    ],
)
def test_refused_records_name_their_reason(value: bytes | None, reason: str, fragment: str) -> None:
    with pytest.raises(InvalidEvent) as refused:
        decode_envelope(value, [])
    assert refused.value.reason == reason
    assert fragment in refused.value.detail
