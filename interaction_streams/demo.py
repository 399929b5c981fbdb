"""``make run``: local Kafka, the topics, one worker, the contact-center simulator for about a
minute with a live view of queues, agents and service level, and a closing report.

``sample_records`` and ``run_sample`` keep the earlier, smaller walk-through (a handful of
events, a malformed record and a duplicate) as ``interaction-streams demo --sample``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from interaction_streams.admin.topics import apply_topics
from interaction_streams.contract.events.registry import FAMILIES
from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import Record, WorkerProcess, cloud_event, produce, read_topic
from interaction_streams.settings import KafkaSettings

# Wide enough for the tables when the output is not a terminal (CI logs, pipes).
console = Console(width=None if sys.stdout.isatty() else 140)


def sample_records() -> dict[str, list[Record]]:
    """A call, a chat, an agent, a payment, a profile and a trunk report; one malformed
    record and one duplicate, keyed by topic id."""
    t = "2026-11-26T09:00:{:02d}.000Z".format
    call = {"interactionId": "call-1001", "routingPool": "north"}
    chat = {"interactionId": "chat-2001", "routingPool": "north"}

    def ev(kind: str, data: Mapping[str, object], n: int) -> Record:
        key = str(
            data.get("interactionId")
            or data.get("agentId")
            or data.get("partyId")
            or data.get("channel")
        ).encode()
        return key, cloud_event(kind, data, f"evt-{n}", t(n)), []

    offered = ev("cim.voice.offered", {**call, "contact": {"phone": "+44 20 7946 0018"}}, 1)
    return {
        "customer-profile": [
            ev(
                "cim.customer.profile.updated",
                {"partyId": "party-42", "tier": "gold", "phones": ["+442079460018"]},
                10,
            ),
        ],
        "channel-events": [
            offered,
            ev("cim.voice.ivr.started", call, 2),
            ev("cim.voice.ivr.completed", {**call, "selections": {"menu": "billing"}}, 3),
            ev("cim.interaction.queued", {**call, "queue": "billing"}, 4),
            ev("cim.interaction.answered", {**call, "agentId": "agent-7"}, 5),
            offered,  # the platform sent it again: dropped as a duplicate
            ev("cim.chat.started", {**chat, "contact": {"email": "ada@example.com"}}, 6),
            (b"chat-2001", b"{this is not json", []),  # malformed: dead-lettered
            ev("cim.interaction.ended", {**call, "endedBy": "customer"}, 7),
            ev(
                "cim.interaction.wrapup.completed",
                {**call, "agentId": "agent-7", "wrapUpCode": "paid"},
                12,
            ),
        ],
        "agent-events": [
            ev(
                "cim.agent.logged-in",
                {
                    "agentId": "agent-7",
                    "routingPool": "north",
                    "skills": {"billing": 4},
                    "capacity": {"voice": 1},
                },
                8,
            ),
        ],
        "business-events": [
            ev("cim.business.payment.overdue", {"partyId": "party-42", "daysOverdue": 12}, 9),
        ],
        "channel-health": [
            ev(
                "cim.channel.health.reported",
                {"channel": "voice", "component": "trunk-a", "status": "up"},
                11,
            ),
        ],
    }


@contextmanager
def kafka_for_demo(bootstrap: str | None) -> Iterator[str]:
    bootstrap = bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        yield bootstrap
        return
    from interaction_streams.localkafka import (
        LocalKafka,
        LocalKafkaConfig,
        ensure_jars,
        kafka_version,
    )

    version = kafka_version()
    with console.status(f"Fetching Apache Kafka {version} jars (Maven Central, first run only)..."):
        ensure_jars()
    with console.status(f"Starting Apache Kafka {version} (KRaft, one node)..."):
        kafka = LocalKafka(LocalKafkaConfig())
        address = kafka.start()
    console.print(f"[green]Kafka ready[/] at {address} in {kafka.startup_seconds:.1f} s")
    try:
        yield address
    finally:
        with console.status("Stopping Kafka..."):
            kafka.stop()


@contextmanager
def demo_worker(
    address: str, env: Mapping[str, str], include_planned: bool = True
) -> Iterator[tuple[TopicContract, WorkerProcess]]:
    """Topics (under a fresh prefix on a broker we did not start) and one ready worker."""
    workdir = Path(tempfile.mkdtemp(prefix="interaction-streams-demo-"))
    prefix = f"demo-{uuid.uuid4().hex[:6]}."
    contract = TopicContract.load(prefix=prefix)
    try:
        settings = KafkaSettings(bootstrap_servers=address)
        report = asyncio.run(apply_topics(contract, settings, include_planned=include_planned))
        console.print(f"Topics: {len(report.created)} created, {len(report.unchanged)} present")
        worker = WorkerProcess(
            address, f"cim-{prefix[:-1]}", prefix, workdir / "worker", extra_env=dict(env)
        )
        with console.status("Starting a worker and waiting until it is ready..."):
            started = time.monotonic()
            worker.start()
        console.print(
            f"[green]Worker ready[/] in {time.monotonic() - started:.1f} s ({worker.url}/metrics)"
        )
        try:
            yield contract, worker
        finally:
            with console.status("Stopping the worker..."):
                worker.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_demo(
    bootstrap: str | None = None,
    seconds: float = 60.0,
    speed: float = 10.0,
    scenario: str = "multichannel-day",
    seed: int = 1,
) -> int:
    """The simulator against one worker for ``seconds`` of wall time; 0 when the product
    routed the traffic (offers made, accepted and assigned; the malformed record
    dead-lettered)."""
    from interaction_streams.simulator.run import policy_of, print_report, simulate
    from interaction_streams.simulator.scenario import load_scenario

    loaded = load_scenario(scenario)
    env = {
        "CIM_CLOCK": "event",  # the product runs on the simulated time of the events
        "CIM_SWEEP_INTERVAL_SECONDS": "1",
        # x speed: a second of pipeline latency is `speed` simulated seconds of ringing.
        "CIM_ROUTING_OFFER_TIMEOUT_SECONDS": str(max(20, int(6 * speed))),
    }
    if loaded.routing_policy is not None:
        env["CIM_ROUTING_POLICY"] = str(loaded.routing_policy)
    with kafka_for_demo(bootstrap) as address, demo_worker(address, env) as (contract, worker):
        # One unreadable record, as a faulty platform might send: dead-lettered, never stalls.
        asyncio.run(produce(address, contract["channel-events"].name, [(b"x", b"{not json", [])]))
        console.print(
            f"Simulating [bold]{loaded.scenario.name}[/] (seed {seed}) at x{speed:g} for "
            f"{seconds:g} s: {loaded.scenario.description}"
        )
        sim, board, summary = simulate(
            loaded,
            seed,
            speed,
            address,
            contract,
            seconds,
            console,
            policy=policy_of(loaded),
            group_id=worker.app_id,
            from_beginning=True,  # this run's own topics: the malformed record's letter too
        )
        print_report(console, sim, board, summary)
        _status, body = worker.get("/metrics")
        dead = sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.decode().splitlines()
            if line.startswith("cim_dead_letters_total{")
        )
        console.print(f"Worker metrics: {dead:g} dead letters (cim_dead_letters_total)")
    ok = board.assignments["offer"] > 0 and board.assignments["assign"] > 0 and board.answered > 0
    ok = ok and sum(board.dead_letters.values()) >= 1
    verdict = "[green]OK[/]" if ok else "[red]UNEXPECTED[/]"
    console.print(f"{verdict}: the product routed the simulated traffic")
    return 0 if ok else 1


def run_sample(bootstrap: str | None = None) -> int:
    """The earlier walk-through: a small sample, a malformed record and a duplicate."""
    with (
        kafka_for_demo(bootstrap) as address,
        demo_worker(address, {"CIM_CLOCK": "event"}, include_planned=False) as (contract, worker),
    ):
        return asyncio.run(_exchange(address, contract, worker))


async def _exchange(address: str, contract: TopicContract, worker: WorkerProcess) -> int:
    samples = sample_records()
    sent = 0
    for topic_id, records in samples.items():
        sent += await produce(address, contract[topic_id].name, records)
        if topic_id == "customer-profile":  # let the contact index learn the caller first
            await read_topic(address, contract["contact-index"].name, 1, 0.5, 20)
    console.print(f"Sent {sent} records (one malformed, one duplicate)")
    expected_out = sent - 2
    table = Table(title="Accepted, de-duplicated and re-keyed for the next stage")
    for column in ("stage topic", "key", "event type", "event time"):
        table.add_column(column)
    accepted = 0
    with console.status("Reading the stage topics..."):
        for family in FAMILIES:
            topic = contract.ingested_for(family)
            for r in await read_topic(address, topic.name, idle_seconds=1.0, timeout=20):
                body = orjson.loads(r.value or b"{}")
                table.add_row(topic.spec.name, (r.key or b"").decode(), body["type"], body["time"])
                accepted += 1
        letters = await read_topic(address, contract["deadletter"].name, 1, 1.0, 20)
    console.print(table)
    dead = Table(title="Dead letters")
    for column in ("reason", "detail", "from", "original bytes"):
        dead.add_column(column)
    for r in letters:
        letter = orjson.loads(r.value or b"{}")
        original = base64.b64decode(letter.get("valueBase64") or "")
        dead.add_row(
            letter["reason"],
            letter["detail"],
            f"{letter['sourceTopic'].removeprefix(contract.prefix)}"
            f"[{letter['partition']}]@{letter['offset']}",
            repr(original),
        )
    console.print(dead)
    console.print(await _interactions_table(address, contract))
    _status, body = worker.get("/metrics")
    interesting = [
        line
        for line in body.decode().splitlines()
        if line.startswith(("cim_duplicates_dropped_total", "cim_dead_letters_total"))
    ]
    console.print("Metrics:\n  " + "\n  ".join(interesting))
    ok = accepted == expected_out and len(letters) == 1
    verdict = "[green]OK[/]" if ok else "[red]UNEXPECTED[/]"
    console.print(
        f"{verdict}: {sent} in, {accepted} accepted, 1 duplicate dropped, "
        f"{len(letters)} dead-lettered"
    )
    return 0 if ok else 1


async def _interactions_table(address: str, contract: TopicContract) -> Table:
    """The PartyInteractions as the last TMF683 event of each one describes them."""
    events = await read_topic(address, contract["party-interaction-events"].name, 1, 1.5, 20)
    latest: dict[str, dict[str, object]] = {}
    counts: dict[str, int] = {}
    for r in events:
        body = orjson.loads(r.value or b"{}")
        resource = body["event"]["partyInteraction"]
        latest[resource["id"]] = resource
        counts[resource["id"]] = counts.get(resource["id"], 0) + 1
    table = Table(title="PartyInteractions (TMF683), from cim.party-interaction.events.v1")
    for column in ("id", "channel", "status / subStatus", "parties", "timing", "events"):
        table.add_column(column)
    for interaction_id, r in sorted(latest.items()):
        channel = r["relatedChannel"][0]["channel"]["id"]  # type: ignore[index]
        parties = ", ".join(
            f"{p['partyOrPartyRole']['id']} ({p['role']})"
            for p in r["relatedParty"]  # type: ignore[attr-defined]
        )
        timing = r["timing"]
        spent = " ".join(
            f"{k.removesuffix('Ms')} {v / 1000:g}s"
            for k, v in timing.items()  # type: ignore[attr-defined]
            if k.endswith("Ms") and v
        )
        table.add_row(
            interaction_id,
            str(channel),
            f"{r['status']} / {r['subStatus']}",
            parties,
            spent,
            str(counts[interaction_id]),
        )
    return table
