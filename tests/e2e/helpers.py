"""What the event-time e2e tests (routing, escalation, guidance) share: a worker started with
its policy files on event time, channel events as a platform sends them, and the stage
topics written and read by topic id."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import Record, WorkerProcess, cloud_event, produce, read_topic
from tests.conftest import WorkerFactory

T = 1_795_683_600_000  # 2026-11-26T09:00:00Z, a Thursday
S = 1000


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def start_worker(
    worker_factory: WorkerFactory, tmp_path: Path, policies: Mapping[str, str], **env: str
) -> WorkerProcess:
    """A worker on event time (``CIM_CLOCK=event``, timers swept every 0.3 s); each policy's
    text is written to ``<name>.yaml`` in ``tmp_path`` and named by ``CIM_<NAME>_POLICY``."""
    files: dict[str, str] = {}
    for name, text in policies.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        files[f"cim_{name}_policy"] = str(path)
    return worker_factory(cim_clock="event", cim_sweep_interval_seconds="0.3", **files, **env)


def channel(kind: str, interaction: str, at_ms: int, **data: Any) -> Record:
    """A ``cim.<kind>`` channel event of the interaction in routing pool p1."""
    body = {"interactionId": interaction, "routingPool": "p1", **data}
    event = cloud_event(f"cim.{kind}", body, f"c-{interaction}-{kind}-{at_ms}", iso(at_ms))
    return interaction.encode(), event, []


def send(bootstrap: str, topics: TopicContract, topic_id: str, records: list[Record]) -> None:
    asyncio.run(produce(bootstrap, topics[topic_id].name, records))


def read(
    bootstrap: str, topics: TopicContract, topic_id: str, expected: int, idle: float = 2.0
) -> list[dict[str, Any]]:
    """The topic's JSON values from its start, once ``expected`` of them came and then nothing
    new for ``idle`` seconds (after 90 s, whatever came)."""
    got = asyncio.run(read_topic(bootstrap, topics[topic_id].name, expected, idle, 90.0))
    return [orjson.loads(r.value or b"") for r in got]


def clock(bootstrap: str, topics: TopicContract, at_ms: int) -> None:
    """Move event time: a new call of another interaction."""
    send(bootstrap, topics, "channel-events", [channel("voice.offered", f"tick-{at_ms}", at_ms)])
