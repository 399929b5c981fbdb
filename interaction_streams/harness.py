"""Run workers as child processes and talk to Kafka: shared by the demo, the tests and benches."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, TopicPartition


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class WorkerProcess:
    """``interaction-streams worker`` in a child process, configured by environment variables."""

    bootstrap: str
    app_id: str
    topic_prefix: str
    data_dir: Path
    web_port: int = field(default_factory=free_port)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "CIM_APP_ID": self.app_id,
                "CIM_TOPIC_PREFIX": self.topic_prefix,
                "CIM_DATA_DIR": str(self.data_dir),
                "CIM_WEB_PORT": str(self.web_port),
                "CIM_LOG_FORMAT": "text",
            }
        )
        env.update(self.extra_env)
        return env

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self, ready_timeout: float = 90.0) -> WorkerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path or self.data_dir / "worker.log"
        self._log = open(log_path, "ab")  # noqa: SIM115 (kept open for the child's life)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "interaction_streams", "worker"],
            env=self.env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}: {self.tail()}")
            if self.get("/ready")[0] == 200:
                return
            time.sleep(0.25)
        raise TimeoutError(f"worker not ready after {timeout} s: {self.tail()}")

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError):
            return 0, b""

    def tail(self, lines: int = 30) -> str:
        path = self.log_path or self.data_dir / "worker.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> None:
        """Stop cleanly (SIGTERM), SIGKILL after ``timeout``."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self._signal(signal.SIGKILL, 10.0)

    def _signal(self, sig: signal.Signals, timeout: float) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        if self._log is not None:
            self._log.close()
        self.process = None


Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


async def produce(bootstrap: str, topic: str, records: Iterable[Record]) -> int:
    """Send (key, value, headers) records in order and wait for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, key=k, value=v, headers=h or None) for k, v, h in records
        ]
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


async def read_topic(
    bootstrap: str,
    topic: str,
    expected: int | None = None,
    idle_seconds: float = 3.0,
    timeout: float = 60.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read a topic from the start until ``expected`` records came (then ``idle_seconds``
    more, to catch extras) or, without ``expected``, until nothing new came for
    ``idle_seconds``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()  # the topic may be new to us
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_new = loop.time()
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=250)
            got = [r for rs in batch.values() for r in rs]
            if got:
                records.extend(got)
                last_new = loop.time()
            enough = expected is None or len(records) >= expected
            if enough and loop.time() - last_new >= idle_seconds:
                break
        return records
    finally:
        await consumer.stop()


def cloud_event(
    event_type: str,
    data: Mapping[str, object],
    event_id: str,
    time_iso: str,
    source: str = "/sample/platform",
) -> bytes:
    """A structured-mode CloudEvent, as a platform would publish it."""
    import orjson

    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": source,
            "type": event_type,
            "time": time_iso,
            "datacontenttype": "application/json",
            "data": dict(data),
        }
    )
