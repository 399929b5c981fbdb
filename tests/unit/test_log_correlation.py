"""Stage log lines carry the correlation ids of the record being processed, per task, and
personal data stays masked."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from interaction_streams.domain.ingest import RawRecord
from interaction_streams.harness import cloud_event
from interaction_streams.observability.logs import (
    CorrelationFilter,
    JsonFormatter,
    MaskingFilter,
    bind_record,
    logging_config,
    unbind_record,
)


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(CorrelationFilter())
    handler.addFilter(MaskingFilter())
    logger = logging.getLogger("test.correlation")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield out
    logger.removeHandler(handler)
    unbind_record()


def logged(out: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def record(
    value: bytes | None, offset: int = 7, headers: tuple[tuple[str, bytes], ...] = ()
) -> RawRecord:
    return RawRecord("cim.channel.events.v1", 2, offset, 0, b"call-1", value, headers)


def test_a_stage_line_carries_the_record_ids_and_stays_masked(lines: io.StringIO) -> None:
    data = {
        "interactionId": "call-1",
        "partyId": "party-ada",
        "contact": {"phone": "+442079460018"},
    }
    bind_record(
        "ingest", record(cloud_event("cim.voice.offered", data, "ev-1", "2026-11-26T09:00:00Z"))
    )
    logging.getLogger("test.correlation").warning("caller %s failed", "+44 20 7946 0018")
    (line,) = logged(lines)
    assert line["message"] == "caller ***18 failed"
    assert {k: line[k] for k in ("stage", "topic", "partition", "offset")} == {
        "stage": "ingest",
        "topic": "cim.channel.events.v1",
        "partition": 2,
        "offset": 7,
    }
    assert (line["event_id"], line["interaction_id"], line["party_id"]) == (
        "ev-1",
        "call-1",
        "party-ada",
    )


def test_commands_binary_mode_and_unreadable_records(lines: io.StringIO) -> None:
    log = logging.getLogger("test.correlation")
    command = orjson.dumps({"command": "purge", "commandId": "purge-1", "interactionId": "chat-9"})
    bind_record("interactions", record(command))
    log.info("a command")
    binary = orjson.dumps({"interactionId": "call-3"})
    bind_record("ingest", record(binary, headers=(("ce_id", b"ev-3"), ("ce_type", b"x"))))
    log.info("binary mode")
    bind_record("ingest", record(b"{not json", offset=9))
    log.info("unreadable")
    first, second, third = logged(lines)
    assert (first["event_id"], first["interaction_id"]) == ("purge-1", "chat-9")
    assert (second["event_id"], second["interaction_id"]) == ("ev-3", "call-3")
    assert third["offset"] == 9 and "event_id" not in third and "interaction_id" not in third


def test_explicit_ids_win_and_lines_outside_a_stage_have_none(lines: io.StringIO) -> None:
    log = logging.getLogger("test.correlation")
    log.info("before any record")
    bind_record("routing", record(orjson.dumps({"interactionId": "call-1"})))
    log.info("explicit", extra={"interaction_id": "call-2"})
    before, explicit = logged(lines)
    assert "stage" not in before and "interaction_id" not in before
    assert explicit["interaction_id"] == "call-2" and explicit["stage"] == "routing"


def test_concurrent_stages_each_log_their_own_record(lines: io.StringIO) -> None:
    log = logging.getLogger("test.correlation")

    async def stage(name: str, interaction: str) -> None:
        for n in range(3):
            bind_record(name, record(orjson.dumps({"interactionId": interaction}), offset=n))
            await asyncio.sleep(0)
            log.info("step %s", n)

    async def both() -> None:
        await asyncio.gather(stage("a", "call-a"), stage("b", "call-b"))

    asyncio.run(both())
    seen = {(line["stage"], line["interaction_id"]) for line in logged(lines)}
    assert seen == {("a", "call-a"), ("b", "call-b")}


def test_the_worker_logging_config_correlates_and_masks() -> None:
    config = logging_config("INFO", "json")
    assert config["handlers"]["console"]["filters"] == ["correlate", "mask"]
    assert config["filters"]["correlate"]["()"] is CorrelationFilter
