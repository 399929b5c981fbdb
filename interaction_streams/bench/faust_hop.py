"""The Faust one-hop ceiling: the rate of one Faust agent that does nothing but consume a record
and send it on (``await topic.send`` per record, the same producer settings as the worker).

Every stage of the pipeline is at least such a hop, so this rate bounds what any stage, and
the pipeline divided by its hops per channel event, can reach on the machine. The pipeline
benchmark measures it in the same run as the raw aiokafka ceiling.

    python -m interaction_streams.bench.faust_hop  (a worker, configured by FAUST_HOP_* vars)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer

from interaction_streams.bench.context import end_offsets

PRODUCER_BATCH_BYTES = 1024 * 1024  # as the worker (interaction_streams.stream.app)


@dataclass(frozen=True)
class HopCeiling:
    records: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def _run_worker() -> None:
    """The hop itself, in its own process (as a stage runs in the worker's)."""
    import faust

    bootstrap = os.environ["FAUST_HOP_BOOTSTRAP"]
    source, sink = os.environ["FAUST_HOP_SOURCE"], os.environ["FAUST_HOP_SINK"]
    app = faust.App(
        os.environ["FAUST_HOP_APP"],
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=os.environ["FAUST_HOP_DATADIR"],
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        topic_allow_declare=False,
    )
    source_topic = app.topic(source, key_serializer="raw", value_serializer="raw")
    sink_topic = app.topic(sink, key_serializer="raw", value_serializer="raw")

    async def hop(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            await sink_topic.send(key=message.key, value=message.value, partition=message.partition)

    app.agent(source_topic, name="hop")(hop)
    worker = faust.Worker(app, loglevel="warning")
    worker.spinner = None  # (see interaction_streams.cli: the spinner logs at DEBUG)
    worker.execute_from_commandline()


@contextlib.contextmanager
def hop_process(bootstrap: str, source: str, sink: str) -> Iterator[subprocess.Popen[bytes]]:
    """The hop ``source`` → ``sink`` (``source`` read from the start) in a child process."""
    datadir = tempfile.mkdtemp(prefix="faust-hop-")
    env = {
        **os.environ,
        "FAUST_HOP_BOOTSTRAP": bootstrap,
        "FAUST_HOP_SOURCE": source,
        "FAUST_HOP_SINK": sink,
        "FAUST_HOP_APP": f"bench-faust-hop-{uuid.uuid4().hex[:6]}",
        "FAUST_HOP_DATADIR": datadir,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "interaction_streams.bench.faust_hop", "worker", "-l", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        if process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(datadir, ignore_errors=True)


def hop_failure(process: subprocess.Popen[bytes], what: str) -> RuntimeError:
    ended = process.poll() is not None and process.stderr is not None
    err = process.stderr.read() if ended and process.stderr else b""
    return RuntimeError(f"the Faust hop {what}: {err.decode()[-500:]}")


async def faust_hop_ceiling(
    bootstrap: str, source: str, sink: str, expected: int, timeout: float = 300.0
) -> HopCeiling:
    """Run the hop on ``source`` → ``sink`` (an empty topic with as many partitions) until
    ``expected`` records reached ``sink``; the rate from the first to the last record's broker
    timestamp (no start-up in it)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        with hop_process(bootstrap, source, sink) as process:
            ends = await end_offsets(consumer, [sink])
            consumer.assign(list(ends))
            await consumer.seek_to_beginning(*ends)
            first = last = None
            count = 0
            deadline = time.monotonic() + timeout
            while count < expected:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise hop_failure(process, f"moved {count} of {expected} records")
                batch = await consumer.getmany(timeout_ms=500, max_records=20_000)
                for records in batch.values():
                    for r in records:
                        first = r.timestamp if first is None else min(first, r.timestamp)
                        last = r.timestamp if last is None else max(last, r.timestamp)
                    count += len(records)
        return HopCeiling(count, ((last or 0) - (first or 0)) / 1000)
    finally:
        await consumer.stop()


if __name__ == "__main__":
    _run_worker()
