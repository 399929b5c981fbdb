"""`topics apply` on the real broker: creates what is missing, reports drift, destroys nothing."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka.admin import NewTopic

from interaction_streams.admin.topics import admin_client, apply_topics
from interaction_streams.contract.topics import TopicContract
from interaction_streams.settings import KafkaSettings

pytestmark = pytest.mark.kafka


async def _describe(kafka: KafkaSettings, names: list[str]) -> dict[str, int]:
    admin = admin_client(kafka)
    await admin.start()
    try:
        return {
            d["topic"]: len(d["partitions"])
            for d in await admin.describe_topics(names)
            if d["error_code"] == 0
        }
    finally:
        await admin.close()


def test_apply_creates_then_reports_ok_and_dry_run_changes_nothing(
    kafka_bootstrap: str, contract: TopicContract
) -> None:
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    dry = asyncio.run(apply_topics(contract, kafka, dry_run=True))
    assert sorted(dry.created) == sorted(t.name for t in contract)
    assert asyncio.run(_describe(kafka, [t.name for t in contract])) == {}

    first = asyncio.run(apply_topics(contract, kafka))
    assert sorted(first.created) == sorted(t.name for t in contract) and first.ok
    assert first.notes == ["the cluster has 1 broker(s): replication factor capped at 1"]
    partitions = asyncio.run(_describe(kafka, [t.name for t in contract]))
    assert partitions == {t.name: t.partitions for t in contract}

    second = asyncio.run(apply_topics(contract, kafka))
    assert second.created == [] and second.ok
    assert sorted(second.unchanged) == sorted(t.name for t in contract)


def test_drift_is_reported_not_repaired(kafka_bootstrap: str, contract: TopicContract) -> None:
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    wrong = contract["channel-events"].name

    async def create_wrong() -> None:
        admin = admin_client(kafka)
        await admin.start()
        try:
            await admin.create_topics(
                [NewTopic(wrong, 2, 1, topic_configs={"cleanup.policy": "compact"})]
            )
        finally:
            await admin.close()

    asyncio.run(create_wrong())
    deadline = time.monotonic() + 10
    while asyncio.run(_describe(kafka, [wrong])) != {wrong: 2} and time.monotonic() < deadline:
        time.sleep(0.1)
    report = asyncio.run(apply_topics(contract, kafka))
    assert not report.ok
    assert report.drift == [
        f"{wrong}: partitions 2, contract says 4; cleanup.policy=compact, contract says delete"
    ]
    assert asyncio.run(_describe(kafka, [wrong])) == {wrong: 2}  # left as it was
