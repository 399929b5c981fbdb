"""The channel-operation stage on the real broker: a reported outage, a lost heartbeat and
a traffic drop become statuses on cim.channel.status.v1, in GET /channelStatus and in
/metrics; recovery brings the channel back up."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest

from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import Record, WorkerProcess, cloud_event, produce, read_topic
from tests.conftest import WorkerFactory
from tests.waiting import wait_until_passes

pytestmark = pytest.mark.kafka

T = 1_795_683_600_000  # 2026-11-26T09:00:00Z


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def now_ms() -> int:
    return int(time.time() * 1000)


def health(channel: str, component: str, status: str | None, at_ms: int, n: int) -> Record:
    data: dict[str, Any] = {"channel": channel, "component": component}
    kind = "cim.channel.heartbeat"
    if status is not None:
        data["status"] = status
        kind = "cim.channel.health.reported"
    return channel.encode(), cloud_event(kind, data, f"h-{component}-{n}", iso(at_ms)), []


def status_of(worker: WorkerProcess, channel: str) -> dict[str, Any]:
    code, body = worker.get(f"/channelStatus/{channel}")
    assert code == 200, (code, body)
    result: dict[str, Any] = orjson.loads(body)
    return result


# this module waits up to 60 s (polled every 0.25 s) unless a call says otherwise
eventually = partial(wait_until_passes, timeout=60.0)


def metric(worker: WorkerProcess, line_start: str) -> float | None:
    _, body = worker.get("/metrics")
    for line in body.decode().splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def statuses_on_topic(bootstrap: str, topics: TopicContract) -> list[tuple[str, str, str]]:
    records = asyncio.run(read_topic(bootstrap, topics["channel-status"].name, idle_seconds=1.0))
    out = []
    for r in records:
        value = orjson.loads(r.value or b"{}")
        assert orjson.loads(r.key or b"") == value["channel"]
        out.append((value["channel"], value["status"], value["reason"]))
    return out


def test_reported_outage_lost_heartbeat_and_recovery(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    policy = tmp_path / "channels.yaml"
    policy.write_text("heartbeatSilenceSeconds: 6\n")
    worker = worker_factory(
        cim_channel_policy=str(policy),
        cim_channel_tick_seconds="0.5",
        cim_clock="live",
        cim_log_format="json",
    )
    health_topic = topics["channel-health"].name
    code, body = worker.get("/channelStatus")
    assert (code, orjson.loads(body)) == (200, [])
    assert worker.get("/channelStatus/fax")[0] == 400
    assert worker.get("/channelStatus/voice")[0] == 404

    # A trunk reports down: voice is down, on the topic, in the API and in the metrics.
    start = now_ms()
    asyncio.run(
        produce(kafka_bootstrap, health_topic, [health("voice", "trunk-1", "down", start, 1)])
    )

    def voice_down() -> None:
        body = status_of(worker, "voice")
        assert (body["status"], body["reason"]) == ("down", "reported")
        assert body["components"] == {"trunk-1": "down"}

    eventually(voice_down)
    # the stage's log line carries the ids of the record that changed the status
    lines = [orjson.loads(x) for x in worker.tail(400).splitlines() if x.startswith("{")]
    (logged,) = [x for x in lines if x["message"].startswith("channel voice is down")]
    assert (logged["stage"], logged["event_id"]) == ("channels", "h-trunk-1-1")
    assert logged["topic"] == topics["ingested-health"].name
    assert metric(worker, 'cim_channel_status{channel="voice",status="down"}') == 1.0
    assert metric(worker, 'cim_channel_status{channel="voice",status="up"}') == 0.0
    assert metric(worker, 'cim_channel_health_reports_total{channel="voice",status="down"}') == 1.0

    # A chat gateway sends heartbeats, then stops: heartbeat-lost after the silence.
    beats = [health("chat", "chat-gw", None, now_ms(), n) for n in range(2)]
    asyncio.run(produce(kafka_bootstrap, health_topic, beats))

    def chat_lost() -> None:
        body = status_of(worker, "chat")
        assert (body["status"], body["reason"]) == ("down", "heartbeat-lost"), body
        assert "no heartbeat" in body["detail"]

    eventually(chat_lost)
    assert metric(worker, 'cim_channel_heartbeats_total{channel="chat"}') == 2.0

    # Both come back.
    back = [
        health("chat", "chat-gw", None, now_ms(), 3),
        health("voice", "trunk-1", "up", now_ms(), 4),
    ]
    asyncio.run(produce(kafka_bootstrap, health_topic, back))
    eventually(lambda: status_of(worker, "chat")["status"] == "up" or _fail())
    eventually(lambda: status_of(worker, "voice")["status"] == "up" or _fail())
    code, body = worker.get("/channelStatus")
    assert [s["channel"] for s in orjson.loads(body)] == ["chat", "voice"]

    history = statuses_on_topic(kafka_bootstrap, topics)
    assert [h for h in history if h[0] == "voice"] == [
        ("voice", "down", "reported"),
        ("voice", "up", "ok"),
    ]
    assert [h for h in history if h[0] == "chat"] == [
        ("chat", "up", "ok"),
        ("chat", "down", "heartbeat-lost"),
        ("chat", "up", "ok"),
    ]


def _fail() -> bool:
    raise AssertionError("not yet")


def arrivals(per_minute: list[int], first_minute: int) -> list[Record]:
    records: list[Record] = []
    for i, count in enumerate(per_minute):
        for n in range(count):
            at = T + (first_minute + i) * 60_000 + n * (50_000 // max(count, 1))
            iid = f"call-{first_minute + i}-{n}"
            data = {"interactionId": iid, "contact": {"phone": "+447700900123"}}
            records.append((iid.encode(), cloud_event("cim.voice.offered", data, iid, iso(at)), []))
    return records


def test_a_traffic_drop_degrades_the_channel_on_event_time(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    policy = tmp_path / "channels.yaml"
    policy.write_text(
        "traffic: {warmupMinutes: 3, consecutiveMinutes: 2, minimumBaseline: 5,"
        " closeAfterSeconds: 0}\n"
    )
    worker = worker_factory(
        cim_channel_policy=str(policy), cim_channel_tick_seconds="0.5", cim_clock="event"
    )
    channel_topic = topics["channel-events"].name
    counted = 'cim_channel_arrivals_total{channel="voice"}'
    # Six busy minutes, then two almost silent ones; once all are counted, one arrival two
    # minutes later closes them (the stage runs on event time: minutes close as it advances).
    asyncio.run(produce(kafka_bootstrap, channel_topic, arrivals([8] * 6 + [1, 1], 0)))
    eventually(lambda: metric(worker, counted) == 50.0 or _fail())
    asyncio.run(produce(kafka_bootstrap, channel_topic, arrivals([1], 9)))

    def dropped() -> None:
        body = status_of(worker, "voice")
        assert (body["status"], body["reason"]) == ("degraded", "traffic-drop"), body

    eventually(dropped)
    assert metric(worker, counted) == 51.0
    # Traffic comes back: the next closed minute at the baseline brings the channel up.
    asyncio.run(produce(kafka_bootstrap, channel_topic, arrivals([8], 10)))
    eventually(lambda: metric(worker, counted) == 59.0 or _fail())
    assert status_of(worker, "voice")["status"] == "degraded"
    asyncio.run(produce(kafka_bootstrap, channel_topic, arrivals([1], 11)))
    eventually(lambda: status_of(worker, "voice")["status"] == "up" or _fail())


def test_heartbeat_watch_survives_a_crash(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    """The silence is measured from the table: after SIGKILL, a successor with an empty
    disk recovers it from the changelog and still declares the lost heartbeat."""
    policy = tmp_path / "channels.yaml"
    policy.write_text("heartbeatSilenceSeconds: 20\n")
    env = {"cim_channel_policy": str(policy), "cim_channel_tick_seconds": "0.5"}
    first = worker_factory("w1", **env)
    health_topic = topics["channel-health"].name
    beat = [health("sms", "sms-gw", None, now_ms(), 1)]
    asyncio.run(produce(kafka_bootstrap, health_topic, beat))
    eventually(lambda: status_of(first, "sms")["status"] == "up" or _fail())
    first.kill()
    second = worker_factory("w2", **env)  # a fresh data folder: the changelog is the state

    def lost() -> None:
        body = status_of(second, "sms")
        assert (body["status"], body["reason"]) == ("down", "heartbeat-lost"), body

    eventually(lost, timeout=120)
    history = [h for h in statuses_on_topic(kafka_bootstrap, topics) if h[0] == "sms"]
    assert history[0] == ("sms", "up", "ok") and history[-1] == ("sms", "down", "heartbeat-lost")
