"""Publish a business policy at run time: validate the file here, then write it to its
compacted policy topic (``cim.routing.policy.v1``), where every worker picks it up."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from interaction_streams.contract.routing import PolicyDocument
from interaction_streams.contract.topics import TopicContract
from interaction_streams.domain.routing.policy import load_routing_policy
from interaction_streams.kafka_options import producer_options
from interaction_streams.settings import KafkaSettings, Settings
from interaction_streams.yamlfile import read_text


def routing_policy_document(path: Path, now: datetime | None = None) -> PolicyDocument:
    """The document of a policy file; ``YamlFileError`` (file, line, reason) if it is bad."""
    policy = load_routing_policy(path)
    return PolicyDocument(
        name="routing",
        version=policy.version,
        source=str(path),
        text=read_text(path),
        published_at=now or datetime.now(UTC),
    )


async def publish_routing_policy(
    path: Path, bootstrap: str | None = None, settings: Settings | None = None
) -> int:
    """Validate ``path`` and publish it; the offset it was written at."""
    document = routing_policy_document(path)
    settings = settings or Settings()
    kafka = KafkaSettings(bootstrap_servers=bootstrap) if bootstrap else settings.kafka
    contract = TopicContract.load(settings.topics_file, settings.topic_prefix)
    producer = AIOKafkaProducer(**producer_options(kafka))
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            contract["routing-policy"].name,
            key=orjson.dumps(document.name),
            value=document.model_dump_json(by_alias=True, exclude_none=True).encode(),
        )
        return int(sent.offset)
    finally:
        await producer.stop()
