"""The routing stage on the wall clock (``CIM_CLOCK=live``, the production setting): in a quiet
pool, with no later event to move time on, an offer nobody answers still times out within
seconds of its deadline, although the general sweep (``CIM_SWEEP_INTERVAL_SECONDS``) is left
at its default of 30 s."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import cloud_event, produce, read_topic
from tests.conftest import WorkerFactory

pytestmark = pytest.mark.kafka


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def assignments(bootstrap: str, topics: TopicContract, expected: int) -> list[dict[str, Any]]:
    name = topics["work-assignments"].name
    rows = asyncio.run(read_topic(bootstrap, name, expected, 1.0, 60.0))
    return [orjson.loads(r.value or b"") for r in rows]


def test_an_unanswered_offer_times_out_on_the_wall_clock_in_a_quiet_pool(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory
) -> None:
    worker_factory(cim_clock="live", cim_routing_offer_timeout_seconds="2")
    pool = orjson.dumps("p1")
    login = cloud_event(
        "cim.agent.logged-in",
        {"agentId": "a1", "routingPool": "p1", "skills": {}},
        "a1-login",
        now_iso(),
    )
    asyncio.run(produce(kafka_bootstrap, topics["agent-events"].name, [(pool, login, [])]))
    enqueue = {
        "command": "enqueue",
        "interactionId": "c1",
        "routingPool": "p1",
        "time": now_iso(),
        "channel": "voice",
    }
    asyncio.run(
        produce(
            kafka_bootstrap, topics["routing-requests"].name, [(pool, orjson.dumps(enqueue), [])]
        )
    )
    offer = assignments(kafka_bootstrap, topics, 1)[0]
    assert offer["kind"] == "offer" and offer["agentId"] == "a1"
    deadline = datetime.fromisoformat(offer["deadline"].replace("Z", "+00:00")).timestamp()

    def timed_out() -> dict[str, Any] | None:
        rows = assignments(kafka_bootstrap, topics, 2)
        return next((r for r in rows if r["kind"] == "timeout"), None)

    limit = time.monotonic() + 20
    while (row := timed_out()) is None:
        assert time.monotonic() < limit, "the offer never timed out"
    # Decided by the routing timer (CIM_ROUTING_TICK_SECONDS, 1 s), not the 30 s sweep.
    at = datetime.fromisoformat(row["at"].replace("Z", "+00:00")).timestamp()
    assert deadline <= at < deadline + 3.0
    assert row["agentId"] == "a1" and row["interactionId"] == "c1"
