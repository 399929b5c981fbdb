"""``topics apply``: create what is missing, report drift, never destroy data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from interaction_streams.contract.topics import Topic, TopicContract
from interaction_streams.kafka_options import client_options
from interaction_streams.settings import KafkaSettings


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)  # "topic: what differs"
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.drift

    def lines(self, dry_run: bool) -> list[str]:
        verb = "would create" if dry_run else "created"
        out = [f"{verb:>12}  {name}" for name in self.created]
        out += [f"{'ok':>12}  {name}" for name in self.unchanged]
        out += [f"{'DRIFT':>12}  {what}" for what in self.drift]
        out += [f"{'note':>12}  {what}" for what in self.notes]
        return out


def admin_client(kafka: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**client_options(kafka))


async def apply_topics(
    contract: TopicContract,
    kafka: KafkaSettings,
    dry_run: bool = False,
    include_planned: bool = True,
) -> ApplyReport:
    """Create the contract's missing topics; compare existing ones with the contract."""
    report = ApplyReport()
    admin = admin_client(kafka)
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        existing = set(await admin.list_topics())
        wanted = [t for t in contract if include_planned or t.spec.status == "active"]
        missing = [t for t in wanted if t.name not in existing]
        present = [t for t in wanted if t.name in existing]
        if any(t.replication_factor > brokers for t in missing):
            report.notes.append(
                f"the cluster has {brokers} broker(s): replication factor capped at {brokers}"
            )
        if missing and not dry_run:
            response = await admin.create_topics([_new_topic(t, brokers) for t in missing])
            raced = _created_elsewhere(response)  # created since we listed: compare them
            present += [t for t in missing if t.name in raced]
            missing = [t for t in missing if t.name not in raced]
        report.created = [t.name for t in missing]
        if present:
            await _compare(admin, present, report)
    finally:
        await admin.close()
    return report


def _created_elsewhere(response: Any) -> set[str]:
    """Topics that already existed; any other error is raised."""
    existed = set()
    for name, code, *rest in response.topic_errors:
        if code == TopicAlreadyExistsError.errno:
            existed.add(name)
        elif code != 0:
            raise for_code(code)(f"cannot create {name}: {rest[0] if rest else ''}")
    return existed


def _new_topic(topic: Topic, brokers: int) -> NewTopic:
    return NewTopic(
        topic.name,
        num_partitions=topic.partitions,
        replication_factor=min(topic.replication_factor, brokers),
        topic_configs=topic.kafka_config(),
    )


async def _compare(admin: AIOKafkaAdminClient, topics: list[Topic], report: ApplyReport) -> None:
    described = {d["topic"]: d for d in await admin.describe_topics([t.name for t in topics])}
    resources = [ConfigResource(ConfigResourceType.TOPIC, t.name) for t in topics]
    configs: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.resources:
            _code, _msg, _type, name, entries = resource[:5]
            configs[name] = {e[0]: e[1] for e in entries}
    for topic in topics:
        problems = []
        partitions = len(described[topic.name]["partitions"])
        if partitions != topic.partitions:
            problems.append(f"partitions {partitions}, contract says {topic.partitions}")
        actual = configs.get(topic.name, {})
        for key, value in topic.kafka_config().items():
            if key in actual and actual[key] != value:
                problems.append(f"{key}={actual[key]}, contract says {value}")
        if problems:
            report.drift.append(f"{topic.name}: " + "; ".join(problems))
        else:
            report.unchanged.append(topic.name)
