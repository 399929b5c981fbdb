"""The ingest stage on the real broker, driven by a worker process as in production."""

from __future__ import annotations

import asyncio
import base64
import random
import re
import shutil
import time
from collections import Counter

import orjson
import pytest

from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import Record, cloud_event, produce, read_topic
from tests.conftest import WorkerFactory

pytestmark = pytest.mark.kafka

T0 = 1_795_683_600  # 2026-11-26T09:00:00Z


def at(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + second))


def channel(n: int, kind: str = "cim.interaction.note.added") -> Record:
    interaction = f"call-{n % 37}"
    data = {"interactionId": interaction, "text": f"note {n}"}
    return interaction.encode(), cloud_event(kind, data, f"evt-{n}", at(n)), []


def binary_mode(n: int) -> Record:
    interaction = f"chat-{n % 11}"
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", f"evt-{n}".encode()),
        ("ce_source", b"/sample/platform"),
        ("ce_type", b"cim.interaction.message.received"),
        ("ce_time", at(n).encode()),
        ("content-type", b"application/json"),
    ]
    data = orjson.dumps({"interactionId": interaction, "messageId": f"m-{n}"})
    return interaction.encode(), data, headers


def metric(body: bytes, name: str, **labels: str) -> float:
    total = 0.0
    for line in body.decode().splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_valid_event_is_accepted_and_keyed_for_the_interaction_stage(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    worker = worker_factory()
    raw = cloud_event(
        "cim.voice.offered",
        {"interactionId": "call-1", "contact": {"phone": "+442079460018"}},
        "evt-1",
        "2026-11-26T10:00:00+01:00",
    )
    asyncio.run(produce(kafka_bootstrap, topics["channel-events"].name, [(b"x", raw, [])]))
    out = asyncio.run(read_topic(kafka_bootstrap, topics["ingested-channel"].name, 1))
    assert len(out) == 1
    assert out[0].key == b'"call-1"'
    assert orjson.loads(out[0].value or b"") == {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "/sample/platform",
        "type": "cim.voice.offered",
        "time": "2026-11-26T09:00:00.000Z",
        "datacontenttype": "application/json",
        "data": {
            "interactionId": "call-1",
            "routingPool": "default",
            "contact": {"phone": "+442079460018"},
            "direction": "inbound",
        },
    }
    status, body = worker.get("/metrics")
    assert status == 200
    assert metric(body, "cim_events_in_total", type="cim.voice.offered") == 1
    assert worker.get("/health")[0] == 200 and worker.get("/ready")[0] == 200


def test_thousand_mixed_events_give_exactly_the_expected_outputs(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    rng = random.Random(7)
    valid = [channel(n) for n in range(500)] + [binary_mode(n) for n in range(500, 700)]
    agents: list[Record] = [
        (
            f"a{n}".encode(),
            cloud_event(
                "cim.agent.presence.changed",
                {"agentId": f"a{n}", "routingPool": f"pool-{n % 3}", "presence": "available"},
                f"evt-{n}",
                at(n),
            ),
            [],
        )
        for n in range(700, 800)
    ]
    invalid: list[tuple[str, Record]] = [
        ("unreadable", (b"k", b"\x00garbage", [])),
        ("invalid-envelope", (b"k", b'{"specversion": "1.0", "id": "x"}', [])),
        ("unknown-type", channel(900, "cim.voice.teleported")),
        (
            "wrong-topic",
            (b"k", cloud_event("cim.agent.logged-out", {"agentId": "a"}, "w", at(1)), []),
        ),
        (
            "invalid-data",
            (b"k", cloud_event("cim.interaction.queued", {"interactionId": "c"}, "q", at(1)), []),
        ),
    ] * 20
    duplicates = rng.sample(valid, 100)
    stream = valid + duplicates + [r for _, r in invalid]
    rng.shuffle(stream)
    # Duplicates must come after their original for "first wins"; shuffle keeps both, so
    # the expected output is simply one copy of each valid event.
    worker = worker_factory()
    channel_topic = topics["channel-events"].name
    asyncio.run(produce(kafka_bootstrap, channel_topic, stream))
    asyncio.run(produce(kafka_bootstrap, topics["agent-events"].name, agents))

    out = asyncio.run(read_topic(kafka_bootstrap, topics["ingested-channel"].name, len(valid)))
    ids = Counter(orjson.loads(r.value or b"")["id"] for r in out)
    assert len(out) == len(valid), "every valid event exactly once"
    assert set(ids) == {f"evt-{n}" for n in range(700)} and max(ids.values()) == 1
    for r in out:  # keyed by interaction, so one interaction's events share a partition
        assert r.key == orjson.dumps(orjson.loads(r.value or b"")["data"]["interactionId"])

    pools = asyncio.run(read_topic(kafka_bootstrap, topics["ingested-agent"].name, 100))
    assert len(pools) == 100
    assert {r.key for r in pools} == {b'"pool-0"', b'"pool-1"', b'"pool-2"'}

    letters = asyncio.run(read_topic(kafka_bootstrap, topics["deadletter"].name, len(invalid)))
    assert len(letters) == len(invalid)
    bodies = [orjson.loads(r.value or b"") for r in letters]
    assert Counter(b["reason"] for b in bodies) == Counter(reason for reason, _ in invalid)
    originals = Counter(base64.b64decode(b["valueBase64"]) for b in bodies)
    assert originals == Counter(r[1] for _, r in invalid)
    assert all(b["sourceTopic"] == channel_topic for b in bodies)

    _, body = worker.get("/metrics")
    assert metric(body, "cim_duplicates_dropped_total") == 100
    assert metric(body, "cim_dead_letters_total") == 100
    assert metric(body, "cim_dead_letters_total", reason="wrong-topic") == 20
    assert metric(body, "cim_events_in_total", topic=channel_topic) == len(stream)
    assert metric(body, "cim_events_in_total", type="unknown") == 60  # no type, or not ours
    assert re.search(rb'cim_processing_seconds_count\{stage="ingest"\} 1[0-9]{3}\.0', body)


def test_restarted_worker_still_drops_events_it_saw_before_a_sigkill(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: object
) -> None:
    source = topics["channel-events"].name
    first = [channel(n) for n in range(200)]
    worker = worker_factory("w1")
    asyncio.run(produce(kafka_bootstrap, source, first))
    assert (
        len(asyncio.run(read_topic(kafka_bootstrap, topics["ingested-channel"].name, 200))) == 200
    )
    time.sleep(3)  # let the changelog and the offsets reach the broker (commit interval 1 s)
    worker.kill()

    # Lose the local RocksDB too: the de-duplication state must come back from its changelog.
    shutil.rmtree(worker.data_dir)
    restarted = worker_factory("w1")
    again = first[:50] + [channel(n) for n in range(200, 230)]
    asyncio.run(produce(kafka_bootstrap, source, again))
    out = asyncio.run(read_topic(kafka_bootstrap, topics["ingested-channel"].name, 230))
    ids = Counter(orjson.loads(r.value or b"")["id"] for r in out)
    assert len(out) == 230 and max(ids.values()) == 1
    _, body = restarted.get("/metrics")
    assert metric(body, "cim_duplicates_dropped_total") == 50
