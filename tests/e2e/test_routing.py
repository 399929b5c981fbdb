"""The routing and assignment stage through Kafka: routing requests and agent events in, offers
on ``cim.work.assignments.v1`` and decisions on ``cim.routing.decisions.v1`` out. Event time
drives the timers (``CIM_CLOCK=event``): later events advance the clock."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from interaction_streams.contract.topics import TopicContract
from interaction_streams.harness import Record, WorkerProcess, cloud_event
from tests.conftest import WorkerFactory
from tests.e2e.helpers import S, T, channel, iso, read, send, start_worker
from tests.waiting import wait_until

pytestmark = pytest.mark.kafka

TMF683 = "/tmf-api/partyInteractionManagement/v5/partyInteraction"

POLICY = """
version: "test-1"
queues:
  billing:
    channel: voice
  general:
    channel: voice
  vip:
    channel: voice
  expert:
    channel: voice
  small:
    channel: voice
    maxLength: 1
    overflow: general
  chat:
    channel: chat
rules:
  - name: to-expert
    when: queue == "expert"
    target:
      queue: expert
      skills: [{skill: disputes, minProficiency: 4}]
  - name: small
    when: intent == "small"
    target:
      queue: small
      skills: [{skill: nobody}]
  - name: chat
    when: channel == "chat"
    target:
      queue: chat
  - name: gold
    when: context.tier == "gold" and intent == "roaming"
    target:
      queue: vip
      priority: 5
      skills: [{skill: vip}]
  - name: billing
    when: intent == "billing"
    target:
      queue: billing
      skills: [{skill: billing, minProficiency: 4}]
      steps:
        - {afterSeconds: 30, lowerProficiencyBy: 2}
default:
  queue: general
"""


def key(value: str) -> bytes:
    return orjson.dumps(value)


def agent(kind: str, agent_id: str, at_ms: int, **data: Any) -> Record:
    body = {"agentId": agent_id, "routingPool": "p1", **data}
    return (
        key("p1"),
        cloud_event(f"cim.agent.{kind}", body, f"a-{agent_id}-{at_ms}", iso(at_ms)),
        [],
    )


def request(command: str, interaction: str, at_ms: int, **extra: Any) -> Record:
    body = {
        "command": command,
        "interactionId": interaction,
        "routingPool": "p1",
        "time": iso(at_ms),
        "channel": "voice",
        **extra,
    }
    return key("p1"), orjson.dumps(body), []


def start(worker_factory: WorkerFactory, tmp_path: Path) -> WorkerProcess:
    return start_worker(
        worker_factory, tmp_path, {"routing": POLICY}, cim_routing_offer_timeout_seconds="10"
    )


def offers(rows: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(kind, agent, interaction) of each work assignment: the topic is keyed by agent, so
    the order across agents is not kept."""
    return {(r["kind"], r["agentId"], r.get("interactionId", "")) for r in rows}


def test_skills_time_out_requeue_step_and_abandon(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    start(worker_factory, tmp_path)
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [
            agent("logged-in", "expert", T, skills={"billing": 5}),
            agent("logged-in", "other", T + 1, skills={"billing": 4}),
            agent("logged-in", "novice", T + 2, skills={"billing": 2}),
        ],
    )
    # c1 needs billing at 4: one of the two skilled agents gets the offer, never the novice.
    send(
        kafka_bootstrap,
        topics,
        "routing-requests",
        [request("enqueue", "c1", T + S, intent="billing")],
    )
    first = read(kafka_bootstrap, topics, "work-assignments", 1)
    assert len(first) == 1 and first[0]["kind"] == "offer"
    offered_to = first[0]["agentId"]
    assert offered_to in ("expert", "other")
    assert first[0]["deadline"].startswith("2026-11-26T09:00:11")
    decisions = read(kafka_bootstrap, topics, "routing-decisions", 1)
    assert decisions[0]["queue"] == "billing" and decisions[0]["rule"] == "billing"
    assert decisions[0]["skills"] == [{"skill": "billing", "minProficiency": 4}]

    # Event time passes the deadline (an unrelated agent event moves the clock): the offer
    # times out, c1 is re-queued with its age and offered to the other skilled agent.
    send(kafka_bootstrap, topics, "agent-events", [agent("logged-in", "x", T + 12 * S)])
    rows = read(kafka_bootstrap, topics, "work-assignments", 3)
    retry = "other" if offered_to == "expert" else "expert"
    assert offers(rows) == {
        ("offer", offered_to, "c1"),
        ("timeout", offered_to, "c1"),
        ("offer", retry, "c1"),
    }
    second = next(r for r in rows if r["kind"] == "offer" and r["agentId"] == retry)
    assert second["offerId"] != first[0]["offerId"]
    # The retried agent accepts c1; the one who let it time out goes away. c2 needs billing
    # at 4: it waits; after 30 s the step lowers it to 2 and the novice gets it.
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [
            agent(
                "offer.accepted",
                second["agentId"],
                T + 13 * S,
                offerId=second["offerId"],
                interactionId="c1",
            )
        ],
    )
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [agent("presence.changed", offered_to, T + 13 * S, presence="away")],
    )
    send(
        kafka_bootstrap,
        topics,
        "routing-requests",
        [request("enqueue", "c2", T + 14 * S, intent="billing")],
    )
    rows = read(kafka_bootstrap, topics, "work-assignments", 4)
    assert ("assign", retry, "c1") in offers(rows)
    send(kafka_bootstrap, topics, "agent-events", [agent("logged-in", "y", T + 45 * S)])
    rows = read(kafka_bootstrap, topics, "work-assignments", 5)
    assert ("offer", "novice", "c2") in offers(rows)
    stepped = [
        d
        for d in read(kafka_bootstrap, topics, "routing-decisions", 3)
        if d["interactionId"] == "c2" and d["reason"] == "step"
    ]
    assert stepped and stepped[0]["skills"] == [{"skill": "billing", "minProficiency": 2}]

    # The customer abandons while offered: the offer is rescinded.
    send(
        kafka_bootstrap,
        topics,
        "routing-requests",
        [request("withdraw", "c2", T + 46 * S, reason="abandoned")],
    )
    rows = read(kafka_bootstrap, topics, "work-assignments", 6)
    assert ("rescind", "novice", "c2") in offers(rows)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))


def test_a_queued_call_is_routed_with_the_customer_context_and_rescinded_on_abandon(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    worker = start(worker_factory, tmp_path)
    profile = cloud_event(
        "cim.customer.profile.updated", {"partyId": "ada", "tier": "gold"}, "p-ada", iso(T - S)
    )
    send(kafka_bootstrap, topics, "customer-profile", [(b"ada", profile, [])])
    wait_until(lambda: worker.get("/customerContext/ada")[0] == 200)
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [
            agent("logged-in", "plain", T, skills={"billing": 5}),
            agent("logged-in", "gold-desk", T + 1, skills={"vip": 3}),
        ],
    )
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [
            channel("voice.offered", "call-1", T + S, partyId="ada", intent="roaming"),
            channel("interaction.queued", "call-1", T + 2 * S, queue="ivr-main"),
        ],
    )
    rows = read(kafka_bootstrap, topics, "work-assignments", 1)
    assert offers(rows) == {("offer", "gold-desk", "call-1")}
    queued = [
        d for d in read(kafka_bootstrap, topics, "routing-decisions", 1) if d["kind"] == "queued"
    ]
    assert [(d["queue"], d["rule"], d["priority"]) for d in queued] == [("vip", "gold", 5)]
    assert queued[0]["skills"] == [{"skill": "vip", "minProficiency": 1}]

    # The customer hangs up while the offer rings: the offer is rescinded.
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [channel("interaction.abandoned", "call-1", T + 3 * S)],
    )
    rows = read(kafka_bootstrap, topics, "work-assignments", 2)
    assert offers(rows) == {("offer", "gold-desk", "call-1"), ("rescind", "gold-desk", "call-1")}
    dequeued = [
        d for d in read(kafka_bootstrap, topics, "routing-decisions", 2) if d["kind"] == "dequeued"
    ]
    assert [d["reason"] for d in dequeued] == ["abandoned"]
    wait_until(lambda: metric(worker, 'cim_routing_abandoned_total{pool="p1",queue="vip"}') == 1)


def test_an_open_offer_survives_sigkill_and_times_out_after_restart(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    worker = start(worker_factory, tmp_path)
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [
            agent("logged-in", "a1", T, skills={"billing": 5}),
            agent("logged-in", "a2", T + 1, skills={"billing": 5}),
        ],
    )
    send(
        kafka_bootstrap,
        topics,
        "routing-requests",
        [request("enqueue", "c1", T + S, intent="billing")],
    )
    first = read(kafka_bootstrap, topics, "work-assignments", 1)
    assert [r["kind"] for r in first] == ["offer"]
    time.sleep(2)  # past a commit of the source offsets
    worker.kill()
    shutil.rmtree(worker.data_dir)  # RocksDB lost too: the rows come back from the changelog
    start(worker_factory, tmp_path)
    send(kafka_bootstrap, topics, "agent-events", [agent("logged-in", "x", T + 12 * S)])
    retry = "a2" if first[0]["agentId"] == "a1" else "a1"
    wait_until(
        lambda: (
            {("timeout", first[0]["agentId"], "c1"), ("offer", retry, "c1")}
            <= offers(read(kafka_bootstrap, topics, "work-assignments", 3))
        ),
        timeout=60,
    )


def test_transfer_to_an_expert_after_an_accepted_offer(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    worker = start(worker_factory, tmp_path)
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [
            agent("logged-in", "first", T, skills={"billing": 5}),
            agent("logged-in", "junior", T + 1, skills={"disputes": 2}),
            agent("logged-in", "senior", T + 2, skills={"disputes": 5}),
        ],
    )
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [channel("voice.offered", "call-9", T + S, partyId="bob", intent="billing")],
    )
    wait_until(lambda: worker.get(f"{TMF683}/call-9")[0] == 200)
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [channel("interaction.queued", "call-9", T + 2 * S, queue="ivr-main")],
    )
    got = read(kafka_bootstrap, topics, "work-assignments", 1)
    offer = got[0]
    assert (offer["kind"], offer["agentId"]) == ("offer", "first")
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [
            agent(
                "offer.accepted",
                "first",
                T + 3 * S,
                offerId=offer["offerId"],
                interactionId="call-9",
            )
        ],
    )
    # The agent path (ingest, routing) and the channel path (ingest, interactions, customers,
    # routing) race: wait for the assignment, or a slow agent path lets the transfer's event
    # time expire the offer first (the cause of this test's old flakiness).
    wait_until(
        lambda: (
            ("assign", "first", "call-9")
            in offers(read(kafka_bootstrap, topics, "work-assignments", 2))
        ),
        timeout=90,
    )
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [
            channel("interaction.answered", "call-9", T + 4 * S, agentId="first"),
            channel(
                "interaction.transferred",
                "call-9",
                T + 60 * S,
                mode="blind",
                fromAgentId="first",
                toQueue="expert",
            ),
        ],
    )
    rows = read(kafka_bootstrap, topics, "work-assignments", 3)
    assert offers(rows) == {
        ("offer", "first", "call-9"),
        ("assign", "first", "call-9"),
        ("offer", "senior", "call-9"),
    }
    ids = [r["offerId"] for r in rows]
    assert len(set(ids)) == 2  # the transfer's offer is a new reservation
    decided = [
        (d["queue"], d["rule"])
        for d in read(kafka_bootstrap, topics, "routing-decisions", 2)
        if d["kind"] == "queued"
    ]
    assert decided == [("billing", "billing"), ("expert", "to-expert")]


def test_overflow_and_mixed_channel_capacity(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    start(worker_factory, tmp_path)
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [agent("logged-in", "mixed", T, capacity={"voice": 1, "chat": 2})],
    )
    send(
        kafka_bootstrap,
        topics,
        "routing-requests",
        [
            # "small" holds one: the second overflows to "general"
            request("enqueue", "s1", T + S, intent="small"),
            request("enqueue", "s2", T + 2 * S, intent="small"),
            # two chats fit the agent's chat capacity; the third waits
            request("enqueue", "h1", T + 3 * S, channel="chat"),
            request("enqueue", "h2", T + 4 * S, channel="chat"),
            request("enqueue", "h3", T + 5 * S, channel="chat"),
        ],
    )
    rows = read(kafka_bootstrap, topics, "work-assignments", 2)
    assert offers(rows) == {("offer", "mixed", "h1"), ("offer", "mixed", "h2")}
    decisions = read(kafka_bootstrap, topics, "routing-decisions", 5)
    queued = {d["interactionId"]: d for d in decisions if d["kind"] == "queued"}
    assert (queued["s1"]["queue"], queued["s1"]["reason"]) == ("small", "enqueued")
    assert (queued["s2"]["queue"], queued["s2"]["reason"]) == ("general", "overflow")
    assert queued["h3"]["queue"] == "chat" and queued["h3"]["position"] == 1
    assert "estimatedWaitMs" not in queued["s1"]  # nobody has the skill: no estimate


def test_escalate_raises_a_waiting_interaction_and_keeps_its_age(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    worker = start(worker_factory, tmp_path)
    send(
        kafka_bootstrap,
        topics,
        "routing-requests",
        [
            request("enqueue", "old", T + S),
            request("enqueue", "young", T + 2 * S),
            request("escalate", "young", T + 3 * S, priorityBoost=20, escalationId="esc-1"),
            # the escalation stage re-sends after a restart: the same id changes nothing
            request("escalate", "young", T + 4 * S, priorityBoost=20, escalationId="esc-1"),
        ],
    )
    decisions = read(kafka_bootstrap, topics, "routing-decisions", 3)
    escalated = [d for d in decisions if d["reason"] == "escalated"]
    assert [(d["interactionId"], d["priority"]) for d in escalated] == [("young", 20)]
    # one agent logs in: the escalated, younger interaction goes first
    send(kafka_bootstrap, topics, "agent-events", [agent("logged-in", "a1", T + 5 * S)])
    rows = read(kafka_bootstrap, topics, "work-assignments", 1)
    assert offers(rows) == {("offer", "a1", "young")}
    assert rows[0]["priority"] == 20
    # per-queue statistics: "old" still waits; one offer made; one agent available
    wait_until(lambda: metric(worker, 'cim_routing_waiting{pool="p1",queue="general"}') == 1)
    assert metric(worker, 'cim_routing_oldest_wait_seconds{pool="p1",queue="general"}') >= 4
    assert metric(worker, 'cim_routing_offers_total{outcome="offered",pool="p1"}') == 1
    assert metric(worker, 'cim_routing_agents{pool="p1",presence="available"}') == 1
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [
            agent(
                "offer.accepted",
                "a1",
                T + 6 * S,
                offerId=rows[0]["offerId"],
                interactionId="young",
            )
        ],
    )
    # answered 4 s after queueing: within the 20 s default target
    wait_until(
        lambda: metric(worker, 'cim_routing_service_level_ratio{pool="p1",queue="general"}') == 1
    )
    assert (
        metric(worker, 'cim_routing_answered_total{pool="p1",queue="general",within_target="yes"}')
        == 1
    )


def test_voice_down_offers_callback_and_chat(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    down_rule = """rules:
  - name: voice-down
    when: channel == "voice" and channelStatus.voice == "down"
    target:
      queue: general
      alternatives: [callback, chat]
      announcement: Our phone lines are down.
"""
    policy = POLICY.replace("rules:\n", down_rule, 1)
    status = {
        "channel": "voice",
        "status": "down",
        "reason": "reported",
        "since": iso(T - 60 * S),
    }
    send(kafka_bootstrap, topics, "channel-status", [(key("voice"), orjson.dumps(status), [])])
    # the worker is ready once its replica of the channel status has loaded
    start_worker(worker_factory, tmp_path, {"routing": policy})
    send(
        kafka_bootstrap,
        topics,
        "routing-requests",
        [
            request("enqueue", "v1", T + S),
            request("enqueue", "h1", T + 2 * S, channel="chat"),
        ],
    )
    decisions = read(kafka_bootstrap, topics, "routing-decisions", 2)
    queued = {d["interactionId"]: d for d in decisions if d["kind"] == "queued"}
    assert queued["v1"]["rule"] == "voice-down"
    assert queued["v1"]["alternatives"] == ["callback", "chat"]
    assert queued["v1"]["announcement"] == "Our phone lines are down."
    assert queued["h1"]["rule"] == "chat" and not queued["h1"].get("alternatives")


def metric(worker: WorkerProcess, series: str) -> float:
    status, body = worker.get("/metrics")
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def test_a_policy_published_at_run_time_replaces_the_running_one(
    kafka_bootstrap: str,
    topics: TopicContract,
    topic_prefix: str,
    worker_factory: WorkerFactory,
    tmp_path: Path,
) -> None:
    worker = start(worker_factory, tmp_path)
    send(kafka_bootstrap, topics, "routing-requests", [request("enqueue", "before", T + S)])
    first = read(kafka_bootstrap, topics, "routing-decisions", 1)
    assert [(d["queue"], d["rule"]) for d in first] == [("general", "default")]

    # The CLI validates the file and publishes it: new decisions use it without a restart.
    newer = tmp_path / "routing-2.yaml"
    newer.write_text(
        POLICY.replace('version: "test-1"', 'version: "test-2"').replace(
            "default:\n  queue: general", "default:\n  queue: billing"
        )
    )
    env = {**os.environ, "CIM_TOPIC_PREFIX": topic_prefix}
    cli = [str(Path(sys.executable).parent / "interaction-streams"), "policy", "publish", "routing"]
    done = subprocess.run(
        [*cli, str(newer), "--bootstrap", kafka_bootstrap],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    applied = 'cim_routing_policy_updates_total{outcome="applied"}'
    wait_until(lambda: metric(worker, applied) >= 1, timeout=60)
    send(kafka_bootstrap, topics, "routing-requests", [request("enqueue", "after", T + 2 * S)])
    wait_until(
        lambda: any(
            (d["interactionId"], d["queue"]) == ("after", "billing")
            for d in read(kafka_bootstrap, topics, "routing-decisions", 2)
        ),
        timeout=60,
    )

    # A bad file: the CLI refuses it locally with the file, line and reason ...
    bad = tmp_path / "routing-bad.yaml"
    bad.write_text(POLICY.replace("default:\n  queue: general", "default:\n  queue: nowhere"))
    refused = subprocess.run(
        [*cli, str(bad), "--bootstrap", kafka_bootstrap],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2
    assert f"{bad}:" in refused.stderr and "unknown queue 'nowhere'" in refused.stderr
    # ... and written straight to the topic, the worker refuses it and keeps test-2.
    document = {
        "name": "routing",
        "version": "bad",
        "source": str(bad),
        "text": bad.read_text(),
        "publishedAt": iso(T),
    }
    send(kafka_bootstrap, topics, "routing-policy", [(key("routing"), orjson.dumps(document), [])])
    wait_until(lambda: metric(worker, 'cim_routing_policy_updates_total{outcome="refused"}') >= 1)
    assert "unknown queue 'nowhere'" in worker.tail(200)
    send(kafka_bootstrap, topics, "routing-requests", [request("enqueue", "later", T + 3 * S)])
    wait_until(
        lambda: any(
            (d["interactionId"], d["queue"]) == ("later", "billing")
            for d in read(kafka_bootstrap, topics, "routing-decisions", 3)
        ),
        timeout=60,
    )


def test_consult_an_expert_and_transfer_to_a_named_supervisor(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    worker = start(worker_factory, tmp_path)
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [
            agent("logged-in", "first", T, skills={"billing": 5}),
            agent("logged-in", "junior", T + 1, skills={"disputes": 2}),
            agent("logged-in", "senior", T + 2, skills={"disputes": 5}),
            agent("logged-in", "sup", T + 3, skills={"role:supervisor": 1}),
        ],
    )
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [channel("voice.offered", "call-7", T + S, partyId="eve", intent="billing")],
    )
    wait_until(lambda: worker.get(f"{TMF683}/call-7")[0] == 200)
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [channel("interaction.queued", "call-7", T + 2 * S, queue="ivr-main")],
    )
    offer = read(kafka_bootstrap, topics, "work-assignments", 1)[0]
    assert (offer["kind"], offer["agentId"]) == ("offer", "first")
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [
            agent(
                "offer.accepted",
                "first",
                T + 3 * S,
                offerId=offer["offerId"],
                interactionId="call-7",
            )
        ],
    )
    wait_until(
        lambda: (
            ("assign", "first", "call-7")
            in offers(read(kafka_bootstrap, topics, "work-assignments", 2))
        ),
        timeout=90,
    )
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [channel("interaction.answered", "call-7", T + 4 * S, agentId="first")],
    )
    # The agent asks to consult an expert in disputes (proficiency 4 or more): the same
    # matcher finds the senior, never the junior nor the asking agent.
    send(
        kafka_bootstrap,
        topics,
        "routing-requests",
        [
            request(
                "collaborate",
                "call-7",
                T + 10 * S,
                mode="consult",
                fromAgentId="first",
                skills=[{"skill": "disputes", "minProficiency": 4}],
            )
        ],
    )
    rows = read(kafka_bootstrap, topics, "work-assignments", 3)
    consult = next(r for r in rows if r["interactionId"] == "call-7~consult")
    assert (consult["kind"], consult["agentId"]) == ("offer", "senior")
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [
            agent(
                "offer.accepted",
                "senior",
                T + 11 * S,
                offerId=consult["offerId"],
                interactionId="call-7~consult",
            )
        ],
    )
    # The platform connects the consult; then the agent transfers to the named supervisor.
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [
            channel(
                "interaction.transferred",
                "call-7",
                T + 12 * S,
                mode="consult",
                fromAgentId="first",
                toAgentId="senior",
            )
        ],
    )
    send(
        kafka_bootstrap,
        topics,
        "routing-requests",
        [
            request(
                "collaborate",
                "call-7",
                T + 20 * S,
                mode="transfer",
                fromAgentId="first",
                toAgentId="sup",
            )
        ],
    )
    wait_until(
        lambda: (
            ("offer", "sup", "call-7")
            in offers(read(kafka_bootstrap, topics, "work-assignments", 5))
        )
    )
    rows = read(kafka_bootstrap, topics, "work-assignments", 5)
    transfer = next(r for r in rows if r["kind"] == "offer" and r["agentId"] == "sup")
    assert ("assign", "senior", "call-7~consult") in offers(rows)
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [
            agent(
                "offer.accepted",
                "sup",
                T + 21 * S,
                offerId=transfer["offerId"],
                interactionId="call-7",
            )
        ],
    )
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [
            channel(
                "interaction.transferred",
                "call-7",
                T + 22 * S,
                mode="blind",
                fromAgentId="first",
                toAgentId="sup",
            ),
            channel("interaction.answered", "call-7", T + 23 * S, agentId="sup"),
        ],
    )
    collaboration = [
        (d["rule"], d["reason"], d.get("agentId"))
        for d in read(kafka_bootstrap, topics, "routing-decisions", 3)
        if d["kind"] == "collaboration"
    ]
    assert collaboration == [("consult", "offered", "senior"), ("transfer", "offered", "sup")]

    # Every participant is logged on the interaction (relatedParty).
    def parties() -> set[tuple[str, str]]:
        status, body = worker.get(f"{TMF683}/call-7")
        if status != 200:
            return set()
        resource = orjson.loads(body)
        return {(p["partyOrPartyRole"]["id"], p["role"]) for p in resource.get("relatedParty", [])}

    wait_until(lambda: {("first", "agent"), ("senior", "agent"), ("sup", "agent")} <= parties())


def test_the_consult_leg_of_a_call_that_ended_is_withdrawn(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    start(worker_factory, tmp_path)
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [
            channel("voice.offered", "call-8", T + S, partyId="eve", intent="billing"),
            channel("interaction.answered", "call-8", T + 2 * S, agentId="first"),
        ],
    )

    def consult(call: str, at_ms: int) -> Record:
        skills = [{"skill": "disputes", "minProficiency": 4}]
        return request(
            "collaborate", call, at_ms, mode="consult", fromAgentId="first", skills=skills
        )

    def decided(kind: str, iid: str, reason: str) -> bool:
        rows = read(kafka_bootstrap, topics, "routing-decisions", 1)
        return any(
            (d["kind"], d["interactionId"], d["reason"]) == (kind, iid, reason) for d in rows
        )

    # No expert in disputes is logged in: the consult leg waits; then the call ends.
    send(kafka_bootstrap, topics, "routing-requests", [consult("call-8", T + 10 * S)])
    wait_until(lambda: decided("collaboration", "call-8", "waiting"))
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [channel("interaction.ended", "call-8", T + 20 * S)],
    )
    wait_until(lambda: decided("dequeued", "call-8~consult", "call-ended"))
    # An expert logs in: offered the leg of a call that goes on, never the withdrawn one
    # (waiting since earlier at the same top priority, it would have come first).
    send(kafka_bootstrap, topics, "routing-requests", [consult("call-9", T + 21 * S)])
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [agent("logged-in", "senior", T + 22 * S, skills={"disputes": 5})],
    )
    wait_until(
        lambda: (
            ("offer", "senior", "call-9~consult")
            in offers(read(kafka_bootstrap, topics, "work-assignments", 1))
        )
    )
    rows = read(kafka_bootstrap, topics, "work-assignments", 1)
    assert not [r for r in rows if r.get("interactionId") == "call-8~consult"]


def test_a_repeat_contact_goes_to_the_last_agent(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    worker = start_worker(
        worker_factory, tmp_path, {"routing": POLICY + "lastAgentWaitSeconds: 30\n"}
    )
    profile = cloud_event("cim.customer.profile.updated", {"partyId": "zoe"}, "p-zoe", iso(T - S))
    send(kafka_bootstrap, topics, "customer-profile", [(b"zoe", profile, [])])
    wait_until(lambda: worker.get("/customerContext/zoe")[0] == 200)
    send(kafka_bootstrap, topics, "agent-events", [agent("logged-in", "alice", T, wrapUpSeconds=0)])
    # The first call goes to alice, the only agent; she answers and completes it.
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [
            channel("voice.offered", "call-1", T + S, partyId="zoe", intent="roaming"),
            channel("interaction.queued", "call-1", T + 2 * S, queue="ivr-main"),
        ],
    )
    first = read(kafka_bootstrap, topics, "work-assignments", 1)[0]
    assert (first["kind"], first["agentId"]) == ("offer", "alice")
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [
            agent(
                "offer.accepted",
                "alice",
                T + 3 * S,
                offerId=first["offerId"],
                interactionId="call-1",
            ),
            # bob logs in while alice works: from now on he is the longest idle
            agent("logged-in", "bob", T + 4 * S, wrapUpSeconds=0),
        ],
    )
    wait_until(
        lambda: (
            ("assign", "alice", "call-1")
            in offers(read(kafka_bootstrap, topics, "work-assignments", 2))
        ),
        timeout=90,
    )
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [
            channel("interaction.answered", "call-1", T + 5 * S, agentId="alice"),
            channel("interaction.ended", "call-1", T + 60 * S),
        ],
    )
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [agent("work.completed", "alice", T + 61 * S, interactionId="call-1")],
    )
    wait_until(
        lambda: (
            orjson.loads(worker.get("/customerContext/zoe")[1]).get("lastAgent", {}).get("agentId")
            == "alice"
        )
    )
    # The customer calls again for the same reason (a repeat contact): alice, not bob (the
    # longest idle), gets the offer.
    send(
        kafka_bootstrap,
        topics,
        "channel-events",
        [
            channel("voice.offered", "call-2", T + 120 * S, partyId="zoe", intent="roaming"),
            channel("interaction.queued", "call-2", T + 121 * S, queue="ivr-main"),
        ],
    )
    wait_until(
        lambda: any(
            r["kind"] == "offer" and r.get("interactionId") == "call-2"
            for r in read(kafka_bootstrap, topics, "work-assignments", 3)
        )
    )
    rows = read(kafka_bootstrap, topics, "work-assignments", 3)
    assert ("offer", "alice", "call-2") in offers(rows)
    assert ("offer", "bob", "call-2") not in offers(rows)


def test_position_updates_are_rate_limited_per_interaction(
    kafka_bootstrap: str, topics: TopicContract, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    start_worker(
        worker_factory, tmp_path, {"routing": POLICY}, cim_routing_position_interval_seconds="10"
    )
    send(
        kafka_bootstrap,
        topics,
        "routing-requests",
        [request("enqueue", f"w{n}", T + n * S) for n in (1, 2, 3)],
    )
    queued = read(kafka_bootstrap, topics, "routing-decisions", 3)
    assert sorted((d["interactionId"], d["position"]) for d in queued) == [
        ("w1", 1),
        ("w2", 2),
        ("w3", 3),
    ]
    # w1 is offered at 09:00:04: w2 and w3 move up, but their last update is too recent
    send(kafka_bootstrap, topics, "agent-events", [agent("logged-in", "a1", T + 4 * S)])
    assert offers(read(kafka_bootstrap, topics, "work-assignments", 1)) == {("offer", "a1", "w1")}
    # event time passes the interval (a chat-only agent changes nothing for voice): the held
    # back positions go out now, once each
    send(
        kafka_bootstrap,
        topics,
        "agent-events",
        [agent("logged-in", "chatter", T + 15 * S, capacity={"chat": 1})],
    )
    wait_until(
        lambda: (
            len(
                [
                    d
                    for d in read(kafka_bootstrap, topics, "routing-positions", 2)
                    if d["kind"] == "position"
                ]
            )
            >= 2
        )
    )
    positions = [
        (d["interactionId"], d["position"], d["at"])
        for d in read(kafka_bootstrap, topics, "routing-positions", 2)
        if d["kind"] == "position"
    ]
    # position updates stay off the decisions topic
    decisions = read(kafka_bootstrap, topics, "routing-decisions", 3)
    assert not [d for d in decisions if d["kind"] == "position"]
    at = "2026-11-26T09:00:15Z"
    assert sorted(positions) == [("w2", 1, at), ("w3", 2, at)]
