"""How late do escalation timers fire in live mode? (``python -m
interaction_streams.bench.escalation_latency``)

One worker with ``CIM_CLOCK=live`` on fresh topics; ``--calls`` calls queue at once with an
answer target of ``--target`` seconds and nobody answers. For each L1 escalation the lag is
the Kafka timestamp of the record minus its due time (the record's ``at``). Prints the figures
and writes them to ``--out`` as JSON. A measurement, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import orjson

from interaction_streams.admin.topics import apply_topics
from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import WorkerProcess, cloud_event, produce, read_topic
from interaction_streams.settings import KafkaSettings

POLICY = """
version: bench
warningLeadSeconds: 0
answerTargets: [{{queue: "*", seconds: {target}}}]
answerLevels: [{{level: L1}}]
"""


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


async def _run(bootstrap: str, calls: int, target: float, workdir: Path) -> dict[str, float]:
    prefix = f"b{uuid.uuid4().hex[:8]}."
    contract = TopicContract.load(prefix=prefix)
    await apply_topics(contract, KafkaSettings(bootstrap_servers=bootstrap), False, False)
    policy = workdir / "escalation.yaml"
    policy.write_text(POLICY.format(target=target))
    worker = WorkerProcess(
        bootstrap,
        f"bench-{uuid.uuid4().hex[:6]}",
        prefix,
        workdir / "data",
        extra_env={"CIM_CLOCK": "live", "CIM_ESCALATION_POLICY": str(policy)},
    ).start()
    try:
        now = int(time.time() * 1000)
        records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = []
        for n in range(calls):
            iid = f"call-{n}"
            for kind, at in (("voice.offered", now), ("interaction.queued", now + 1)):
                body = {"interactionId": iid, "routingPool": "p1", "queue": "q"}
                event = cloud_event(f"cim.{kind}", body, f"{iid}-{kind}", _iso(at))
                records.append((iid.encode(), event, []))
        await produce(bootstrap, contract["channel-events"].name, records)
        got = await read_topic(bootstrap, contract["escalations"].name, calls, 3.0, 120.0 + target)
        lags = []
        for record in got:
            value = orjson.loads(record.value)
            if value.get("level") == "L1" and value["kind"] == "escalated":
                due = datetime.fromisoformat(value["at"]).timestamp() * 1000
                lags.append((record.timestamp - due) / 1000)
    finally:
        worker.stop()
    lags.sort()
    return {
        "calls": calls,
        "fired": len(lags),
        "lag_p50_seconds": statistics.median(lags) if lags else float("nan"),
        "lag_p95_seconds": lags[int(0.95 * (len(lags) - 1))] if lags else float("nan"),
        "lag_max_seconds": lags[-1] if lags else float("nan"),
        "lag_min_seconds": lags[0] if lags else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--target", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=Path("bench-results/escalation-latency.json"))
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(_run(bootstrap, args.calls, args.target, Path(tmp)))
    print(json.dumps(figures, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
