"""The local single-node Kafka broker (interaction_streams.localkafka), against real JVMs."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from interaction_streams.localkafka import (
    LocalKafka,
    LocalKafkaConfig,
    LocalKafkaError,
    add_kafka_commands,
    kafka_version,
    stop_detached,
)

TOPIC = "localkafka-test"


async def _create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def _produce(bootstrap: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, key=key, value=value)
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, want: int, timeout: float = 20.0) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        TOPIC, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    got: list[tuple[bytes, bytes]] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(got) < want and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            got += [(m.key, m.value) for msgs in batches.values() for m in msgs]
    finally:
        await consumer.stop()
    return got


def _gone(pid: int) -> bool:
    """No such process, or only a zombie (exited; this test process may not have reaped it,
    as the detached broker was started from it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.kafka
async def test_start_produce_consume_stop(tmp_path: Path) -> None:
    # Called from inside the running (session) event loop on purpose.
    kafka = LocalKafka(LocalKafkaConfig(data_dir=tmp_path / "data"))
    try:
        bootstrap = kafka.start()
        pid = kafka.pid
        assert bootstrap == kafka.bootstrap_servers
        assert re.fullmatch(r"127\.0\.0\.1:\d+", bootstrap)
        assert kafka.startup_seconds > 0
        assert pid is not None and kafka.is_running()
        await _create_topic(bootstrap, TOPIC)
        await _produce(bootstrap, b"k", b"hello")
        assert await _read_all(bootstrap, 1) == [(b"k", b"hello")]
    finally:
        kafka.stop()
    assert not kafka.is_running()
    assert kafka.pid is None and _gone(pid)
    assert (tmp_path / "data" / "logs" / "server.log").stat().st_size > 0


@pytest.mark.kafka
async def test_data_survives_sigkill_and_restart(tmp_path: Path) -> None:
    config = LocalKafkaConfig(data_dir=tmp_path / "data")
    kafka = LocalKafka(config)
    try:
        bootstrap = kafka.start()
        await _create_topic(bootstrap, TOPIC)
        await _produce(bootstrap, b"before", b"kill")
        pid = kafka.pid
        assert pid is not None
        kafka.kill()
        assert not kafka.is_running() and _gone(pid)

        again = LocalKafka(config)  # a new instance on the same data dir
        try:
            assert again.start() == bootstrap  # port recorded in the data dir
            assert await _read_all(bootstrap, 1) == [(b"before", b"kill")]
        finally:
            again.stop()
    finally:
        kafka.stop()
    assert (tmp_path / "data" / "kraft" / "meta.properties").is_file()


def test_missing_java_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(LocalKafkaError, match=r"no `java` is on PATH.*JAVA_HOME"):
        LocalKafka(LocalKafkaConfig(data_dir=tmp_path / "data")).start()

    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-such-jdk"))
    with pytest.raises(LocalKafkaError, match=r"JAVA_HOME is .*no-such-jdk.* not an executable"):
        LocalKafka(LocalKafkaConfig(data_dir=tmp_path / "data")).start()


def test_old_java_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jdk = tmp_path / "jdk11"
    (jdk / "bin").mkdir(parents=True)
    java = jdk / "bin" / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(jdk))
    with pytest.raises(LocalKafkaError, match=r"is Java 11, but .* needs Java 17 or newer"):
        LocalKafka(LocalKafkaConfig(data_dir=tmp_path / "data")).start()


def test_kafka_version_comes_from_the_pom() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", kafka_version())


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="interaction-streams")
    add_kafka_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


@pytest.mark.kafka
def test_detached_cli_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = str(tmp_path / "state.json")
    data = str(tmp_path / "data")
    try:
        assert _cli("kafka", "start", "--data-dir", data, "--state-file", state) == 0
        out = capsys.readouterr().out.strip().splitlines()
        bootstrap = out[-1]
        assert re.fullmatch(r"127\.0\.0\.1:\d+", bootstrap)
        assert f"ready at {bootstrap}" in out[0]

        assert _cli("kafka", "start", "--data-dir", data, "--state-file", state) == 0
        out = capsys.readouterr().out.strip().splitlines()
        assert "already running" in out[0] and out[-1] == bootstrap

        assert _cli("kafka", "status", "--state-file", state) == 0
        assert capsys.readouterr().out.strip().splitlines()[-1] == bootstrap
        pid = int(json.loads(Path(state).read_text())["pid"])
    finally:
        assert _cli("kafka", "stop", "--state-file", state) == 0
    assert "Kafka stopped" in capsys.readouterr().out
    assert _cli("kafka", "status", "--state-file", state) == 1
    assert capsys.readouterr().out.strip() == "not running"
    assert _cli("kafka", "stop", "--state-file", state) == 0  # nothing to stop is fine
    assert stop_detached(Path(state)) is None
    assert _gone(pid)
    assert os.path.isdir(data)  # the CLI keeps its data dir
