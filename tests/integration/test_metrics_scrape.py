"""Scrape a real worker's /metrics during a scenario through Kafka (three contacts, one
malformed record, a channel outage) and check the key series and their values."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import WorkerProcess, cloud_event, produce
from tests.conftest import WorkerFactory
from tests.scenarios import ABANDONED, CHAT, VOICE, records
from tests.waiting import wait_until_passes

pytestmark = pytest.mark.kafka

Labels = tuple[tuple[str, str], ...]


def scrape(worker: WorkerProcess) -> dict[str, dict[Labels, float]]:
    code, body = worker.get("/metrics")
    assert code == 200
    series: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            series.setdefault(sample.name, {})[labels] = sample.value
    return series


def value(series: dict[str, dict[Labels, float]], name: str, **labels: str) -> float | None:
    return series.get(name, {}).get(tuple(sorted(labels.items())))


def test_metrics_of_a_scenario(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    worker = worker_factory(cim_channel_tick_seconds="0.5")
    channel_in = topics["channel-events"].name
    ingested = topics["ingested-channel"].name
    health_in = topics["channel-health"].name
    contacts = [
        *records("call-1", VOICE),
        *records("chat-1", CHAT),
        *records("call-2", ABANDONED),
        (b"call-9", b"{not json", []),
    ]
    report = cloud_event(
        "cim.channel.health.reported",
        {"channel": "voice", "component": "trunk-1", "status": "down"},
        "h-1",
        "2026-11-26T09:00:00.000Z",
    )
    asyncio.run(produce(kafka_bootstrap, channel_in, contacts))
    asyncio.run(produce(kafka_bootstrap, health_in, [(b"voice", report, [])]))
    channel_events = len(VOICE) + len(CHAT) + len(ABANDONED)

    def processed() -> dict[str, dict[Labels, float]]:
        series = scrape(worker)
        assert value(series, "cim_processing_seconds_count", stage="ingest") == channel_events + 2
        assert value(series, "cim_processing_seconds_count", stage="interactions") == channel_events
        assert value(series, "cim_channel_status", channel="voice", status="down") == 1.0
        lag = {
            labels: v for labels, v in series["cim_consumer_lag_records"].items()
            if dict(labels)["topic"] == channel_in
        }  # fmt: skip
        assert len(lag) == 4 and sum(lag.values()) == 0, lag  # every record committed
        # the chat channel's traffic row is flushed on the 0.5 s channel tick: wait for it
        assert value(series, "cim_table_entries", table="channels") == 2  # voice, chat (traffic)
        return series

    series = wait_until_passes(processed, timeout=90.0, interval=0.5)
    # events in by topic and type; the malformed record is 'unknown' and dead-lettered
    assert value(series, "cim_events_in_total", topic=channel_in, type="cim.voice.offered") == 2
    assert value(series, "cim_events_in_total", topic=channel_in, type="cim.chat.started") == 1
    assert (
        value(series, "cim_events_in_total", topic=channel_in, type="cim.interaction.answered") == 3
    )
    assert value(series, "cim_events_in_total", topic=channel_in, type="unknown") == 1
    assert value(series, "cim_dead_letters_total", reason="unreadable", topic=channel_in) == 1
    assert value(series, "cim_events_out_total", topic=ingested, type="cim.voice.offered") == 2
    assert sum(series["cim_events_out_total"].values()) == channel_events + 1  # + the report
    # the interactions by channel and status
    assert value(series, "cim_interactions", channel="voice", status="completed") == 1
    assert value(series, "cim_interactions", channel="voice", status="disrupted") == 1
    assert value(series, "cim_interactions", channel="chat", status="completed") == 1
    # channel operation
    assert value(series, "cim_channel_arrivals_total", channel="voice") == 2
    assert value(series, "cim_channel_health_reports_total", channel="voice", status="down") == 1
    assert value(series, "cim_channel_status", channel="voice", status="up") == 0
    assert value(series, "cim_channel_status_changes_total", channel="voice", status="down",
                 reason="reported") == 1  # fmt: skip
    # tables, readiness, the process
    assert value(series, "cim_table_entries", table="interactions") == 3
    assert value(series, "cim_worker_ready") == 1
    assert (value(series, "process_resident_memory_bytes") or 0) > 0
    assert (value(series, "cim_event_age_seconds_count", stage="ingest") or 0) == channel_events + 2
