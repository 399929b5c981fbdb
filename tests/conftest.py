"""One real Kafka broker per test session; every test gets its own topics and application id.

Broker order: KAFKA_BOOTSTRAP_SERVERS if set; else testcontainers' Kafka module when a
Docker daemon answers; else the project's local Apache Kafka (jars from Maven Central).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from interaction_streams.admin.topics import apply_topics
from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import WorkerProcess
from interaction_streams.settings import KafkaSettings


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    from interaction_streams.localkafka import LocalKafka, LocalKafkaConfig

    kafka = LocalKafka(LocalKafkaConfig())
    address = kafka.start()
    print(f"\nlocal Apache Kafka {kafka.version} at {address} in {kafka.startup_seconds:.1f} s")
    try:
        yield address
    finally:
        kafka.stop()


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def contract(topic_prefix: str) -> TopicContract:
    return TopicContract.load(prefix=topic_prefix)


@pytest.fixture
def topics(kafka_bootstrap: str, contract: TopicContract) -> TopicContract:
    """The contract's active topics, created on the broker under this test's prefix."""
    report = asyncio.run(
        apply_topics(contract, KafkaSettings(bootstrap_servers=kafka_bootstrap), False, False)
    )
    assert report.ok, report.drift
    return contract


WorkerFactory = Callable[..., WorkerProcess]


@pytest.fixture
def worker_factory(
    kafka_bootstrap: str, topics: TopicContract, tmp_path: Path
) -> Iterator[WorkerFactory]:
    """Start workers on this test's topics; all are stopped at the end of the test."""
    started: list[WorkerProcess] = []
    app_id = f"cim-{uuid.uuid4().hex[:8]}"

    def start(name: str = "w1", data_dir: Path | None = None, **env: str) -> WorkerProcess:
        worker = WorkerProcess(
            kafka_bootstrap,
            app_id,
            topics.prefix,
            data_dir or tmp_path / name,
            # A killed worker's partitions move to its successor after this silence.
            extra_env={
                "CIM_SESSION_TIMEOUT_SECONDS": "6",
                **{k.upper(): v for k, v in env.items()},
            },
        )
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()
